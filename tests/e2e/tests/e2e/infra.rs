//! The SAM template's offline checks (`infra/check_template.py`): cfn-lint on
//! the template and on its SAM transform, plus the invariants no linter knows
//! (queue visibility vs. worker timeout, DLQ wiring, partial batch responses,
//! concurrency bounds, env vars the code reads, secrets only from Secrets
//! Manager, alarms and dashboard widgets only on metrics the Lambda functions
//! emit, with their dimensions). The script is Python because cfn-lint and aws-sam-translator are.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// The venv's Python. The installer always runs: it is quick when the tools
/// are there, and its lock makes this test wait while another test process
/// is still installing them (python exists long before cfn-lint does).
fn venv_python(root: &Path) -> PathBuf {
    let installer = root.join(".ci/install-python-tools");
    let status = Command::new(&installer)
        .current_dir(root)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", installer.display()));
    assert!(status.success(), "{} failed: {status}", installer.display());
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing after .ci/install-python-tools",
        python.display()
    );
    python
}

fn run_check(args: &[&str]) -> (Output, String) {
    let root = repo_root();
    let output = Command::new(venv_python(&root))
        .arg("infra/check_template.py")
        .args(args)
        .current_dir(&root)
        .output()
        .expect("run infra/check_template.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

#[test]
fn template_passes_lint_transform_and_every_invariant() {
    let (output, text) = run_check(&[]);
    assert!(
        output.status.success(),
        "infra/check_template.py failed:\n{text}"
    );
    // Each named check must have run: a check that silently disappears is a failure too.
    for check in [
        "cfn-lint (SAM template)",
        "sam-transform",
        "cfn-lint (transformed CloudFormation)",
        "lambda-build",
        "visibility-timeout",
        "dead-letter-queue",
        "partial-batch-responses",
        "worker-concurrency",
        "env-vars",
        "secrets",
        "fifo",
        "function-url-auth",
        "schedules",
        "least-privilege",
        "samconfig",
        "metrics",
    ] {
        assert!(
            text.lines().any(|l| l == format!("PASS  {check}")),
            "check `{check}` did not pass or did not run:\n{text}"
        );
    }
    assert!(!text.contains("FAIL"), "{text}");
}

#[test]
fn every_deliberately_broken_template_is_caught_by_its_check() {
    let (output, text) = run_check(&["--self-test"]);
    assert!(
        output.status.success(),
        "a broken template variant was not caught:\n{text}"
    );
    for (variant, check) in [
        ("short-visibility-timeout", "visibility-timeout"),
        (
            "missing-report-batch-item-failures",
            "partial-batch-responses",
        ),
        ("plain-text-secret-parameter", "secrets"),
        ("literal-secret", "secrets"),
        ("max-concurrency-over-reserved", "worker-concurrency"),
        ("no-dead-letter-queue", "dead-letter-queue"),
        ("standard-dlq-for-fifo-queue", "fifo"),
        ("public-worker-url", "function-url-auth"),
        ("wildcard-iam-policy", "least-privilege"),
        ("missing-env-var", "env-vars"),
        ("schedule-on-webhook", "schedules"),
        ("tick-without-schedule", "schedules"),
        ("misspelled-sqs-event-property", "sam-transform"),
        ("alarm-on-unknown-metric", "metrics"),
        ("alarm-without-its-dimension", "metrics"),
        ("dashboard-on-serve-only-metric", "metrics"),
    ] {
        let caught = format!("CAUGHT  {variant} by {check}:");
        assert!(
            text.lines().any(|l| l.starts_with(&caught)),
            "variant `{variant}` was not caught by `{check}`:\n{text}"
        );
    }
    assert!(!text.contains("MISSED"), "{text}");
}
