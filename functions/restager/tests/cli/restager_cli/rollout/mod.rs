//! Issue #13's run controls from the command line and `serve`'s admin
//! routes, against the real
//! binaries: a run that spends its error budget halts inside `serve`;
//! `restager status` says so; `restager resume` re-queues what it held
//! (recorded as who typed it), and the next `serve` finishes the run; a
//! control on a finished run is refused with exit 2. Every wait is on a
//! condition (a log line, the simulator's state) with a generous deadline.

use std::time::Duration;

use cf_sim::{Fault, FaultRule, StagingFailure};

use super::{foundation, notice_body, send_notice};
use crate::support::eventually;

/// Waits until `serve`'s log shows `needle`.
async fn logged(serving: &crate::support::Serving, needle: &str) {
    eventually(
        Duration::from_secs(120),
        || serving.stderr().contains(needle),
        || format!("serve never logged {needle:?}:\n{}", serving.stderr()),
    )
    .await;
}

#[tokio::test]
async fn a_halted_run_is_resumed_from_the_command_line_and_finishes_under_the_next_serve() {
    let mut f = foundation(3).await;
    f.settings.extend([
        ("RESTAGER_MAX_FAILURES", "0".to_string()),
        ("RESTAGER_MAX_CONCURRENT_RESTAGES", "1".to_string()),
    ]);
    let broken = f.outdated.iter().next().expect("an app").clone();
    f.sim.set_fault(FaultRule::app(
        &broken,
        Fault::StagingFails(StagingFailure::NoAppDetected),
    ));
    let serving = f.serve().await;
    let (status, answer) = send_notice(&serving.url, &notice_body(), "msg_rollout_1").await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["max_failures"], 0, "{answer}");
    let run_id = answer["run_id"].as_str().expect("a run id").to_string();
    logged(&serving, "run halted after 1 failure (budget 0)").await;
    // Let the jobs still on the queue be delivered and held.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while serving.stderr().matches("job held").count() < 2 {
        let builds: usize = f.outdated.iter().map(|g| f.restages_of(g).0).sum();
        assert!(
            builds <= 1 && tokio::time::Instant::now() < deadline,
            "only the failing app may build ({builds} builds):\n{}",
            serving.stderr()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    serving.stop().await;

    let halted = f.json(&["status", &run_id, "--json"]).await;
    assert_eq!(halted["state"], "halted", "{halted}");
    assert_eq!(halted["held"], 2, "{halted}");
    assert_eq!(
        halted["state_reason"],
        "run halted after 1 failure (budget 0)"
    );
    let table = f.ok(&["status", &run_id]).await;
    assert!(table.stdout.contains("HALTED"), "{}", table.stdout);
    assert!(table.stdout.contains("restager resume"), "{}", table.stdout);

    let resumed = f
        .restager()
        .args(["resume", &run_id[..8], "--as", "ops-alice"])
        .run()
        .await
        .ok();
    assert!(
        resumed
            .stdout
            .contains("resumed by ops-alice: 2 held jobs queued again"),
        "{}",
        resumed.stdout
    );

    let serving = f.serve().await;
    eventually(
        Duration::from_secs(120),
        || f.all_patched_but(&broken),
        || format!("the resumed run did not finish:\n{}", serving.stderr()),
    )
    .await;
    // The outcomes are recorded once the restages log their end.
    eventually(
        Duration::from_secs(120),
        || serving.stderr().matches("outcome=restaged").count() >= 2,
        || serving.stderr(),
    )
    .await;
    serving.stop().await;

    let done = f.json(&["status", &run_id, "--json"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["restaged"], 2, "{done}");
    assert_eq!(done["failed"], 1, "{done}");
    for guid in f.outdated.iter().filter(|g| **g != broken) {
        assert_eq!(
            f.restages_of(guid),
            (1, 1),
            "one build and deployment after the resume"
        );
    }

    let refused = f.restager().args(["abort", &run_id]).run().await;
    refused.fails(2, &["has finished"]);
}

const TOKEN: &str = "an-admin-token-for-the-controls";

/// `POST /runs/{id}/{action}` on serve's admin API.
async fn post_control(
    base: &str,
    run: &str,
    action: &str,
    token: &str,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/runs/{run}/{action}"))
        .bearer_auth(token)
        .header("x-restager-actor", "pat")
        .send()
        .await
        .expect("POST the control");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

#[tokio::test]
async fn serve_pauses_and_resumes_a_live_run_through_its_admin_routes_and_the_cli_with_server() {
    let mut f = foundation(3).await;
    f.settings.extend([
        ("RESTAGER_MAX_CONCURRENT_RESTAGES", "1".to_string()),
        ("RESTAGER_ADMIN_TOKEN", TOKEN.to_string()),
    ]);
    let broken = f.outdated.iter().next().expect("an app").clone();
    f.sim.set_fault(FaultRule::app(
        &broken,
        Fault::StagingFails(StagingFailure::NoAppDetected),
    ));
    f.settings.push(("RESTAGER_MAX_FAILURES", "0".to_string()));
    let serving = f.serve().await;
    let (status, answer) = send_notice(&serving.url, &notice_body(), "msg_rollout_2").await;
    assert_eq!(status, 202, "{answer}");
    let run_id = answer["run_id"].as_str().expect("a run id").to_string();
    logged(&serving, "run halted after 1 failure (budget 0)").await;

    // A wrong token is refused; pausing a halted run is a conflict.
    let (status, _) = post_control(&serving.url, &run_id, "resume", "not-the-token-at-all").await;
    assert_eq!(status, 401);
    let (status, body) = post_control(&serving.url, &run_id, "pause", TOKEN).await;
    assert_eq!(status, 409, "{body}");

    // The CLI through serve: status, then resume, recorded as who typed it.
    let cli = |args: &[&str]| {
        f.restager()
            .args(args.iter().map(|a| a.to_string()))
            .args(["--server".to_string(), serving.url.clone()])
    };
    let halted = cli(&["status", &run_id, "--json"]).run().await.ok().json();
    assert_eq!(halted["state"], "halted", "{halted}");
    let resumed = cli(&["resume", &run_id[..8], "--as", "ops-bob", "--json"])
        .run()
        .await
        .ok()
        .json();
    assert_eq!(resumed["state"], "running", "{resumed}");
    eventually(
        Duration::from_secs(120),
        || f.all_patched_but(&broken),
        || serving.stderr(),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let done = cli(&["status", &run_id, "--json"]).run().await.ok().json();
        if done["state"] == "completed" {
            assert_eq!(done["restaged"], 2, "{done}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{done}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Through the admin route, a control on the finished run is refused.
    let (status, body) = post_control(&serving.url, &run_id, "abort", TOKEN).await;
    assert_eq!(status, 409, "{body}");
    let refused = cli(&["pause", &run_id]).run().await;
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    let stopped = serving.stop().await;
    assert!(
        !stopped.stderr.contains(TOKEN),
        "the admin token is never logged"
    );
}
