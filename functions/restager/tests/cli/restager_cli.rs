//! End-to-end: the real `restager` binary as a process, against the Cloud
//! Controller simulator hosted by the test (so the test can read its state)
//! and, for SQS, moto's server.

mod admin;
mod hardening;
mod rollout;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{Finished, Restager, Serving, eventually, restager};
use cf_sim::{AppSpec, AppState, CfSim, Corruption, LifecycleKind, SimConfig};
use restager_shared::config::Secret;
use restager_shared::signature::standard_webhooks;
use serde_json::Value;
use test_support::engine::{client_builds, client_deployments};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const INSTALLED: &str = "1.10.29";
const OLD: &str = "1.10.28";

/// A small foundation with a known answer: which apps a ruby_buildpack
/// 1.10.29 notice must restage, and which it must leave alone.
struct Foundation {
    sim: CfSim,
    /// Started ruby apps on an older droplet: the ones to restage.
    outdated: BTreeSet<String>,
    /// Everything else: current, stopped, another buildpack.
    untouched: BTreeSet<String>,
    /// Settings every `restager` run against this foundation gets, restarts included.
    settings: Vec<(&'static str, String)>,
    /// `RESTAGER_DATA_DIR` of those runs: the embedded queue and ledger.
    data: tempfile::TempDir,
}

async fn foundation(outdated_apps: usize) -> Foundation {
    foundation_with(outdated_apps, SimConfig::default()).await
}

async fn foundation_with(outdated_apps: usize, config: SimConfig) -> Foundation {
    let sim = CfSim::start(SimConfig { apps: 0, ..config })
        .await
        .expect("start the simulator");
    sim.install_buildpack("ruby_buildpack", INSTALLED);
    let mut outdated = BTreeSet::new();
    for i in 0..outdated_apps {
        let mut spec = AppSpec::new(format!("shop-{i}"));
        // Three spaces in two orgs, so per-space serialization has work to do.
        spec.org = format!("org-{}", i % 2);
        spec.space = format!("space-{}", i % 3);
        spec.buildpack_version = Some(OLD.into());
        outdated.insert(sim.add_app(spec));
    }
    let mut untouched = BTreeSet::new();
    let mut current = AppSpec::new("already-current");
    current.buildpack_version = Some(INSTALLED.into());
    untouched.insert(sim.add_app(current));
    let mut stopped = AppSpec::new("stopped-shop");
    stopped.buildpack_version = Some(OLD.into());
    stopped.state = AppState::Stopped;
    untouched.insert(sim.add_app(stopped));
    let mut go = AppSpec::new("go-api");
    go.buildpack = "go_buildpack".into();
    untouched.insert(sim.add_app(go));
    Foundation {
        sim,
        outdated,
        untouched,
        settings: Vec::new(),
        data: tempfile::tempdir().expect("temp dir"),
    }
}

impl Foundation {
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("CF_API_URL", self.sim.url()),
            ("CF_CLIENT_ID", self.sim.client_id().to_string()),
            ("CF_CLIENT_SECRET", self.sim.client_secret().to_string()),
        ];
        env.extend(self.settings.iter().cloned());
        env
    }

    /// The binary with this foundation's settings over the tests' defaults.
    fn restager(&self) -> Restager {
        restager()
            .envs([
                ("RESTAGER_DATA_DIR", self.data().display().to_string()),
                ("RESTAGER_NOTICE_SECRETS", SECRET.to_string()),
                ("RESTAGER_LISTEN", "127.0.0.1:0".to_string()),
                ("RESTAGER_POLL_INTERVAL", "10ms".to_string()),
                ("RESTAGER_VERIFY_FOR", "30ms".to_string()),
                ("RESTAGER_MAX_CONCURRENT_RESTAGES", "4".to_string()),
            ])
            .envs(self.env())
    }

    fn data(&self) -> &Path {
        self.data.path()
    }

    /// `restager ARGS`, which must exit 0.
    async fn ok(&self, args: &[&str]) -> Finished {
        self.restager().args(args.iter().copied()).run().await.ok()
    }

    /// What `restager ARGS` printed as JSON, after exit 0.
    async fn json(&self, args: &[&str]) -> Value {
        self.ok(args).await.json()
    }

    /// `restager serve` with nothing but this foundation's settings.
    async fn serve(&self) -> Serving {
        self.serve_with(&[]).await
    }

    /// `restager serve` with `env` over this foundation's settings.
    async fn serve_with(&self, env: &[(&str, &str)]) -> Serving {
        self.restager()
            .envs(env.iter().copied())
            .arg("serve")
            .serve()
            .await
    }

    /// `restager plan` of ruby_buildpack `version`, which must exit 0.
    async fn plan(&self, version: &str, extra: &[&str]) -> Finished {
        let plan = [
            "plan",
            "--buildpack",
            "ruby_buildpack",
            "--version",
            version,
        ];
        self.ok(&[&plan[..], extra].concat()).await
    }

    /// Client-made builds and deployments of an app.
    fn restages_of(&self, guid: &str) -> (usize, usize) {
        (
            client_builds(&self.sim, guid),
            client_deployments(&self.sim, guid),
        )
    }

    fn patched(&self, guid: &str) -> bool {
        self.sim
            .app(guid)
            .and_then(|a| a.current_version("ruby_buildpack").map(str::to_string))
            .as_deref()
            == Some(INSTALLED)
            && self
                .sim
                .deployments_for(guid)
                .iter()
                .any(|d| d.by_client && d.status_value == "FINALIZED")
    }

    async fn wait_until_all_patched(&self, serving: &Serving) {
        eventually(
            Duration::from_secs(60),
            || self.outdated.iter().all(|g| self.patched(g)),
            || {
                format!(
                    "not every outdated app was restaged\nserve stderr:\n{}",
                    serving.stderr()
                )
            },
        )
        .await;
    }

    /// Every outdated app but `left` is patched.
    fn all_patched_but(&self, left: &str) -> bool {
        self.outdated
            .iter()
            .filter(|g| *g != left)
            .all(|g| self.patched(g))
    }

    /// Every outdated app restaged exactly once, nothing else touched.
    fn assert_exactly_once(&self) {
        for guid in &self.outdated {
            assert_eq!(
                self.restages_of(guid),
                (1, 1),
                "app {guid}: expected one build and one deployment"
            );
        }
        for guid in &self.untouched {
            assert_eq!(self.restages_of(guid), (0, 0), "app {guid} was touched");
        }
    }
}

fn notice_body() -> Vec<u8> {
    format!(
        r#"{{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"{INSTALLED}"}}"#
    )
    .into_bytes()
}

/// POSTs a notice signed per Standard Webhooks, as a release pipeline would.
async fn send_notice(base: &str, body: &[u8], id: &str) -> (u16, Value) {
    let (status, json, _) = notice_with(base, id, body, &[]).await;
    (status, json)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A POST to `/webhooks/notice` signed for `id`, with extra (or replaced) headers.
async fn notice_with(
    base: &str,
    id: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let headers =
        standard_webhooks::signed_headers(&[Secret::new(SECRET)], id, now(), body).expect("sign");
    let mut request = reqwest::Client::new()
        .post(format!("{base}/webhooks/notice"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    // An extra header replaces the signed one of the same name.
    for (name, value) in headers {
        if !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            request = request.header(name, value);
        }
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    answer(request).await
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = request.send().await.expect("the request is answered");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("read the answer");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json, headers)
}

/// A notice POST with a signature no secret made.
fn forged_notice(base: &str, id: &str, timestamp: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{base}/webhooks/notice"))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp)
        .header("webhook-signature", "v1,Zm9yZ2Vk")
}

fn guids(list: &Value, key: &str) -> BTreeSet<String> {
    list.as_array()
        .expect("an array")
        .iter()
        .map(|v| v[key].as_str().expect("a guid").to_string())
        .collect()
}

#[tokio::test]
async fn plan_lists_exactly_the_outdated_apps_and_why_others_are_skipped() {
    let f = foundation(5).await;
    // One space restages only in its window, shown with each app.
    assert!(f.sim.set_space_annotation(
        "org-0",
        "space-0",
        "restager.io/window",
        "Sat,Sun 02:00-06:00 Europe/Berlin"
    ));
    let run = f.plan(INSTALLED, &["--json"]).await;
    let plan = run.json();
    assert_eq!(guids(&plan["restage"], "app_guid"), f.outdated);
    assert_eq!(plan["action"], "restage");
    assert_next_windows(&plan["restage"]);
    assert!(plan["not_installed"].is_null(), "{plan}");
    let skipped = guids(&plan["skipped"], "app_guid");
    assert!(skipped.is_disjoint(&f.outdated));
    for reason in plan["skipped"].as_array().expect("array") {
        assert!(
            !reason["reason"].as_str().unwrap_or_default().is_empty(),
            "a skip without a reason: {reason}"
        );
    }
    // A dry run changes nothing.
    f.assert_no_restages();

    // The same plan from a notice file, as a table.
    let file = f.data().join("notice.json");
    std::fs::write(&file, notice_body()).expect("write the notice");
    let run = f
        .ok(&["plan", "--notice", &file.display().to_string()])
        .await;
    assert!(run.stdout.contains("5 apps to restage"), "{}", run.stdout);
    for i in 0..5 {
        assert!(run.stdout.contains(&format!("shop-{i}")), "{}", run.stdout);
    }
    assert!(run.stdout.contains("stopped-shop"), "{}", run.stdout);

    // A version the foundation does not have yet queues nothing and says so.
    let run = f.plan("1.10.99", &["--json"]).await;
    let plan = run.json();
    assert!(
        plan["restage"].as_array().expect("array").is_empty(),
        "{plan}"
    );
    assert!(plan["not_installed"].is_string(), "{plan}");
}

/// Apps of org-0/space-0 show their window's next opening (or that it is
/// open now: the test may run on a weekend night in Berlin); the rest may
/// go at any time.
fn assert_next_windows(apps: &Value) {
    for app in apps.as_array().expect("apps") {
        let next = app["next_window"].as_str().expect("next_window");
        if app["org"] == "org-0" && app["space"] == "space-0" {
            assert_eq!(app["window"], "Sat,Sun 02:00-06:00 Europe/Berlin", "{app}");
            assert!(next.contains("Europe/Berlin"), "{app}");
        } else {
            assert!(app["window"].is_null(), "{app}");
            assert_eq!(next, "now (no maintenance window)", "{app}");
        }
    }
}

impl Foundation {
    fn assert_no_restages(&self) {
        for guid in self.outdated.iter().chain(&self.untouched) {
            assert_eq!(self.restages_of(guid), (0, 0), "app {guid} was touched");
        }
    }
}

#[tokio::test]
async fn serve_restages_a_signed_notice_with_the_embedded_queue_then_status_reports_it() {
    let f = foundation(6).await;
    let serving = f.serve().await;

    let (health, _) = get(&serving.url, "/healthz").await;
    assert_eq!(health, 200);
    let (status, answer) = send_notice(&serving.url, &notice_body(), "msg_e2e_1").await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["queued"], 6, "{answer}");
    let run_id = answer["run_id"].as_str().expect("a run id").to_string();

    f.wait_until_all_patched(&serving).await;
    // The same delivery again is a no-op.
    let (status, answer) = send_notice(&serving.url, &notice_body(), "msg_e2e_1").await;
    assert!(status == 200 || status == 202, "{status} {answer}");
    let stopped = settle(&f, serving, &run_id, 6).await;
    assert_eq!(
        stopped.code,
        Some(0),
        "serve did not stop cleanly:\n{}",
        stopped.stderr
    );
    f.assert_exactly_once();

    // status: the run in the list, then per app.
    let list = f.json(&["status", "--json"]).await;
    let run = list
        .as_array()
        .expect("an array of runs")
        .iter()
        .find(|r| r["run_id"] == run_id.as_str())
        .unwrap_or_else(|| panic!("run {run_id} missing from {list}"));
    assert_eq!(run["restaged"], 6, "{run}");
    assert_eq!(run["failed"], 0, "{run}");
    assert!(run["completed_at"].is_string(), "{run}");
    let detail = f.json(&["status", &run_id, "--json"]).await;
    let restaged: BTreeSet<String> = detail["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .filter(|a| a["outcome"] == "restaged")
        .map(|a| {
            assert_eq!(a["version"], INSTALLED, "{a}");
            a["app_guid"].as_str().expect("guid").to_string()
        })
        .collect();
    assert_eq!(restaged, f.outdated);
    let table = f.ok(&["status", &run_id]).await;
    assert!(table.stdout.contains("6 restaged"), "{}", table.stdout);
    assert!(table.stdout.contains("shop-0"), "{}", table.stdout);
}

/// Stops `serving` and waits until `status RUN --json` shows `n` restaged.
/// The embedded ledger is one process's file, so `status` reads it once
/// serve has stopped; a graceful stop hands back restages it was still
/// watching, so a short second serve lets them record their outcome (they
/// resume from CF's state, no new build or deployment).
async fn settle(f: &Foundation, serving: Serving, run_id: &str, n: u64) -> Finished {
    let stopped = serving.terminate().await;
    for _ in 0..5 {
        let run = f.restager().args(["status", run_id, "--json"]).run().await;
        if run.code == Some(0) && run.json()["restaged"].as_u64() == Some(n) {
            return stopped;
        }
        let again = f.serve().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        again.stop().await;
    }
    panic!("run {run_id} never reached {n} restaged");
}

async fn get(base: &str, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{base}{path}")).await.expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn bad_signatures_are_refused_over_http_and_queue_nothing() {
    let f = foundation(2).await;
    let serving = f.serve().await;
    let response = forged_notice(&serving.url, "msg_forged", "1700000000")
        .body(notice_body())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 401);
    let (status, _) = get(&serving.url, "/no/such/route").await;
    assert_eq!(status, 404);
    tokio::time::sleep(Duration::from_millis(200)).await;
    serving.stop().await;
    f.assert_no_restages();
}

#[tokio::test]
async fn serve_killed_mid_run_and_restarted_completes_every_job_exactly_once() {
    // Slow enough that a kill lands while restages are in flight.
    let f = foundation_with(
        6,
        SimConfig {
            staging_duration: Duration::from_millis(400),
            instance_startup: Duration::from_millis(200),
            ..SimConfig::default()
        },
    )
    .await;
    let first = f.serve().await;
    let (status, answer) = send_notice(&first.url, &notice_body(), "msg_kill_1").await;
    assert_eq!(status, 202, "{answer}");

    // Wait for work in flight, then kill -9.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while f.outdated.iter().map(|g| f.restages_of(g).0).sum::<usize>() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no build started:\n{}",
            first.stderr()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill().await;
    let unfinished = f.outdated.iter().filter(|g| !f.patched(g)).count();
    assert!(unfinished > 0, "the kill came too late to test anything");

    let second = f.serve().await;
    f.wait_until_all_patched(&second).await;
    // Give redelivered duplicates, if any, the chance to misbehave.
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.stop().await;
    f.assert_exactly_once();
}

#[tokio::test]
async fn outdated_lists_the_apps_behind_the_installed_buildpack_and_sweep_queues_them() {
    let f = foundation(4).await;
    let outdated = f.json(&["outdated", "--json"]).await;
    let listed = guids(&outdated, "app_guid");
    assert!(listed.is_superset(&f.outdated), "{outdated}");
    assert!(
        outdated
            .as_array()
            .expect("rows")
            .iter()
            .all(|r| r["next_window"] == "now (no maintenance window)"),
        "{outdated}"
    );
    assert!(!listed.contains(f.untouched.iter().next().expect("the current app")));
    let table = f.ok(&["outdated"]).await;
    assert!(
        table.stdout.contains("shop-0") && table.stdout.contains(OLD),
        "{}",
        table.stdout
    );

    let sweep = f.json(&["sweep", "--json"]).await;
    // Every outdated app is either queued or skipped with a reason (e.g. stopped).
    let accounted: u64 = sweep["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["queued"].as_u64().expect("queued") + r["skipped"].as_u64().expect("skipped"))
        .sum();
    assert_eq!(accounted, listed.len() as u64, "{sweep}");
    // Nothing restages until a worker runs: sweep only queues.
    f.assert_no_restages();
    let serving = f.serve().await;
    f.wait_until_all_patched(&serving).await;
    serving.stop().await;
    f.assert_exactly_once();
    let after = f.json(&["outdated", "--json"]).await;
    assert!(
        guids(&after, "app_guid").is_disjoint(&f.outdated),
        "{after}"
    );
}

#[tokio::test]
async fn demo_runs_the_whole_flow_and_reports_every_app() {
    let run = restager()
        .args(["demo", "--apps", "24", "--json"])
        .run()
        .await
        .ok();
    let report = run.json();
    let apps = report["apps"].as_array().expect("apps");
    assert!(!apps.is_empty(), "{report}");
    let released = report["notice"]["version"].as_str().expect("a version");
    let mut restaged = 0;
    let mut rolled_back = 0;
    for app in apps {
        match app["outcome"].as_str().expect("an outcome") {
            "restaged" => {
                restaged += 1;
                assert_eq!(app["new_version"], released, "{app}");
                // What the foundation runs now, read back from the simulator.
                assert_eq!(app["current_version"], released, "{app}");
                assert_ne!(app["old_version"], released, "{app}");
            }
            "skipped" | "already_current" => {
                assert!(app["current_version"] != released || app["old_version"] == released);
            }
            "rolled_back" => {
                rolled_back += 1;
                // The previous droplet runs again, and the reason says why.
                assert_eq!(app["current_version"], app["old_version"], "{app}");
                let why = app["reason"].as_str().unwrap_or_default();
                assert!(
                    why.contains("crashed") && why.contains("rolled back"),
                    "{app}"
                );
            }
            other => panic!("unexpected outcome {other}: {app}"),
        }
    }
    assert!(restaged > 0, "the demo restaged nothing: {report}");
    assert_eq!(report["restaged"], restaged);
    assert_eq!(rolled_back, 1, "the demo shows one rollback: {report}");
    assert_eq!(report["rolled_back"], 1);
    assert_eq!(report["failed"], 0);
    let slack = &report["slack"];
    assert!(slack["posts"].as_u64().expect("posts") >= 2, "{slack}");
    assert!(
        slack["summary"]
            .as_str()
            .expect("a summary")
            .contains("restaged"),
        "{slack}"
    );
    assert_eq!(slack["undelivered"], 0);
}

#[tokio::test]
async fn serve_restages_through_a_real_sqs_queue() {
    let moto = test_support::moto::MotoServer::start().await;
    let queue_url =
        test_support::moto::create_queue(&moto.sdk_config(), "restager-jobs", true, Some(8)).await;
    let f = foundation(4).await;
    let serving = f
        .serve_with(&[
            ("RESTAGER_QUEUE_URL", queue_url.as_str()),
            ("AWS_ENDPOINT_URL", moto.endpoint()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ])
        .await;
    let (status, answer) = send_notice(&serving.url, &notice_body(), "msg_sqs_1").await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["queued"], 4, "{answer}");
    f.wait_until_all_patched(&serving).await;
    serving.stop().await;
    f.assert_exactly_once();
}

/// Every client-made `POST /v3/deployments` body the simulator received.
fn deployment_bodies(sim: &CfSim) -> Vec<Value> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v3/deployments")
        .filter_map(|r| r.body)
        .collect()
}

#[tokio::test]
async fn serve_restages_on_a_two_year_old_cloud_controller_and_says_what_it_did_without() {
    // API 3.160: apps carry no current_droplet relationship and a deployment
    // with `options` is refused (cloud_controller_ng's config/version history).
    let mut f = foundation_with(
        4,
        SimConfig {
            api_version: "3.160.0".into(),
            ..SimConfig::default()
        },
    )
    .await;
    // Canary is asked for, and 3.160 has none: the restages roll instead.
    f.settings.push(("RESTAGER_STRATEGY", "canary".to_string()));
    let serving = f.serve().await;

    let (status, answer) = send_notice(&serving.url, &notice_body(), "msg_old_cc").await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["queued"], 4, "every eligible app is found: {answer}");
    let notes = answer["notes"].to_string();
    assert!(
        notes.contains("3.160.0") && notes.contains("3.174"),
        "the per-app droplet lookups are explained: {answer}"
    );
    assert!(
        notes.contains("3.173"),
        "max_in_flight is said to be off: {answer}"
    );
    assert!(
        notes.contains("RESTAGER_STRATEGY=canary") && notes.contains("rolling deployments"),
        "the canary fallback is said before anything runs: {answer}"
    );
    let run_id = answer["run_id"].as_str().expect("a run id").to_string();

    f.wait_until_all_patched(&serving).await;
    let stopped = settle(&f, serving, &run_id, 4).await;
    assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
    f.assert_exactly_once();

    let bodies = deployment_bodies(&f.sim);
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    for body in &bodies {
        assert!(body.get("options").is_none(), "options sent: {body}");
        assert_eq!(body["strategy"], "rolling", "{body}");
    }
    let detail = f.json(&["status", &run_id, "--json"]).await;
    for app in detail["apps"].as_array().expect("apps") {
        if app["outcome"] != "restaged" {
            continue;
        }
        let why = app["reason"].as_str().unwrap_or_default();
        assert!(
            why.contains("max_in_flight") && why.contains("3.160.0"),
            "the outcome says the foundation's default was used: {app}"
        );
        assert!(
            why.contains("RESTAGER_STRATEGY=canary"),
            "the outcome says it rolled instead of canarying: {app}"
        );
    }
}

#[tokio::test]
async fn serve_restages_a_foundation_shaped_as_real_cloud_controller_sends_it() {
    // Never-staged apps (rendered `current_droplet: {data: {guid: null}}`),
    // one app whose JSON does not parse, docker and stopped apps beside the
    // outdated ruby apps: one odd record must not stop the rest.
    let mut f = foundation(5).await;
    let mut never_requested = AppSpec::never_staged("never-staged");
    never_requested.buildpack_requested = true;
    f.untouched.insert(f.sim.add_app(never_requested));
    let mut never_started = AppSpec::never_staged("failed-first-push");
    never_started.state = AppState::Started;
    never_started.buildpack_requested = true;
    f.untouched.insert(f.sim.add_app(never_started));
    let mut docker = AppSpec::new("nginx");
    docker.lifecycle = LifecycleKind::Docker;
    f.untouched.insert(f.sim.add_app(docker));
    let mut broken = AppSpec::new("broken-json");
    broken.buildpack_version = Some(OLD.into());
    let broken = f.sim.add_app(broken);
    f.sim
        .corrupt_app(&broken, Corruption::NameNotString)
        .expect("corrupt one app");
    f.untouched.insert(broken.clone());

    let serving = f.serve().await;
    let (status, answer) = send_notice(&serving.url, &notice_body(), "msg_real_cc").await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer["queued"], 5,
        "every eligible app is queued: {answer}"
    );
    let skipped = answer["skipped"].as_array().expect("skipped apps");
    let reason_of = |guid: &str| {
        skipped
            .iter()
            .find(|s| s["app_guid"] == guid)
            .and_then(|s| s["reason"].as_str())
            .map(str::to_string)
    };
    let unreadable =
        reason_of(&broken).unwrap_or_else(|| panic!("{broken} not reported: {answer}"));
    assert!(
        unreadable.starts_with("unreadable: name: invalid type: integer `42`"),
        "{unreadable}"
    );
    let never = f.sim.app_by_name("failed-first-push").expect("app");
    let why =
        reason_of(&never.guid).unwrap_or_else(|| panic!("never-staged app not reported: {answer}"));
    assert!(why.contains("no current droplet"), "{why}");
    let run_id = answer["run_id"].as_str().expect("a run id").to_string();

    f.wait_until_all_patched(&serving).await;
    let stopped = settle(&f, serving, &run_id, 5).await;
    assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
    f.assert_exactly_once();
    let detail = f.json(&["status", &run_id, "--json"]).await;
    let reported = detail["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["app_guid"] == broken.as_str())
        .unwrap_or_else(|| panic!("status misses the unreadable app: {detail}"))
        .clone();
    assert_eq!(reported["outcome"], "skipped", "{reported}");
    assert!(
        reported["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("unreadable: name:")),
        "{reported}"
    );
}
