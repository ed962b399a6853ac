//! The real binary's answers to bad command lines and bad settings: exit code
//! 2 and a message naming the setting and the fix, before anything connects.

use crate::support::{Finished, restager};

const CF: [(&str, &str); 3] = [
    // Nothing listens here: a command that got past its settings would fail
    // with exit code 1, not 2.
    ("CF_API_URL", "http://127.0.0.1:9"),
    ("CF_CLIENT_ID", "restager"),
    ("CF_CLIENT_SECRET", "restager-secret"),
];

/// `restager ARGS` with the CF settings above and `env` over them.
async fn with_cf(env: &[(&str, &str)], args: &[&str]) -> Finished {
    restager()
        .envs(CF)
        .envs(env.iter().copied())
        .args(args.iter().copied())
        .run()
        .await
}

#[tokio::test]
async fn missing_cf_api_url_names_the_variable_and_the_fix() {
    for args in [
        vec![
            "plan",
            "--buildpack",
            "ruby_buildpack",
            "--version",
            "1.10.29",
        ],
        vec!["outdated"],
        vec!["sweep"],
        vec!["serve"],
    ] {
        let run = restager().args(args.clone()).run().await;
        run.fails(2, &["CF_API_URL is not set", "https://api.sys.example.com"]);
    }
}

#[tokio::test]
async fn a_bad_cf_api_url_is_refused() {
    let run = with_cf(&[("CF_API_URL", "api.example.com")], &["outdated"]).await;
    run.fails(
        2,
        &["CF_API_URL=`api.example.com` is not valid", "http(s) URL"],
    );
}

#[tokio::test]
async fn bad_worker_settings_name_the_variable() {
    let cases = [
        (
            "RESTAGER_MAX_IN_FLIGHT",
            "0",
            "a whole number of at least 1",
        ),
        ("RESTAGER_MAX_IN_FLIGHT", "many", "a whole number"),
        ("RESTAGER_MAX_CONCURRENT_RESTAGES", "-3", "a whole number"),
        (
            "RESTAGER_POLL_INTERVAL",
            "soon",
            "a positive duration such as 500ms",
        ),
        ("RESTAGER_STAGING_TIMEOUT", "0s", "a positive duration"),
        (
            "RESTAGER_DEPLOY_TIMEOUT",
            "10 parsecs",
            "a positive duration",
        ),
        (
            "RESTAGER_LISTEN",
            "localhost",
            "host:port, such as 127.0.0.1:8080",
        ),
        ("CF_SKIP_SSL_VALIDATION", "perhaps", "true or false"),
    ];
    for (name, value, expected) in cases {
        let run = with_cf(&[(name, value)], &["serve"]).await;
        run.fails(2, &[name, expected]);
    }
}

#[tokio::test]
async fn flags_override_the_environment_and_are_checked_the_same_way() {
    let run = with_cf(
        &[("RESTAGER_MAX_IN_FLIGHT", "2")],
        &["serve", "--max-in-flight", "zero"],
    )
    .await;
    // The error names the flag that was used, and its variable.
    run.fails(2, &["--max-in-flight=`zero`", "RESTAGER_MAX_IN_FLIGHT"]);
    // A flag before the subcommand works as well.
    let run = with_cf(&[], &["--poll-interval", "never", "serve"]).await;
    run.fails(2, &["--poll-interval=`never`", "RESTAGER_POLL_INTERVAL"]);
    // From the environment, the variable alone.
    let run = with_cf(&[("RESTAGER_POLL_INTERVAL", "never")], &["serve"]).await;
    run.fails(2, &["RESTAGER_POLL_INTERVAL=`never`"]);
    assert!(!run.stderr.contains("--poll-interval"), "{}", run.stderr);
}

#[tokio::test]
async fn notice_secrets_must_be_standard_webhooks_secrets_and_are_never_echoed() {
    let run = with_cf(&[("RESTAGER_NOTICE_SECRETS", "hunter2")], &["serve"]).await;
    run.fails(2, &["RESTAGER_NOTICE_SECRETS", "whsec_"]);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
}

#[tokio::test]
async fn slack_token_without_channel_is_a_config_error() {
    let run = with_cf(&[("SLACK_BOT_TOKEN", "xoxb-secret-token")], &["serve"]).await;
    run.fails(2, &["SLACK_CHANNEL is not set"]);
    assert!(!run.stderr.contains("xoxb-secret-token"), "{}", run.stderr);
}

#[tokio::test]
async fn usage_errors_exit_with_2() {
    for args in [
        vec!["no-such-command"],
        vec!["plan"],
        vec!["plan", "--version", "1.2.3"],
        vec!["plan", "--buildpack", "ruby_buildpack"],
        vec!["plan", "--buildpack", "ruby_buildpack", "--version", "one"],
        vec!["demo", "--apps", "0"],
        vec!["status", "not-a-run-id"],
    ] {
        let run = with_cf(&[], &args).await;
        assert_eq!(
            run.code,
            Some(2),
            "{args:?}\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
        assert!(!run.stderr.trim().is_empty(), "{args:?} printed no reason");
    }
}

#[tokio::test]
async fn a_notice_file_that_is_missing_or_invalid_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope.json");
    let run = with_cf(&[], &["plan", "--notice", &missing.display().to_string()]).await;
    run.fails(2, &["nope.json"]);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, br#"{"type":"buildpack.released","version":"1.2.3"}"#).expect("write");
    let run = with_cf(&[], &["plan", "--notice", &bad.display().to_string()]).await;
    run.fails(2, &["buildpack"]);
}

#[tokio::test]
async fn help_is_available_everywhere() {
    for args in [
        vec!["--help"],
        vec!["demo", "--help"],
        vec!["serve", "--help"],
        vec!["plan", "--help"],
        vec!["outdated", "--help"],
        vec!["sweep", "--help"],
        vec!["status", "--help"],
        vec!["help", "plan"],
    ] {
        let run = restager().args(args.clone()).run().await.ok();
        assert!(
            run.stdout.contains("Usage: restager"),
            "{args:?}:\n{}",
            run.stdout
        );
    }
    let run = restager().arg("--help").run().await.ok();
    for name in [
        "demo",
        "serve",
        "plan",
        "outdated",
        "sweep",
        "status",
        "Exit codes",
    ] {
        assert!(
            run.stdout.contains(name),
            "--help lacks {name}:\n{}",
            run.stdout
        );
    }
    let run = restager().args(["serve", "--help"]).run().await.ok();
    for flag in [
        "--cf-api-url",
        "--max-in-flight",
        "--listen",
        "RESTAGER_LISTEN",
        "--queue-url",
    ] {
        assert!(
            run.stdout.contains(flag),
            "serve --help lacks {flag}:\n{}",
            run.stdout
        );
    }
}
