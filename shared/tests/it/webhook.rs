//! The webhook router end to end over the Cloud Controller simulator: signed
//! GitHub and Standard Webhooks deliveries become exactly the right jobs, and
//! every bad input, duplicate or outage changes nothing.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use crate::webhook_support::{RUBY, client, expected_buildpack, jobs_of, sim};
use bytes::Bytes;
use cf_sim::{CfSim, Fault, FaultRule};
use http::{Request, Response, StatusCode};
use restager_shared::cf::CfClient;
use restager_shared::config::{IntakeSettings, ScopeSettings, Secret};
use restager_shared::discovery;
use restager_shared::domain::{Notice, Outcome, RestageJob, RunId, Version};
use restager_shared::ledger::Ledger;
use restager_shared::ledger::memory::MemoryLedger;
use restager_shared::queue::sqs::SqsQueue;
use restager_shared::queue::{JobQueue, JobSource};
use restager_shared::signature::{github as gh_sig, standard_webhooks};
use restager_shared::webhook::{self, MAX_BODY_BYTES, Router, RouterDeps};
use serde_json::{Value, json};
use test_support::engine::RecordingNotifier;
use test_support::fakes::{FaultyLedger, FaultyQueue};
use test_support::moto::{MotoServer, create_queue, sdk_config};

const GITHUB_SECRET: &str = "gh-test-secret";
/// `whsec_` + base64 of 32 bytes 0..32: a test key only.
const NOTICE_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const TARGET: &str = "1.10.30";
const START: i64 = 1_750_000_000;

/// A router over a ledger with a breakable queue, a recording notifier and a
/// clock the test moves.
struct Wired<L = FaultyLedger> {
    router: Router,
    queue: Arc<FaultyQueue>,
    ledger: Arc<L>,
    notifier: Arc<RecordingNotifier>,
    now: Arc<AtomicI64>,
}

/// The simulator (with ruby_buildpack TARGET installed) and a router over it.
struct Fixture {
    sim: CfSim,
    wired: Wired,
}

impl Deref for Fixture {
    type Target = Wired;

    fn deref(&self) -> &Wired {
        &self.wired
    }
}

fn intake() -> IntakeSettings {
    IntakeSettings {
        github_secrets: vec![Secret::new("old-secret"), Secret::new(GITHUB_SECRET)],
        notice_secrets: vec![Secret::new(NOTICE_SECRET)],
        ..IntakeSettings::default()
    }
}

fn router_over(
    cf: CfClient,
    queue: Arc<dyn JobQueue>,
    ledger: Arc<dyn Ledger>,
    notifier: Arc<RecordingNotifier>,
    now: &Arc<AtomicI64>,
) -> Router {
    let clock_now = Arc::clone(now);
    Router::new(RouterDeps {
        intake: intake(),
        cf,
        queue,
        ledger,
        notifier,
        slack_actions: None,
    })
    .with_clock(Arc::new(move || {
        UNIX_EPOCH + Duration::from_secs(clock_now.load(Ordering::SeqCst) as u64)
    }))
}

fn wired<L: Ledger + 'static>(cf: CfClient, ledger: L) -> Wired<L> {
    let queue = Arc::new(FaultyQueue::default());
    let ledger = Arc::new(ledger);
    let notifier = Arc::new(RecordingNotifier::default());
    let now = Arc::new(AtomicI64::new(START));
    let router = router_over(cf, queue.clone(), ledger.clone(), notifier.clone(), &now);
    Wired {
        router,
        queue,
        ledger,
        notifier,
        now,
    }
}

async fn fixture(apps: usize) -> Fixture {
    let sim = sim(apps).await;
    sim.install_buildpack(RUBY, TARGET);
    let wired = wired(client(&sim), FaultyLedger::default());
    Fixture { sim, wired }
}

/// The published-release example, as if from cloudfoundry/ruby-buildpack.
fn release_body(action: &str, tag: &str, release_id: u64) -> Vec<u8> {
    let raw = include_str!("../fixtures/github/release_published.payload.json");
    let mut v: Value = serde_json::from_str(raw).expect("fixture is JSON");
    v["action"] = json!(action);
    v["release"]["tag_name"] = json!(tag);
    v["release"]["id"] = json!(release_id);
    v["repository"]["full_name"] = json!("cloudfoundry/ruby-buildpack");
    v["repository"]["name"] = json!("ruby-buildpack");
    serde_json::to_vec_pretty(&v).expect("serializes")
}

fn github(event: &str, delivery: &str, body: Vec<u8>) -> http::request::Builder {
    let signature = gh_sig::sign(&Secret::new(GITHUB_SECRET), &body);
    let _ = body;
    Request::post("/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-github-hook-id", "380052596")
        .header("x-hub-signature-256", signature)
}

fn signed_github(event: &str, delivery: &str, body: Vec<u8>) -> Request<Bytes> {
    github(event, delivery, body.clone())
        .body(Bytes::from(body))
        .expect("request")
}

/// A signed `release` delivery of cloudfoundry/ruby-buildpack.
fn release_event(delivery: &str, action: &str, tag: &str, release_id: u64) -> Request<Bytes> {
    signed_github("release", delivery, release_body(action, tag, release_id))
}

/// A signed release-feed notice of ruby_buildpack 1.10.30.
fn notice(id: &str, timestamp: i64) -> Request<Bytes> {
    signed_notice(id, timestamp, notice_body("1.10.30"))
}

/// Signed deliveries, sent: a line each where a test sends several.
trait Deliver {
    async fn release(&self, delivery: &str, action: &str, tag: &str, id: u64) -> Response<Bytes>;
    async fn notice(&self, id: &str, timestamp: i64) -> Response<Bytes>;
}

impl Deliver for Router {
    async fn release(&self, delivery: &str, action: &str, tag: &str, id: u64) -> Response<Bytes> {
        self.handle(release_event(delivery, action, tag, id)).await
    }

    async fn notice(&self, id: &str, timestamp: i64) -> Response<Bytes> {
        self.handle(notice(id, timestamp)).await
    }
}

/// The status, with the router's answer shown when it is not the one wanted.
fn assert_status(response: &Response<Bytes>, status: StatusCode) {
    assert_eq!(response.status(), status, "{}", body_json(response));
}

fn notice_body(version: &str) -> Vec<u8> {
    format!(r#"{{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"{version}"}}"#)
        .into_bytes()
}

fn signed_notice(id: &str, timestamp: i64, body: Vec<u8>) -> Request<Bytes> {
    let headers =
        standard_webhooks::signed_headers(&[Secret::new(NOTICE_SECRET)], id, timestamp, &body)
            .expect("sign");
    let mut builder =
        Request::post("/webhooks/notice").header("content-type", "application/json; charset=utf-8");
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder.body(Bytes::from(body)).expect("request")
}

fn body_json(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).expect("the router answers JSON")
}

impl Fixture {
    fn queued_apps(&self) -> BTreeSet<String> {
        self.queue
            .jobs()
            .iter()
            .map(|j| j.app.guid.clone())
            .collect()
    }

    async fn assert_untouched(&self, what: &str) {
        assert!(self.queue.jobs().is_empty(), "{what}: jobs were queued");
        assert!(
            self.ledger.runs().await.is_empty(),
            "{what}: a run was recorded"
        );
        assert!(
            self.notifier.started().is_empty(),
            "{what}: a run was announced"
        );
    }
}

#[tokio::test]
async fn the_published_release_example_queues_exactly_the_outdated_apps() {
    let f = fixture(400).await;
    let response = f
        .router
        .release("d-1", "published", "v1.10.30", 17372790)
        .await;
    let answer = body_json(&response);
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{answer}");

    let expected = expected_buildpack(&f.sim, RUBY, TARGET, |_| Some(TARGET.into()));
    assert!(jobs_of(&expected).len() > 20);
    assert_eq!(f.queued_apps(), jobs_of(&expected));
    assert_eq!(f.queue.jobs().len(), jobs_of(&expected).len());
    let notice = Notice::Buildpack {
        buildpack: RUBY.into(),
        version: Version::parse(TARGET).expect("v"),
        stack: None,
    };
    let run_id = RunId::for_release(&notice.release_key());
    assert_eq!(answer["run_id"], json!(run_id.as_str()));
    assert_eq!(answer["queued"], json!(jobs_of(&expected).len()));
    assert_eq!(
        answer["notice"],
        serde_json::to_value(&notice).expect("notice json")
    );
    let skipped = answer["skipped"].as_array().expect("skipped list");
    assert_eq!(skipped.len(), expected.len() - jobs_of(&expected).len());
    assert!(skipped.iter().all(|s| s["app"].is_string()
        && s["space"].is_string()
        && s["org"].is_string()
        && s["reason"].is_string()));

    let runs = f.ledger.runs().await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].record.run_id, run_id);
    let expected_jobs: BTreeSet<String> = runs[0]
        .record
        .expected
        .iter()
        .map(|e| e.app.guid.clone())
        .collect();
    assert_eq!(expected_jobs, jobs_of(&expected));
    assert_eq!(f.notifier.started(), vec![run_id]);
}

#[tokio::test]
async fn redeliveries_other_deliveries_of_the_release_and_other_senders_queue_nothing_new() {
    let f = fixture(200).await;
    let first = f.router.release("d-1", "published", "v1.10.30", 7).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let queued = f.queue.jobs().len();
    let calls = f.queue.calls.load(Ordering::SeqCst);

    // GitHub's redelivery keeps the delivery id.
    let again = f.router.release("d-1", "published", "v1.10.30", 7).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(body_json(&again)["status"], "duplicate");
    // The `released` delivery of the same release.
    let released = f.router.release("d-2", "released", "v1.10.30", 7).await;
    assert_status(&released, StatusCode::OK);
    // The same release from a release feed.
    let feed = f.router.notice("msg_feed_1", START).await;
    assert_status(&feed, StatusCode::OK);
    assert!(
        body_json(&feed)["reason"]
            .as_str()
            .is_some_and(|r| r.contains("already fanned out"))
    );

    assert_eq!(f.queue.jobs().len(), queued);
    assert_eq!(
        f.queue.calls.load(Ordering::SeqCst),
        calls,
        "no enqueue call at all"
    );
    assert_eq!(f.notifier.started().len(), 1);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_release_fan_out_once() {
    let f = Arc::new(fixture(100).await);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let f = Arc::clone(&f);
        tasks.push(tokio::spawn(async move {
            let request = if i % 2 == 0 {
                release_event(&format!("d-{i}"), "published", "v1.10.30", 7)
            } else {
                notice(&format!("msg_{i}"), START)
            };
            f.router.handle(request).await.status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::ACCEPTED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::ACCEPTED || *s == StatusCode::OK)
    );
    assert_eq!(f.notifier.started().len(), 1);
}

#[tokio::test]
async fn standard_webhooks_replay_is_a_no_op_and_stale_timestamps_are_refused() {
    let f = fixture(50).await;
    let first = f.router.notice("msg_1", START - 10).await;
    assert_status(&first, StatusCode::ACCEPTED);
    let queued = f.queue.jobs().len();
    // The same message id, re-signed with a fresh timestamp (a sender retry).
    let replay = f.router.notice("msg_1", START).await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(body_json(&replay)["status"], "duplicate");
    assert_eq!(f.queue.jobs().len(), queued);

    f.now.store(START + 301, Ordering::SeqCst);
    let stale = f.router.notice("msg_2", START - 1).await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    assert!(
        body_json(&stale)["error"]
            .as_str()
            .is_some_and(|e| e.contains("ago"))
    );
    let future = f.router.notice("msg_3", START + 301 + 301).await;
    assert_eq!(future.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_bad_input_is_refused_and_changes_nothing() {
    let f = fixture(30).await;
    let good = release_body("published", "v1.10.30", 7);
    let mut big = vec![b' '; MAX_BODY_BYTES + 1];
    big[0] = b'{';
    let post = |path: &str| Request::post(path.to_string());
    let signed = |body: &[u8]| gh_sig::sign(&Secret::new(GITHUB_SECRET), body);
    // A GitHub delivery with just these headers, for the ones that leave some out.
    let with_headers = |headers: &[(&str, &str)], body: &[u8]| {
        headers
            .iter()
            .fold(post("/webhooks/github"), |b, (name, value)| {
                b.header(*name, *value)
            })
            .body(Bytes::from(body.to_vec()))
            .expect("req")
    };
    let json = ("content-type", "application/json");
    let event = ("x-github-event", "release");
    let delivery = ("x-github-delivery", "d-x");
    let good_signature = signed(&good);
    fn signature(value: &str) -> (&str, &str) {
        ("x-hub-signature-256", value)
    }
    let wrong = gh_sig::sign(&Secret::new("wrong"), &good);

    let cases: Vec<(&str, Request<Bytes>, StatusCode, &str)> = vec![
        (
            "missing signature",
            with_headers(&[json, event, delivery], &good),
            StatusCode::UNAUTHORIZED,
            "x-hub-signature-256",
        ),
        (
            "signature by another secret",
            with_headers(&[json, event, delivery, signature(&wrong)], &good),
            StatusCode::UNAUTHORIZED,
            "does not match",
        ),
        (
            "body changed after signing",
            github("release", "d-x", good.clone())
                .body(Bytes::from(release_body("published", "v1.10.31", 7)))
                .expect("req"),
            StatusCode::UNAUTHORIZED,
            "does not match",
        ),
        (
            "malformed signature",
            with_headers(&[json, event, delivery, signature("sha256=zz")], &good),
            StatusCode::UNAUTHORIZED,
            "hex",
        ),
        (
            "notice without signature headers",
            post("/webhooks/notice")
                .header("content-type", "application/json")
                .body(Bytes::from(notice_body("1.10.30")))
                .expect("req"),
            StatusCode::UNAUTHORIZED,
            "webhook-",
        ),
        (
            "malformed JSON",
            github("release", "d-x", b"{\"action\":".to_vec())
                .body(Bytes::from_static(b"{\"action\":"))
                .expect("req"),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            "release without a tag",
            {
                let mut v: Value = serde_json::from_slice(&good).expect("json");
                v["release"]
                    .as_object_mut()
                    .expect("object")
                    .remove("tag_name");
                let body = serde_json::to_vec(&v).expect("json");
                signed_github("release", "d-x", body)
            },
            StatusCode::BAD_REQUEST,
            "release.tag_name",
        ),
        (
            "release without a delivery id",
            with_headers(&[json, event, signature(&good_signature)], &good),
            StatusCode::BAD_REQUEST,
            "x-github-delivery",
        ),
        (
            "delivery without an event",
            with_headers(&[json, delivery, signature(&good_signature)], &good),
            StatusCode::BAD_REQUEST,
            "x-github-event",
        ),
        (
            "notice missing its version",
            signed_notice(
                "msg_a",
                START,
                br#"{"type":"buildpack.released","buildpack":"ruby_buildpack"}"#.to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "`version`",
        ),
        (
            "notice with a bad version",
            signed_notice("msg_b", START, notice_body("latest")),
            StatusCode::BAD_REQUEST,
            "version",
        ),
        (
            "unknown notice type",
            signed_notice(
                "msg_c",
                START,
                br#"{"type":"buildpack.deleted","buildpack":"ruby_buildpack","version":"1.0"}"#
                    .to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "buildpack.deleted",
        ),
        (
            "notice that is not an object",
            signed_notice("msg_d", START, b"[1,2]".to_vec()),
            StatusCode::BAD_REQUEST,
            "JSON object",
        ),
        (
            "body over 1 MiB",
            signed_github("release", "d-x", big.clone()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "1 MiB",
        ),
        (
            "form-encoded GitHub delivery",
            {
                let body = format!("payload={}", "%7B%7D").into_bytes();
                let form = ("content-type", "application/x-www-form-urlencoded");
                with_headers(&[form, event, delivery, signature(&signed(&body))], &body)
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content type to application/json",
        ),
        (
            "text/plain notice",
            post("/webhooks/notice")
                .header("content-type", "text/plain")
                .body(Bytes::from(notice_body("1.10.30")))
                .expect("req"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "no content type",
            post("/webhooks/notice")
                .body(Bytes::from(notice_body("1.10.30")))
                .expect("req"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "missing",
        ),
        (
            "GET on a webhook",
            Request::get("/webhooks/github")
                .body(Bytes::new())
                .expect("req"),
            StatusCode::METHOD_NOT_ALLOWED,
            "POST",
        ),
        (
            "PUT on a notice",
            Request::put("/webhooks/notice")
                .body(Bytes::new())
                .expect("req"),
            StatusCode::METHOD_NOT_ALLOWED,
            "POST",
        ),
        (
            "POST on healthz",
            post("/healthz").body(Bytes::new()).expect("req"),
            StatusCode::METHOD_NOT_ALLOWED,
            "GET",
        ),
        (
            "unknown path",
            post("/webhooks/gitlab").body(Bytes::new()).expect("req"),
            StatusCode::NOT_FOUND,
            "no route",
        ),
        (
            "Slack actions without a signing secret",
            post("/slack/actions").body(Bytes::new()).expect("req"),
            StatusCode::NOT_FOUND,
            "SLACK_SIGNING_SECRET",
        ),
    ];
    for (what, request, status, says) in cases {
        let response = f.router.handle(request).await;
        assert_eq!(response.status(), status, "{what}: {:?}", response.body());
        let error = body_json(&response)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            error.contains(says),
            "{what}: `{error}` should mention `{says}`"
        );
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(
                response.headers().get("allow").is_some(),
                "{what}: Allow header"
            );
        }
        f.assert_untouched(what).await;
    }
    assert_eq!(
        f.sim.count("GET", "/v3/apps"),
        0,
        "nothing reached discovery"
    );
}

#[tokio::test]
async fn pings_and_unhandled_actions_answer_200_with_the_reason() {
    let f = fixture(10).await;
    let ping = include_bytes!("../fixtures/github/ping_payload.json").to_vec();
    let response = f.router.handle(signed_github("ping", "d-p", ping)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(&response)["status"], "pong");
    for (action, says) in [
        ("created", "not acted on"),
        ("edited", "not acted on"),
        ("deleted", "not acted on"),
    ] {
        let response = f.router.release("d-c", action, "v1.10.30", 7).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            body_json(&response)["reason"]
                .as_str()
                .is_some_and(|r| r.contains(says)),
            "{action}"
        );
    }
    let mut pre: Value =
        serde_json::from_slice(&release_body("published", "v1.10.30", 8)).expect("json");
    pre["release"]["prerelease"] = json!(true);
    let response = f
        .router
        .handle(signed_github(
            "release",
            "d-pre",
            serde_json::to_vec(&pre).expect("json"),
        ))
        .await;
    assert!(
        body_json(&response)["reason"]
            .as_str()
            .is_some_and(|r| r.contains("pre-release"))
    );
    let health = f
        .router
        .handle(Request::get("/healthz").body(Bytes::new()).expect("req"))
        .await;
    assert_eq!(health.status(), StatusCode::OK);
    f.assert_untouched("pings and ignored deliveries").await;
}

#[tokio::test]
async fn a_version_not_installed_queues_nothing_and_a_redelivery_after_the_install_acts() {
    let f = fixture(100).await;
    let response = f.router.release("d-1", "published", "v1.10.31", 9).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let answer = body_json(&response);
    assert_eq!(answer["queued"], 0);
    assert!(
        answer["not_installed"]
            .as_str()
            .is_some_and(|w| w.contains("1.10.31 is not installed")),
        "{answer}"
    );
    assert!(f.queue.jobs().is_empty() && f.notifier.started().is_empty());
    // Recorded with the reason, so `restager status <run_id>` can explain it.
    let runs = f.ledger.runs().await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].record.run_id.as_str(), answer["run_id"]);
    assert!(runs[0].record.expected.is_empty());
    assert!(
        runs[0]
            .record
            .note
            .as_deref()
            .is_some_and(|n| n.contains("1.10.31 is not installed")),
        "{:?}",
        runs[0].record
    );

    f.sim.install_buildpack(RUBY, "1.10.31");
    // The same delivery again is a replay, answered with the original run id.
    let replay = f.router.release("d-1", "published", "v1.10.31", 9).await;
    assert_eq!(replay.status(), StatusCode::OK);
    let replayed = body_json(&replay);
    assert_eq!(replayed["status"], "duplicate", "{replayed}");
    assert_eq!(replayed["run_id"], answer["run_id"], "{replayed}");
    assert!(f.queue.jobs().is_empty());
    // A new delivery of the release, after the install, acts.
    let redelivery = f.router.release("d-2", "published", "v1.10.31", 9).await;
    assert_eq!(redelivery.status(), StatusCode::ACCEPTED);
    assert_eq!(body_json(&redelivery)["run_id"], answer["run_id"]);
    let expected = expected_buildpack(&f.sim, RUBY, "1.10.31", |_| Some("1.10.31".into()));
    assert_eq!(f.queued_apps(), jobs_of(&expected));
}

#[tokio::test]
async fn cloud_foundry_unreachable_is_503_with_nothing_queued_and_the_retry_works() {
    let f = fixture(60).await;
    f.sim.set_fault(FaultRule::all(Fault::ServiceUnavailable));
    let response = f.router.notice("msg_1", START).await;
    assert_status(&response, StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_some());
    f.assert_untouched("CF unavailable").await;

    f.sim.clear_faults();
    let retry = f.router.notice("msg_1", START).await;
    assert_status(&retry, StatusCode::ACCEPTED);
    let expected = expected_buildpack(&f.sim, RUBY, TARGET, |_| Some(TARGET.into()));
    assert_eq!(f.queued_apps(), jobs_of(&expected));
}

#[tokio::test]
async fn a_foundation_that_does_not_listen_is_503() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let cf = crate::webhook_support::client_at(&url, 5000);
    let Wired {
        router,
        queue,
        ledger,
        ..
    } = wired(cf, FaultyLedger::default());
    let response = router.notice("msg_1", START).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(queue.jobs().is_empty() && ledger.runs().await.is_empty());
    assert!(
        !ledger.remembers("notice-message:msg_1").await,
        "the retry must be accepted"
    );
}

#[tokio::test]
async fn queue_or_ledger_outages_are_503_and_the_retry_queues_every_job_once() {
    let f = fixture(200).await;
    let expected = jobs_of(&expected_buildpack(&f.sim, RUBY, TARGET, |_| {
        Some(TARGET.into())
    }));

    // The queue takes a few jobs and then fails.
    *f.queue.accept_then_fail.lock().expect("lock") = Some(3);
    let response = f.router.release("d-1", "published", "v1.10.30", 7).await;
    assert_status(&response, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        f.notifier.started().is_empty(),
        "not announced before it is queued"
    );

    // GitHub redelivers with the same delivery id once the queue is back.
    let retry = f.router.release("d-1", "published", "v1.10.30", 7).await;
    assert_status(&retry, StatusCode::ACCEPTED);
    assert_eq!(f.queued_apps(), expected);
    assert_eq!(f.queue.jobs().len(), expected.len(), "each job once");
    assert_eq!(f.notifier.started().len(), 1);

    // The ledger down: nothing is planned or queued, and nothing is remembered.
    let g = fixture(20).await;
    g.ledger.down.store(true, Ordering::SeqCst);
    let response = g.router.notice("msg_9", START).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(g.queue.jobs().is_empty());
    assert_eq!(g.sim.count("GET", "/v3/apps"), 0);
    g.ledger.down.store(false, Ordering::SeqCst);
    g.queue.down.store(true, Ordering::SeqCst);
    let response = g.router.notice("msg_9", START).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!g.ledger.remembers("notice-message:msg_9").await);
    g.queue.down.store(false, Ordering::SeqCst);
    let response = g.router.notice("msg_9", START).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn the_sweep_queues_outdated_apps_once_across_repeats() {
    // Over the real in-memory ledger, so finished jobs are judged by its rules.
    let sim = sim(200).await;
    let Wired {
        router,
        queue,
        ledger,
        notifier,
        ..
    } = wired(client(&sim), MemoryLedger::new());

    let first = webhook::sweep(&router).await.expect("sweep");
    assert!(first.queued() > 0);
    let outdated = discovery::outdated(&client(&sim), &ScopeSettings::default())
        .await
        .expect("outdated");
    let want: BTreeSet<String> = outdated
        .iter()
        .filter(|o| o.blocked.is_none())
        .map(|o| o.app.guid.clone())
        .collect();
    let queued: BTreeSet<String> = queue.jobs().iter().map(|j| j.app.guid.clone()).collect();
    assert_eq!(queued, want);
    let announced = notifier.started().len();
    // Runs where every app is left alone are recorded, not announced.
    assert_eq!(
        announced,
        first.runs.iter().filter(|r| r.queued > 0).count()
    );
    // Every outdated app is in some recorded run, queued or skipped.
    let mut in_runs = BTreeSet::new();
    for run in &first.runs {
        let view = ledger
            .get_run(&run.run_id)
            .await
            .expect("ledger")
            .expect("every swept run is recorded");
        in_runs.extend(view.jobs.iter().map(|j| j.app.guid.clone()));
        in_runs.extend(view.record.skipped.iter().map(|s| s.app.guid.clone()));
    }
    let every: BTreeSet<String> = outdated.iter().map(|o| o.app.guid.clone()).collect();
    assert!(
        every.is_subset(&in_runs),
        "{:?}",
        every.difference(&in_runs)
    );

    // Every job finishes; the apps stay outdated in the foundation.
    for view in ledger.list_runs(100).await.expect("runs") {
        for job in &view.jobs {
            ledger
                .record_outcome(&view.record.run_id, &job.job_id, &Outcome::AlreadyCurrent)
                .await
                .expect("record");
        }
    }
    let calls = queue.calls.load(Ordering::SeqCst);
    let second = webhook::sweep(&router).await.expect("sweep");
    assert_eq!(second.queued(), 0, "finished jobs are not queued again");
    assert_eq!(
        second.runs.iter().map(|r| r.already_final).sum::<usize>(),
        want.len()
    );
    assert_eq!(queue.calls.load(Ordering::SeqCst), calls);
    assert_eq!(
        notifier.started().len(),
        announced,
        "runs are announced once"
    );
}

/// Everything on the queue, each message completed so FIFO groups move on.
async fn drain(queue: &SqsQueue) -> Vec<RestageJob> {
    let mut all = Vec::new();
    loop {
        let got = queue
            .receive(10, Duration::from_millis(200))
            .await
            .expect("receive");
        if got.is_empty() {
            return all;
        }
        for delivery in got {
            all.push(RestageJob::from_json(&delivery.body).expect("a versioned job body"));
            queue.complete(&delivery).await.expect("complete");
        }
    }
}

fn sqs_router(
    sim: &CfSim,
    queue: Arc<SqsQueue>,
    ledger: Arc<MemoryLedger>,
    notifier: Arc<RecordingNotifier>,
) -> Router {
    router_over(
        client(sim),
        queue,
        ledger,
        notifier,
        &Arc::new(AtomicI64::new(START)),
    )
}

#[tokio::test]
async fn on_a_real_fifo_queue_the_release_example_queues_each_affected_app_once() {
    let moto = MotoServer::start().await;
    let url = create_queue(&moto.sdk_config(), "webhook-jobs", true, None).await;
    let queue = Arc::new(SqsQueue::from_sdk_config(&moto.sdk_config(), url));
    let sim = sim(150).await;
    sim.install_buildpack(RUBY, TARGET);
    let ledger = Arc::new(MemoryLedger::new());
    let router = sqs_router(
        &sim,
        queue.clone(),
        ledger.clone(),
        Arc::new(RecordingNotifier::default()),
    );

    let response = router.release("d-1", "published", "v1.10.30", 7).await;
    assert_status(&response, StatusCode::ACCEPTED);
    let expected = jobs_of(&expected_buildpack(&sim, RUBY, TARGET, |_| {
        Some(TARGET.into())
    }));
    let received = drain(&queue).await;
    assert_eq!(
        received.len(),
        expected.len(),
        "one message per affected app"
    );
    let apps: BTreeSet<String> = received.iter().map(|j| j.app.guid.clone()).collect();
    assert_eq!(apps, expected);
    assert!(
        received
            .iter()
            .all(|j| j.target_version == Some(Version::parse(TARGET).expect("v")))
    );

    // Redelivery and the `released` delivery put nothing more on the queue.
    let again = router.release("d-1", "published", "v1.10.30", 7).await;
    assert_eq!(again.status(), StatusCode::OK);
    let released = router.release("d-2", "released", "v1.10.30", 7).await;
    assert_eq!(released.status(), StatusCode::OK);
    assert!(drain(&queue).await.is_empty());
}

#[tokio::test]
async fn sqs_unreachable_is_503_and_the_retry_after_recovery_queues_exactly_once() {
    let moto = MotoServer::start().await;
    let url = create_queue(&moto.sdk_config(), "webhook-outage", true, None).await;
    let sim = sim(120).await;
    sim.install_buildpack(RUBY, TARGET);
    let ledger = Arc::new(MemoryLedger::new());
    let notifier = Arc::new(RecordingNotifier::default());

    // SQS unreachable: same queue URL, but nothing answers at the endpoint.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_endpoint = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let unreachable = Arc::new(SqsQueue::from_sdk_config(
        &sdk_config(&dead_endpoint),
        url.clone(),
    ));
    let down = sqs_router(&sim, unreachable, ledger.clone(), notifier.clone());
    let response = down.notice("msg_1", START).await;
    assert_status(&response, StatusCode::SERVICE_UNAVAILABLE);
    assert!(notifier.started().is_empty());

    // SQS back: the sender's retry (same message id) is processed in full, once.
    let queue = Arc::new(SqsQueue::from_sdk_config(&moto.sdk_config(), url));
    let up = sqs_router(&sim, queue.clone(), ledger.clone(), notifier.clone());
    let retry = up.notice("msg_1", START).await;
    assert_status(&retry, StatusCode::ACCEPTED);
    let again = up.notice("msg_1", START).await;
    assert_eq!(again.status(), StatusCode::OK);
    let expected = jobs_of(&expected_buildpack(&sim, RUBY, TARGET, |_| {
        Some(TARGET.into())
    }));
    let received = drain(&queue).await;
    assert_eq!(received.len(), expected.len(), "each job exactly once");
    assert_eq!(
        received
            .iter()
            .map(|j| j.app.guid.clone())
            .collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(notifier.started().len(), 1);
}
