//! Issue #15, the operator's view while a run is going, against a real
//! `restager serve` over real HTTP: the admin API (`/runs`), `restager
//! status --server`, `/metrics` read with Python's `prometheus_client`, and
//! the run page in a real headless chromium. Deployments move only when the
//! test ticks the simulator, so "while the run is live" is a state the test
//! holds, not a moment it hopes to catch.

use std::collections::BTreeSet;
use std::time::Duration;

use cf_sim::{AppSpec, Fault, FaultRule, SimConfig, StagingFailure};
use serde_json::Value;
use test_support::browser::{Chromium, output_path};
use test_support::prometheus;

use super::{OLD, foundation, foundation_with, notice_body, restager, send_notice};

const TOKEN: &str = "admin-token-for-tests-0123456789";
/// A space name that is also markup.
const EVIL: &str = "<script>alert(1)</script>";
/// Apps in the demo (`restager demo` restages 40 by default).
const DEMO_APPS: usize = 40;
/// How long any condition may take to become true on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(90);

/// GET `path` with an optional bearer token and `Accept`; status, headers, body.
async fn admin_get(
    base: &str,
    path: &str,
    token: Option<&str>,
    accept: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("accept", accept);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("GET the admin route");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap_or_default())
}

async fn run_json(base: &str, run_id: &str) -> Value {
    let (status, _, body) = admin_get(
        base,
        &format!("/runs/{run_id}"),
        Some(TOKEN),
        "application/json",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Polls the run until `done` holds, or fails after [`DEADLINE`].
async fn run_until(base: &str, run_id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let run = run_json(base, run_id).await;
        if done(&run) {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {what}: {run}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn scrape(base: &str) -> Vec<prometheus::Sample> {
    let (status, headers, body) = admin_get(base, "/metrics", None, "text/plain").await;
    assert_eq!(status, 200, "{body}");
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    prometheus::parse(&body)
}

fn count(run: &Value, key: &str) -> u64 {
    run[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {run}"))
}

#[tokio::test]
async fn a_live_run_through_the_admin_api_status_server_and_metrics() {
    // The deployment updater moves only when the test ticks it.
    let f = foundation_with(
        DEMO_APPS,
        SimConfig {
            tick: Duration::ZERO,
            ..SimConfig::default()
        },
    )
    .await;
    let serving = f.serve_with(&[("RESTAGER_ADMIN_TOKEN", TOKEN)]).await;
    let base = serving.url.clone();
    let (status, answer) = send_notice(&base, &notice_body(), "msg_admin_live").await;
    assert_eq!(status, 202, "{answer}");
    let run_id = answer["run_id"].as_str().expect("a run id").to_string();

    // Newest first, with its state and counts.
    let (status, _, body) = admin_get(&base, "/runs", Some(TOKEN), "application/json").await;
    assert_eq!(status, 200, "{body}");
    let runs: Value = serde_json::from_str(&body).expect("JSON");
    let listed = &runs[0];
    assert_eq!(listed["run_id"], run_id.as_str(), "{runs}");
    assert_eq!(listed["state"], "running", "{listed}");
    assert_eq!(count(listed, "in_progress"), DEMO_APPS as u64, "{listed}");

    // Nothing can finish before the simulator ticks.
    let held = run_json(&base, &run_id).await;
    assert_eq!(count(&held, "restaged"), 0, "{held}");
    assert_eq!(count(&held, "in_progress"), DEMO_APPS as u64, "{held}");
    let apps: Vec<&Value> = held["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .filter(|a| a["phase"] != "skipped")
        .collect();
    assert_eq!(apps.len(), DEMO_APPS, "{held}");
    for app in apps {
        // Queued, or where the worker has got to: a build started (its
        // guid and start shown), a deployment waiting for the ticks.
        let phase = app["phase"].as_str().unwrap_or_default();
        assert!(
            ["queued", "staging", "deploying", "verifying"].contains(&phase),
            "{app}"
        );
        if phase != "queued" {
            assert!(app["started_at"].is_string(), "{app}");
        }
        if phase == "staging" {
            assert!(app["build_guid"].is_string(), "{app}");
        }
        if phase == "deploying" {
            assert!(app["deployment_guid"].is_string(), "{app}");
        }
        assert!(app["org"].is_string() && app["space"].is_string(), "{app}");
    }

    // `status --server` reads the live run from serve...
    let live = f
        .restager()
        .envs([
            ("RESTAGER_ADMIN_TOKEN", TOKEN),
            ("RESTAGER_SERVER_URL", base.as_str()),
        ])
        .args(["status", &run_id])
        .run()
        .await
        .ok();
    assert!(live.stdout.contains("0 restaged"), "{}", live.stdout);
    assert!(live.stdout.contains("40 pending"), "{}", live.stdout);
    assert!(live.stdout.contains("shop-0"), "{}", live.stdout);
    // ...and, without it, says what to do instead of a lock error.
    let direct = f.restager().args(["status", &run_id]).run().await;
    assert_eq!(direct.code, Some(1), "{direct:?}");
    assert!(
        direct
            .stderr
            .contains("restager serve holds the ledger file")
            && direct
                .stderr
                .contains(&format!("restager status --server {base}"))
            && direct.stderr.contains("RESTAGER_SERVER_URL"),
        "{}",
        direct.stderr
    );

    // During the run: the notice counted, the jobs queued, from the ledger.
    let during = scrape(&base).await;
    assert_eq!(
        prometheus::value(
            &during,
            "restager_notices_total",
            &[("route", "notice"), ("result", "accepted")]
        ),
        1.0
    );
    let not_done: f64 = ["queued", "staging", "deploying", "verifying"]
        .iter()
        .map(|phase| prometheus::value(&during, "restager_jobs", &[("phase", phase)]))
        .sum();
    assert_eq!(not_done, DEMO_APPS as f64);
    assert_eq!(
        prometheus::value(&during, "restager_runs", &[("state", "running")]),
        1.0
    );
    assert!(
        prometheus::value(
            &during,
            "restager_cc_requests_total",
            &[("endpoint", "apps")]
        ) > 0.0
    );
    assert!(prometheus::value(&during, "restager_cc_request_duration_seconds_count", &[]) > 0.0);

    // Tick until some apps are done; then the run holds still again (the
    // next apps' deployments need ticks too).
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let partial = loop {
        f.sim.tick();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let run = run_json(&base, &run_id).await;
        if count(&run, "restaged") > 0 {
            break run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no app finished: {run}"
        );
    };
    let done_so_far = count(&partial, "restaged");
    assert!(done_so_far < DEMO_APPS as u64, "{partial}");
    let finished: Vec<&Value> = partial["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .filter(|a| a["phase"] == "done")
        .collect();
    assert_eq!(finished.len() as u64, done_so_far, "{partial}");
    for app in finished {
        assert_eq!(app["outcome"], "restaged", "{app}");
        assert!(
            app["deployment_guid"].is_string() && app["finished_at"].is_string(),
            "{app}"
        );
    }
    let live = f
        .restager()
        .envs([("RESTAGER_ADMIN_TOKEN", TOKEN)])
        .args(["status", &run_id, "--server", &base, "--json"])
        .run()
        .await
        .ok()
        .json();
    // Read a moment later: as many or more done (the run moves on).
    let live_done = live["restaged"].as_u64().unwrap_or_default();
    assert!(
        (done_so_far..=DEMO_APPS as u64).contains(&live_done),
        "{live}"
    );
    assert_eq!(live["state"], "running", "{live}");

    // Let it run to the end.
    f.sim.set_tick(Duration::from_millis(5));
    let end = run_until(&base, &run_id, "completed", |r| r["state"] == "completed").await;
    assert_eq!(count(&end, "restaged"), DEMO_APPS as u64, "{end}");
    let (_, _, body) = admin_get(&base, "/runs", Some(TOKEN), "application/json").await;
    let runs: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(runs[0]["state"], "completed", "{runs}");

    // At the end the counters match the ledger's outcomes.
    let after = scrape(&base).await;
    for outcome in [
        "restaged",
        "already_current",
        "failed",
        "rolled_back",
        "skipped",
    ] {
        let ledger = end["apps"]
            .as_array()
            .expect("apps")
            .iter()
            .filter(|a| a["phase"] == "done" && a["outcome"] == outcome)
            .count();
        assert_eq!(
            prometheus::value(&after, "restager_restages_total", &[("outcome", outcome)]),
            ledger as f64,
            "restager_restages_total{{outcome={outcome}}}"
        );
    }
    assert_eq!(
        prometheus::value(&after, "restager_runs", &[("state", "completed")]),
        1.0
    );
    assert_eq!(
        prometheus::value(&after, "restager_runs", &[("state", "running")]),
        0.0
    );
    assert_eq!(
        prometheus::value(&after, "restager_jobs", &[("phase", "queued")]),
        0.0
    );
    // No app name is a label value anywhere.
    let names: BTreeSet<String> = end["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| a["app"].as_str().expect("a name").to_string())
        .collect();
    for sample in &after {
        assert!(
            sample.labels.values().all(|v| !names.contains(v)),
            "an app name is a label: {sample:?}"
        );
    }
    let stopped = serving.stop().await;
    assert!(!stopped.stderr.contains(TOKEN), "the token was logged");
}

#[tokio::test]
async fn the_admin_routes_refuse_without_the_token_and_the_run_page_escapes_names() {
    let f = foundation(2).await;
    let mut evil = AppSpec::new("evil-space-app");
    evil.space = EVIL.into();
    evil.buildpack_version = Some(OLD.into());
    f.sim.add_app(evil);
    let mut broken = AppSpec::new("broken-shop");
    broken.space = "space-0".into();
    broken.buildpack_version = Some(OLD.into());
    let broken = f.sim.add_app(broken);
    f.sim.set_fault(FaultRule::app(
        &broken,
        Fault::StagingFails(StagingFailure::BuildpackCompileFailed),
    ));
    let serving = f.serve_with(&[("RESTAGER_ADMIN_TOKEN", TOKEN)]).await;
    let base = serving.url.clone();
    let (status, answer) = send_notice(&base, &notice_body(), "msg_admin_page").await;
    assert_eq!(status, 202, "{answer}");
    let run_id = answer["run_id"].as_str().expect("a run id").to_string();
    let path = format!("/runs/{run_id}");

    // No token, a wrong one, a token in the query string: refused alike.
    let refusals = [
        (path.clone(), None),
        ("/runs".to_string(), None),
        (path.clone(), Some("not-the-admin-token-at-all")),
        (format!("{path}?token={TOKEN}"), None),
        (format!("/runs?access_token={TOKEN}"), Some(TOKEN)),
    ];
    for (route, token) in &refusals {
        let (status, headers, body) = admin_get(&base, route, *token, "application/json").await;
        assert_eq!(status, 401, "{route} with {token:?}: {body}");
        assert!(
            !body.contains(TOKEN),
            "the refusal echoes the token: {body}"
        );
        let challenges: Vec<&str> = headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(
            challenges.iter().any(|c| c.starts_with("Bearer"))
                && challenges.iter().any(|c| c.starts_with("Basic")),
            "{challenges:?}"
        );
    }
    // The webhook routes are not behind the token.
    let (status, _, _) = admin_get(&base, "/healthz", None, "application/json").await;
    assert_eq!(status, 200);

    let end = run_until(&base, &run_id, "completed", |r| r["state"] == "completed").await;
    assert_eq!(count(&end, "failed"), 1, "{end}");

    // The run page, as a browser asks for it.
    let (status, headers, page) =
        admin_get(&base, &path, Some(TOKEN), "text/html,application/xhtml+xml").await;
    assert_eq!(status, 200, "{page}");
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        header("content-type").starts_with("text/html"),
        "{headers:?}"
    );
    assert!(
        header("content-security-policy").contains("default-src 'none'"),
        "{headers:?}"
    );
    assert!(
        !page.contains(EVIL),
        "the space name is not escaped:\n{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.to_ascii_lowercase().contains("<script"), "{page}");
    let failures = page.find("Failures (1)").expect("the failures section");
    assert!(page[failures..].contains("broken-shop"), "{page}");
    assert!(
        failures < page.find("Timeline").expect("the timeline"),
        "failures come first"
    );
    assert!(
        !page.contains("http-equiv=\"refresh\""),
        "a completed run's page stays still"
    );

    browser_shows_the_run_page(&base, &run_id).await;

    let stopped = serving.stop().await;
    assert!(!stopped.stderr.contains(TOKEN), "the token was logged");
}

/// The run page in a real headless chromium: it loads (the token as a
/// browser sends it, Basic), without a console message, and a screenshot
/// is left in target/test-output/run-page.png.
async fn browser_shows_the_run_page(base: &str, run_id: &str) {
    let chromium = match Chromium::find() {
        Ok(chromium) => chromium,
        Err(why) => {
            eprintln!("SKIPPED the browser check of the run page: {why}");
            return;
        }
    };
    // The detector itself: a page that logs is caught.
    let noisy = "data:text/html,<title>x</title><script>console.error('boom');missing()</script>";
    let control = chromium
        .screenshot(noisy, &output_path("console-control.png"), 400, 300)
        .await;
    assert!(
        control.console.iter().any(|l| l.contains("boom")),
        "console messages are not detected:\n{}",
        control.log
    );

    let png = output_path("run-page.png");
    let host = base.trim_start_matches("http://");
    let url = format!("http://restager:{TOKEN}@{host}/runs/{run_id}");
    let shot = chromium.screenshot(&url, &png, 1100, 1400).await;
    assert!(
        shot.console.is_empty(),
        "the run page wrote to the console: {:?}\n{}",
        shot.console,
        shot.log
    );
    let size = std::fs::metadata(&png).expect("the screenshot").len();
    assert!(
        size > 10_000,
        "the screenshot is {size} bytes: an empty page?"
    );
    eprintln!("run page screenshot: {}", png.display());
}

#[tokio::test]
async fn without_a_token_the_admin_api_is_off_and_status_server_says_so() {
    let f = foundation(1).await;
    let serving = f.serve().await;
    let (status, _, body) = admin_get(&serving.url, "/runs", Some(TOKEN), "application/json").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("RESTAGER_ADMIN_TOKEN"), "{body}");
    // /metrics needs no token.
    let (status, _, _) = admin_get(&serving.url, "/metrics", None, "text/plain").await;
    assert_eq!(status, 200);
    let asked = f
        .restager()
        .args(["status", "--server", &serving.url, "--admin-token", TOKEN])
        .run()
        .await;
    asked.fails(1, &["the admin API is off"]);
    serving.terminate().await;

    // A token too short to guard anything stops serve at start-up.
    let short = restager()
        .envs(f.env())
        .envs([
            ("RESTAGER_ADMIN_TOKEN", "short"),
            ("RESTAGER_LISTEN", "127.0.0.1:0"),
        ])
        .arg("serve")
        .run()
        .await;
    short.fails(2, &["RESTAGER_ADMIN_TOKEN"]);
    assert!(!short.stderr.contains("short\n"), "{}", short.stderr);
}
