//! The bench binary end to end at toy sizes: every figure is measured and
//! written as JSON with its lines. Only that it runs is checked here; the
//! figures themselves come from `cargo run --release -p e2e --bin bench`.

use std::path::Path;
use std::process::Command;

const FIGURES: [&str; 6] = [
    "restage_makespan",
    "cf_requests_per_restage",
    "discovery_requests",
    "webhook_verify",
    "webhook_fanout",
    "lambda_footprint",
];

#[test]
fn every_figure_is_measured_and_written_at_toy_sizes() {
    let bench = Path::new(env!("CARGO_BIN_EXE_bench"));
    // The workspace build puts the webhook and worker binaries beside it.
    let bin_dir = bench.parent().expect("the bench binary has a directory");
    let out = tempfile::tempdir().expect("temporary directory");
    let run = Command::new(bench)
        .args(["--apps", "12", "--concurrency", "4", "--spaces", "6"])
        .args(["--ms-per-second", "2", "--discovery-apps", "300"])
        .args(["--discovery-large-apps", "600"])
        .args(["--verify-iterations", "200"])
        .args(["--fanout-apps", "40", "--fanout-rounds", "1"])
        .args(["--cold-start-runs", "2", "--restages", "3"])
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("the bench runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "bench failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    for name in FIGURES {
        let path = out.path().join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} missing: {e}\n{stdout}\n{stderr}", path.display()));
        let figure: serde_json::Value = serde_json::from_str(&text).expect("the figure is JSON");
        let lines = figure["lines"].as_array().expect("the figure has lines");
        assert!(!lines.is_empty(), "{name} has no lines");
        for line in lines {
            let value = line["value"].as_f64().expect("every line has a number");
            assert!(value.is_finite() && value >= 0.0, "{name}: {line}");
        }
        assert!(
            stdout.contains(&format!("{name}.json")),
            "{name} not printed"
        );
    }
}
