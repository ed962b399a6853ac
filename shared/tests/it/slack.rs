//! Slack notifier, outbox and interactive actions against a real local HTTP
//! server standing in for Slack's Web API (it records every request and
//! answers as scripted).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use restager_shared::config::Secret;
use restager_shared::domain::{Action, AppRef, Notice, Outcome, RestageJob, RunId, Version};
use restager_shared::ledger::{ExpectedJob, Ledger, RunRecord, RunView, SkippedApp};
use restager_shared::notify::Notifier;
use restager_shared::queue::{JobQueue, QueueError};
use restager_shared::signature::slack::sign;
use restager_shared::slack::{ActionResponse, OutboxConfig, SlackActions, SlackApi, SlackNotifier};
use serde_json::{Value, json};
use test_support::fakes::FaultyLedger;
use tokio::time::Instant;

const TOKEN: &str = "xoxb-test-token";
pub(crate) const CHANNEL: &str = "C0123456789";

// ---------------------------------------------------------------- fake Slack

#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) path: String,
    headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) at: Instant,
}

/// A scripted answer; requests beyond the script get Slack's success shape.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Status {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    Json(Value),
}

#[derive(Default)]
struct SimState {
    requests: Vec<Request>,
    script: VecDeque<Reply>,
    /// Answer every request with this while set.
    outage: Option<Reply>,
    /// Channels answered `{"ok":false,"error":…}` (the bot is not in them, say).
    refusing: std::collections::HashMap<String, String>,
    next_ts: u64,
}

#[derive(Clone)]
pub(crate) struct SlackSim {
    addr: SocketAddr,
    state: Arc<Mutex<SimState>>,
}

impl SlackSim {
    pub(crate) async fn start() -> Self {
        let state = Arc::new(Mutex::new(SimState::default()));
        let shared = Arc::clone(&state);
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&shared);
            async move { answer(&state, uri, headers, body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Slack");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake Slack serves");
        });
        Self { addr, state }
    }

    pub(crate) fn api(&self) -> SlackApi {
        let url = url::Url::parse(&format!("http://{}/api", self.addr)).expect("url");
        SlackApi::new(url, Secret::new(TOKEN)).expect("client")
    }

    pub(crate) fn script(&self, reply: Reply) {
        self.state.lock().expect("sim").script.push_back(reply);
    }

    fn set_outage(&self, reply: Option<Reply>) {
        self.state.lock().expect("sim").outage = reply;
    }

    /// Every request to `channel` is refused with Slack's `error`.
    pub(crate) fn refuse_channel(&self, channel: &str, error: &str) {
        self.state
            .lock()
            .expect("sim")
            .refusing
            .insert(channel.to_string(), error.to_string());
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.state.lock().expect("sim").requests.clone()
    }

    pub(crate) fn calls(&self, method: &str) -> Vec<Request> {
        let path = format!("/api/{method}");
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

fn answer(state: &Mutex<SimState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut st = state.lock().expect("sim");
    st.requests.push(Request {
        path: uri.path().to_string(),
        headers,
        body: body.clone(),
        at: Instant::now(),
    });
    let refused = body["channel"]
        .as_str()
        .and_then(|c| st.refusing.get(c))
        .map(|error| Reply::Json(json!({"ok": false, "error": error})));
    let scripted = refused
        .or_else(|| st.outage.clone())
        .or_else(|| st.script.pop_front());
    match scripted {
        Some(Reply::Status {
            status,
            headers,
            body,
        }) => {
            let mut response = (
                StatusCode::from_u16(status).expect("status"),
                body.to_string(),
            )
                .into_response();
            for (name, value) in headers {
                response
                    .headers_mut()
                    .insert(name, value.parse().expect("header value"));
            }
            response
        }
        Some(Reply::Json(v)) => axum::Json(v).into_response(),
        None => {
            st.next_ts += 1;
            let ts = if uri.path().ends_with("chat.update") {
                body["ts"].as_str().unwrap_or_default().to_string()
            } else {
                format!("1700000000.{:06}", st.next_ts)
            };
            axum::Json(json!({"ok": true, "channel": body["channel"], "ts": ts})).into_response()
        }
    }
}

// ------------------------------------------------------------ test doubles

/// Records what was enqueued.
#[derive(Default)]
struct TestQueue {
    jobs: Mutex<Vec<RestageJob>>,
}

#[async_trait]
impl JobQueue for TestQueue {
    async fn enqueue(&self, jobs: &[RestageJob]) -> Result<(), QueueError> {
        self.jobs.lock().expect("queue").extend_from_slice(jobs);
        Ok(())
    }
}

// ----------------------------------------------------------------- fixtures

pub(crate) fn fast() -> OutboxConfig {
    OutboxConfig {
        min_interval: Duration::from_millis(5),
        batch_window: Duration::from_millis(30),
        max_attempts: 3,
        set_aside_retry: Duration::from_secs(600),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(40),
        root_claim_ttl: Duration::from_secs(60),
        max_pending: 10_000,
    }
}

fn notice() -> Notice {
    Notice::Buildpack {
        buildpack: "ruby_buildpack".into(),
        version: Version::parse("1.10.29").expect("version"),
        stack: Some("cflinuxfs4".into()),
    }
}

fn app(i: usize) -> AppRef {
    AppRef {
        guid: format!("app-guid-{i}"),
        name: format!("shop-{i}"),
        space_guid: "space-guid".into(),
        space_name: "prod".into(),
        org_guid: "org-guid".into(),
        org_name: "acme".into(),
    }
}

fn jobs(run: &RunId, n: usize) -> Vec<RestageJob> {
    (0..n)
        .map(|i| {
            RestageJob::new(
                run,
                notice(),
                Action::Restage,
                app(i),
                format!("droplet-{i}"),
                Some("ruby_buildpack".into()),
                Some(Version::parse("1.10.29").expect("version")),
            )
        })
        .collect()
}

/// A run of `n` jobs stored in a fresh ledger; each test gets its own run id.
async fn stored_run(ledger: &FaultyLedger, tag: &str, n: usize) -> (RunRecord, Vec<RestageJob>) {
    let run_id = RunId::for_release(&format!("{}:{tag}", notice().release_key()));
    let jobs = jobs(&run_id, n);
    let record = RunRecord {
        run_id,
        notice: notice(),
        action: Action::Restage,
        created_at: Utc::now(),
        expected: jobs.iter().map(ExpectedJob::for_job).collect(),
        skipped: vec![SkippedApp {
            app: app(99),
            reason: "app is stopped".into(),
        }],
        note: None,
        released_at: None,
        release_url: None,
    };
    ledger.put_run(&record).await.expect("put run");
    (record, jobs)
}

async fn stored_view(ledger: &FaultyLedger, run_id: &RunId) -> RunView {
    ledger.get_run(run_id).await.expect("get").expect("run")
}

/// A Slack sim and a fresh ledger holding a run of `n` jobs.
async fn run_rig(tag: &str, n: usize) -> (SlackSim, Arc<FaultyLedger>, RunRecord, Vec<RestageJob>) {
    let sim = SlackSim::start().await;
    let ledger = Arc::new(FaultyLedger::default());
    let (run, jobs) = stored_run(&ledger, tag, n).await;
    (sim, ledger, run, jobs)
}

fn restaged() -> Outcome {
    Outcome::Restaged {
        droplet_guid: "new-droplet".into(),
        deployment_guid: "deployment".into(),
        version: Some("1.10.29".into()),
        note: None,
        deployed_at: None,
    }
}

fn failed(reason: &str) -> Outcome {
    Outcome::Failed {
        reason: reason.into(),
        permanent: true,
    }
}

fn notifier(sim: &SlackSim, ledger: &Arc<FaultyLedger>) -> SlackNotifier {
    SlackNotifier::new(sim.api(), CHANNEL, ledger.clone(), fast())
}

const FLUSH: Duration = Duration::from_secs(10);

// -------------------------------------------------------------- notifier

#[tokio::test]
async fn root_message_is_posted_once_and_its_ts_stored_in_the_ledger() {
    let (sim, ledger, run, _) = run_rig("root", 3).await;

    let slack = notifier(&sim, &ledger);
    slack.run_started(&run).await.expect("queued");
    let report = slack.flush(FLUSH).await;
    assert_eq!((report.delivered, report.pending), (1, 0));

    let posts = sim.calls("chat.postMessage");
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(
        post.headers["authorization"].to_str().expect("ascii"),
        format!("Bearer {TOKEN}")
    );
    assert!(
        post.headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    assert_eq!(post.body["channel"], CHANNEL);
    assert!(post.body.get("thread_ts").is_none());
    assert_eq!(
        post.body["text"],
        "ruby_buildpack 1.10.29 (cflinuxfs4): restaging 3 apps, 1 skipped"
    );
    assert_eq!(post.body["blocks"][0]["type"], "header");
    assert_eq!(
        post.body["blocks"][0]["text"]["text"],
        "ruby_buildpack 1.10.29 (cflinuxfs4) rollout"
    );
    let blocks = post.body["blocks"].to_string();
    assert!(
        blocks.contains("*Queued:*\\n3") && blocks.contains("app is stopped (1)"),
        "{blocks}"
    );
    assert!(blocks.contains(run.run_id.as_str()));

    let view = stored_view(&ledger, &run.run_id).await;
    assert_eq!(view.slack_thread.as_deref(), Some("1700000000.000001"));

    // Another process (a second webhook delivery) announcing the same run does not post again.
    let other = notifier(&sim, &ledger);
    other.run_started(&run).await.expect("queued");
    other.flush(FLUSH).await;
    assert_eq!(sim.calls("chat.postMessage").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_batched_into_few_replies_threaded_under_the_root() {
    let (sim, ledger, run, jobs) = run_rig("batch", 40).await;
    let slack = Arc::new(notifier(&sim, &ledger));
    slack.run_started(&run).await.expect("queued");

    let reports = jobs.iter().map(|job| {
        let slack = Arc::clone(&slack);
        let job = job.clone();
        async move { slack.app_finished(&job, &restaged()).await }
    });
    for r in futures::future::join_all(reports).await {
        r.expect("app_finished returns at once");
    }
    let report = slack.flush(FLUSH).await;
    assert_eq!(report.pending, 0);

    let posts = sim.calls("chat.postMessage");
    let root_ts = "1700000000.000001";
    assert!(posts[0].body.get("thread_ts").is_none());
    let replies = &posts[1..];
    assert!(
        !replies.is_empty() && replies.len() <= 2,
        "40 results should need one or two replies, got {}",
        replies.len()
    );
    let mut text = String::new();
    for reply in replies {
        assert_eq!(reply.body["thread_ts"], root_ts);
        assert_eq!(reply.body["channel"], CHANNEL);
        text.push_str(&reply.body["blocks"].to_string());
    }
    for i in 0..40 {
        let line =
            format!(":white_check_mark: shop-{i} (acme/prod) restaged → ruby_buildpack 1.10.29\\n");
        let last =
            format!(":white_check_mark: shop-{i} (acme/prod) restaged → ruby_buildpack 1.10.29\"");
        assert!(
            text.contains(&line) || text.contains(&last),
            "missing shop-{i}"
        );
    }
}

/// Workers finish their last jobs at the same moment; only the one whose
/// `record_outcome` completed the run calls `run_completed`, so the summary
/// is written exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_is_written_once_when_last_jobs_finish_together() {
    let (sim, ledger, run, jobs) = run_rig("summary", 12).await;
    let slack = Arc::new(notifier(&sim, &ledger));
    slack.run_started(&run).await.expect("queued");

    let workers = jobs.iter().enumerate().map(|(i, job)| {
        let slack = Arc::clone(&slack);
        let ledger = Arc::clone(&ledger);
        let job = job.clone();
        tokio::spawn(async move {
            let outcome = if i % 4 == 0 {
                failed("staging failed: exit 222")
            } else {
                restaged()
            };
            let recorded = ledger
                .record_outcome(&job.run_id, &job.job_id, &outcome)
                .await
                .expect("recorded");
            slack.app_finished(&job, &outcome).await.expect("queued");
            if recorded.completed_run {
                let view = stored_view(&ledger, &job.run_id).await;
                slack.run_completed(&view).await.expect("queued");
            }
        })
    });
    for w in futures::future::join_all(workers).await {
        w.expect("worker task");
    }
    assert_eq!(slack.flush(FLUSH).await.pending, 0);

    let updates = sim.calls("chat.update");
    assert_eq!(updates.len(), 1, "exactly one summary edit");
    let update = &updates[0];
    assert_eq!(update.body["channel"], CHANNEL);
    assert_eq!(update.body["ts"], "1700000000.000001");
    assert_eq!(
        update.body["text"],
        "ruby_buildpack 1.10.29 (cflinuxfs4): 9 restaged, 0 already current, 1 skipped, 3 failed"
    );
    let blocks = update.body["blocks"].to_string();
    assert!(blocks.contains("staging failed: exit 222"));
    let actions = update.body["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("buttons while apps failed");
    assert_eq!(actions["elements"][0]["action_id"], "restager_retry_failed");
    assert_eq!(actions["elements"][0]["value"], run.run_id.as_str());
    assert_eq!(actions["elements"][1]["action_id"], "restager_skip_failed");
    // The edit comes after every threaded result.
    let last = sim.requests().last().cloned().expect("requests");
    assert_eq!(last.path, "/api/chat.update");
    assert_eq!(
        sim.calls("chat.postMessage")
            .iter()
            .filter(|p| p.body.get("thread_ts").is_none())
            .count(),
        1
    );
}

/// A worker reports its app after another worker's completion queued the
/// summary: the late result still goes out before the summary edit.
#[tokio::test]
async fn a_result_reported_after_the_summary_was_queued_goes_out_before_it() {
    let (sim, ledger, run, jobs) = run_rig("late", 2).await;
    let slack = notifier(&sim, &ledger);
    slack.run_started(&run).await.expect("queued");
    slack
        .app_finished(&jobs[0], &restaged())
        .await
        .expect("queued");
    let view = stored_view(&ledger, &run.run_id).await;
    slack.run_completed(&view).await.expect("queued");
    slack
        .app_finished(&jobs[1], &restaged())
        .await
        .expect("queued");
    assert_eq!(slack.flush(FLUSH).await.pending, 0);
    let paths: Vec<String> = sim.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths.last().map(String::as_str),
        Some("/api/chat.update"),
        "{paths:?}"
    );
    let replies: Vec<_> = sim
        .calls("chat.postMessage")
        .into_iter()
        .filter(|p| p.body.get("thread_ts").is_some())
        .collect();
    assert_eq!(replies.len(), 1, "both results in one reply: {replies:?}");
}

#[tokio::test]
async fn rate_limit_retry_after_is_waited_out_then_delivered() {
    let (sim, ledger, run, _) = run_rig("ratelimit", 1).await;
    sim.script(Reply::Status {
        status: 429,
        headers: vec![("retry-after", "1".into())],
        body: String::new(),
    });
    let slack = notifier(&sim, &ledger);
    slack.run_started(&run).await.expect("queued");
    let report = slack.flush(FLUSH).await;
    assert_eq!(report.pending, 0);

    let posts = sim.calls("chat.postMessage");
    assert_eq!(posts.len(), 2, "one refused, one delivered");
    let waited = posts[1].at - posts[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert!(
        stored_view(&ledger, &run.run_id)
            .await
            .slack_thread
            .is_some()
    );
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let (sim, ledger, run, _) = run_rig("transient", 1).await;
    sim.script(Reply::Json(json!({"ok": false, "error": "internal_error"})));
    sim.script(Reply::Status {
        status: 503,
        headers: vec![],
        body: "<html>upstream unavailable</html>".into(),
    });
    let slack = notifier(&sim, &ledger);
    slack.run_started(&run).await.expect("queued");
    let report = slack.flush(FLUSH).await;
    assert_eq!((report.delivered, report.pending), (1, 0));
    assert_eq!(sim.calls("chat.postMessage").len(), 3);
}

#[tokio::test]
async fn permanent_errors_are_dropped_not_retried() {
    let (sim, ledger, run, jobs) = run_rig("permanent", 1).await;
    sim.script(Reply::Json(
        json!({"ok": false, "error": "channel_not_found"}),
    ));
    let slack = notifier(&sim, &ledger);
    slack.run_started(&run).await.expect("queued");
    let report = slack.flush(FLUSH).await;
    assert_eq!((report.delivered, report.pending), (0, 0));
    assert_eq!(sim.calls("chat.postMessage").len(), 1);
    slack.flush(FLUSH).await;
    assert_eq!(
        sim.calls("chat.postMessage").len(),
        1,
        "not retried by a later flush"
    );
    // The refused root did not leave its claim behind: the next message can post it.
    slack
        .app_finished(&jobs[0], &restaged())
        .await
        .expect("queued");
    assert_eq!(slack.flush(FLUSH).await.pending, 0);
    let posts = sim.calls("chat.postMessage");
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[2].body["thread_ts"], "1700000000.000001");
}

#[tokio::test]
async fn slack_down_never_fails_the_caller_and_messages_wait_for_the_next_flush() {
    // Nothing listens on this port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let ledger = Arc::new(FaultyLedger::default());
    let (run, jobs) = stored_run(&ledger, "down", 2).await;
    let api = SlackApi::new(
        url::Url::parse(&format!("http://{closed}/api")).expect("url"),
        Secret::new(TOKEN),
    )
    .expect("client");
    let unreachable = SlackNotifier::new(api, CHANNEL, ledger.clone(), fast());
    unreachable.run_started(&run).await.expect("never fails");
    unreachable
        .app_finished(&jobs[0], &restaged())
        .await
        .expect("never fails");
    let report = unreachable.flush(Duration::from_secs(5)).await;
    assert_eq!((report.delivered, report.pending), (0, 2));

    // Slack answering 503 for a while: messages are kept, then delivered by a later flush.
    let sim = SlackSim::start().await;
    sim.set_outage(Some(Reply::Status {
        status: 503,
        headers: vec![],
        body: "down".into(),
    }));
    let slack = notifier(&sim, &ledger);
    slack.run_started(&run).await.expect("never fails");
    slack
        .app_finished(&jobs[1], &failed("boom"))
        .await
        .expect("never fails");
    let report = slack.flush(FLUSH).await;
    assert_eq!(report.pending, 2);
    let tries = sim.requests().len();
    assert_eq!(tries, 3, "bounded attempts per flush");
    sim.set_outage(None);
    let report = slack.flush(FLUSH).await;
    assert_eq!((report.delivered, report.pending), (2, 0));
    let posts = sim.calls("chat.postMessage");
    assert!(
        posts[tries].body.get("thread_ts").is_none(),
        "the root first"
    );
    assert_eq!(posts[tries + 1].body["thread_ts"], "1700000000.000001");
}

#[tokio::test]
async fn a_halt_is_told_in_the_run_thread_with_resume_and_abort_buttons() {
    let (sim, ledger, run, _) = run_rig("halt", 3).await;
    ledger
        .set_slack_thread(&run.run_id, "1700000000.000321")
        .await
        .expect("thread");
    let view = stored_view(&ledger, &run.run_id).await;
    let slack = notifier(&sim, &ledger);
    let news = restager_shared::notify::RolloutNews::Halted {
        reason: "run halted after 3 failures (budget 2)".into(),
        failures: vec!["shop (acme/prod): staging failed".into()],
    };
    slack.rollout_changed(&view, &news).await.expect("queued");
    let report = slack.flush(FLUSH).await;
    assert_eq!((report.delivered, report.pending), (1, 0));
    let posts = sim.calls("chat.postMessage");
    assert_eq!(posts.len(), 1, "threaded under the existing root");
    assert_eq!(posts[0].body["thread_ts"], "1700000000.000321");
    let blocks = posts[0].body["blocks"].to_string();
    assert!(
        blocks.contains("Run halted after 3 failures (budget 2)"),
        "{blocks}"
    );
    assert!(blocks.contains("shop (acme/prod)"), "{blocks}");
    for action in ["restager_resume_run", "restager_abort_run"] {
        assert!(blocks.contains(action), "{action} button: {blocks}");
    }
    assert!(
        blocks.contains(run.run_id.as_str()),
        "the buttons carry the run id"
    );
}

// --------------------------------------------------------------- actions

pub(crate) const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

fn vectors() -> Value {
    serde_json::from_str(include_str!(
        "../fixtures/test-vectors/slack_v0_signature_vectors.json"
    ))
    .expect("vectors")
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// The two headers Slack signs a request with.
fn slack_signature_headers(timestamp: &str, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-slack-request-timestamp",
        timestamp.parse().expect("header"),
    );
    headers.insert("x-slack-signature", signature.parse().expect("header"));
    headers
}

pub(crate) fn signed_headers(body: &[u8], timestamp: i64) -> HeaderMap {
    let mut headers = slack_signature_headers(
        &timestamp.to_string(),
        &sign(&Secret::new(SIGNING_SECRET), timestamp, body),
    );
    headers.insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().expect("header"),
    );
    headers
}

/// The bolt-python block_actions body with our button clicked on `ts`.
pub(crate) fn click(action_id: &str, run: &RunId, ts: &str) -> Vec<u8> {
    let mut payload: Value = serde_json::from_str(include_str!(
        "../fixtures/slack/bolt-python_block_actions_body.json"
    ))
    .expect("fixture");
    payload["actions"][0]["action_id"] = json!(action_id);
    payload["actions"][0]["value"] = json!(run.as_str());
    payload["container"]["message_ts"] = json!(ts);
    payload["container"]["channel_id"] = json!(CHANNEL);
    serde_urlencoded::to_string([("payload", payload.to_string())])
        .expect("form")
        .into_bytes()
}

struct ActionsRig {
    sim: SlackSim,
    ledger: Arc<FaultyLedger>,
    queue: Arc<TestQueue>,
    actions: SlackActions,
    run: RunRecord,
    jobs: Vec<RestageJob>,
}

impl ActionsRig {
    /// Slack delivering `body` now, signed with the app's secret.
    async fn click_now(&self, body: &[u8]) -> ActionResponse {
        self.actions
            .handle_action(&signed_headers(body, now_secs()), body, SystemTime::now())
            .await
    }
}

/// A completed run: app 0 restaged, apps 1 and 2 failed for good, app 3 still retrying.
async fn actions_rig(tag: &str) -> ActionsRig {
    let (sim, ledger, run, jobs) = run_rig(tag, 4).await;
    let queue = Arc::new(TestQueue::default());
    ledger
        .set_slack_thread(&run.run_id, "1700000000.000777")
        .await
        .expect("thread");
    let outcomes = [
        restaged(),
        failed("staging failed: exit 222"),
        failed("deployment timed out"),
        Outcome::Failed {
            reason: "CC 503".into(),
            permanent: false,
        },
    ];
    for (job, outcome) in jobs.iter().zip(outcomes) {
        ledger
            .record_outcome(&run.run_id, &job.job_id, &outcome)
            .await
            .expect("record");
    }
    let actions = SlackActions::new(
        vec![Secret::new(SIGNING_SECRET)],
        ledger.clone(),
        queue.clone(),
    )
    .with_summary_updates(sim.api(), Some(CHANNEL.into()), Duration::from_secs(2));
    ActionsRig {
        sim,
        ledger,
        queue,
        actions,
        run,
        jobs,
    }
}

#[tokio::test]
async fn retry_failed_requeues_exactly_the_failed_apps_under_new_job_ids() {
    let rig = actions_rig("retry").await;
    let body = click(
        "restager_retry_failed",
        &rig.run.run_id,
        "1700000000.000777",
    );
    let response = rig.click_now(&body).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let answer: Value = serde_json::from_str(&response.body).expect("json");
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"]
            .as_str()
            .expect("text")
            .contains("Queued 2 failed apps")
    );

    let queued = rig.queue.jobs.lock().expect("queue").clone();
    let mut apps: Vec<&str> = queued.iter().map(|j| j.app.guid.as_str()).collect();
    apps.sort_unstable();
    assert_eq!(apps, ["app-guid-1", "app-guid-2"]);
    for job in &queued {
        let original = rig
            .jobs
            .iter()
            .find(|j| j.app.guid == job.app.guid)
            .expect("original");
        assert_ne!(
            job.job_id, original.job_id,
            "a fresh id so dedup does not drop it"
        );
        assert_eq!(job.job_id, original.job_id.retry(1));
        assert_eq!(job.droplet_guid, original.droplet_guid);
        assert_eq!(job.buildpack, original.buildpack);
        assert_eq!(job.target_version, original.target_version);
        assert_eq!(
            (&job.notice, job.action, &job.run_id),
            (&original.notice, original.action, &original.run_id)
        );
    }

    let view = stored_view(&rig.ledger, &rig.run.run_id).await;
    for job in &queued {
        let record = view
            .jobs
            .iter()
            .find(|j| j.job_id == job.job_id)
            .expect("retry expected");
        assert!(
            matches!(&record.outcome, Some(Outcome::Deferred { reason, .. }) if reason.contains("primary-owner"))
        );
        let expected = view
            .record
            .expected
            .iter()
            .find(|e| e.job_id == job.job_id)
            .expect("expected");
        assert_eq!(expected.retry, 1);
    }

    // The clicked summary now shows the retries in progress and no buttons.
    let updates = rig.sim.calls("chat.update");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].body["ts"], "1700000000.000777");
    assert_eq!(updates[0].body["channel"], CHANNEL);
    let text = updates[0].body["text"].as_str().expect("text");
    assert!(
        text.contains("1 restaged") && text.contains("0 failed") && text.contains("3 in progress"),
        "{text}"
    );
    assert!(
        !updates[0].body["blocks"]
            .to_string()
            .contains("restager_retry_failed")
    );

    // A second click finds nothing failed and queues nothing more.
    let response = rig.click_now(&body).await;
    assert_eq!(response.status, 200);
    assert!(response.body.contains("Nothing to retry"));
    assert_eq!(rig.queue.jobs.lock().expect("queue").len(), 2);

    // If a retry fails again, the next click retries it under a newer id.
    let retried = queued
        .iter()
        .find(|j| j.app.guid == "app-guid-1")
        .expect("retried");
    rig.ledger
        .record_outcome(&rig.run.run_id, &retried.job_id, &failed("again"))
        .await
        .expect("record");
    rig.click_now(&body).await;
    let queued = rig.queue.jobs.lock().expect("queue").clone();
    assert_eq!(queued.len(), 3);
    assert_eq!(queued[2].job_id, rig.jobs[1].job_id.retry(2));
}

#[tokio::test]
async fn skip_marks_the_failed_apps_skipped_by_the_user() {
    let rig = actions_rig("skip").await;
    let body = click("restager_skip_failed", &rig.run.run_id, "1700000000.000777");
    let response = rig.click_now(&body).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(rig.queue.jobs.lock().expect("queue").is_empty());

    let view = stored_view(&rig.ledger, &rig.run.run_id).await;
    let outcome = |i: usize| {
        view.jobs
            .iter()
            .find(|j| j.job_id == rig.jobs[i].job_id)
            .and_then(|j| j.outcome.clone())
    };
    let by_user = Some(Outcome::Skipped {
        reason: "skipped by primary-owner".into(),
    });
    assert_eq!(outcome(1), by_user);
    assert_eq!(outcome(2), by_user);
    assert_eq!(outcome(0), Some(restaged()));
    assert!(matches!(
        outcome(3),
        Some(Outcome::Failed {
            permanent: false,
            ..
        })
    ));

    let updates = rig.sim.calls("chat.update");
    assert_eq!(updates.len(), 1);
    let blocks = updates[0].body["blocks"].to_string();
    assert!(blocks.contains("skipped by primary-owner (2)"), "{blocks}");
    assert!(!blocks.contains("restager_skip_failed"));
}

#[tokio::test]
async fn bad_missing_or_stale_signatures_are_rejected_with_401() {
    let rig = actions_rig("signatures").await;
    let body = click(
        "restager_retry_failed",
        &rig.run.run_id,
        "1700000000.000777",
    );
    let now = now_secs();

    let mut tampered = signed_headers(&body, now);
    tampered.insert(
        "x-slack-signature",
        sign(&Secret::new("another-secret"), now, &body)
            .parse()
            .expect("header"),
    );
    let mut missing = signed_headers(&body, now);
    missing.remove("x-slack-signature");
    let mut no_timestamp = signed_headers(&body, now);
    no_timestamp.remove("x-slack-request-timestamp");
    let stale = signed_headers(&body, now - 301);
    for (case, headers) in [
        ("wrong secret", tampered),
        ("no signature", missing),
        ("no timestamp", no_timestamp),
        ("stale", stale),
    ] {
        let response = rig
            .actions
            .handle_action(&headers, &body, SystemTime::now())
            .await;
        assert_eq!(response.status, 401, "{case}: {}", response.body);
    }
    // Body altered after signing.
    let mut altered = body.clone();
    altered.extend_from_slice(b"------");
    let response = rig
        .actions
        .handle_action(&signed_headers(&body, now), &altered, SystemTime::now())
        .await;
    assert_eq!(response.status, 401);
    assert!(rig.queue.jobs.lock().expect("queue").is_empty());
    assert!(rig.sim.requests().is_empty());

    // Slack's signed block_actions vector verifies (at its own time) and its
    // unknown action is acknowledged without doing anything.
    let v = &vectors()["DERIVED_block_actions"];
    let raw = v["raw_body"].as_str().expect("body").as_bytes();
    let ts: u64 = v["X-Slack-Request-Timestamp"]
        .as_str()
        .expect("ts")
        .parse()
        .expect("number");
    let headers = slack_signature_headers(
        &ts.to_string(),
        v["X-Slack-Signature"].as_str().expect("sig"),
    );
    let at = UNIX_EPOCH + Duration::from_secs(ts);
    let response = rig.actions.handle_action(&headers, raw, at).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(response.body.contains("does not handle the action `a`"));
    let response = rig
        .actions
        .handle_action(&headers, raw, at + Duration::from_secs(301))
        .await;
    assert_eq!(
        response.status, 401,
        "the same vector is stale five minutes later"
    );
}

#[tokio::test]
async fn malformed_payloads_get_400_with_the_reason() {
    let rig = actions_rig("malformed").await;
    let cases: [(&[u8], &str); 3] = [
        (b"token=abc", "payload"),
        (b"payload=%7Bnot-json", "payload"),
        (b"payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22restager_retry_failed%22%2C%22value%22%3A%22not-a-run%22%7D%5D%7D", "not a run id"),
    ];
    for (body, reason) in cases {
        let response = rig.click_now(body).await;
        assert_eq!(response.status, 400, "{}", String::from_utf8_lossy(body));
        assert!(response.body.contains(reason), "{}", response.body);
    }
}

#[tokio::test]
async fn a_long_running_process_retries_set_aside_messages_without_flushing() {
    let (sim, ledger, run, _) = run_rig("set-aside", 1).await;
    sim.set_outage(Some(Reply::Json(
        json!({"ok": false, "error": "service_unavailable"}),
    )));
    let config = OutboxConfig {
        set_aside_retry: Duration::from_millis(50),
        ..fast()
    };
    let slack = SlackNotifier::new(sim.api(), CHANNEL, ledger.clone(), config);
    slack.run_started(&run).await.expect("queued");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.requests().len() < 4 {
        assert!(Instant::now() < deadline, "set-aside message never retried");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sim.set_outage(None);
    while slack.pending() > 0 {
        assert!(
            Instant::now() < deadline,
            "set-aside message never delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let view = stored_view(&ledger, &run.run_id).await;
    assert!(view.slack_thread.is_some());
}
