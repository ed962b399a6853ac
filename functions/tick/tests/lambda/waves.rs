//! The Lambda path of a rollout, on moto's SQS (FIFO) and DynamoDB with the
//! CF simulator: the first wave is delivered to two worker invocations at
//! once, and the second wave is released exactly once — by one of the two
//! finishing workers when there is no soak, by one of two concurrent tick
//! invocations when there is one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use cf_sim::SimConfig;
use lambda_runtime::{Context, LambdaEvent};
use restager_shared::discovery;
use restager_shared::domain::{Action, Outcome, RunId};
use restager_shared::ledger::{DynamoLedger, Ledger, RunView};
use restager_shared::queue::{JobSource, SqsQueue};
use test_support::engine::{Harness, RecordingNotifier, app, notice, start_with};
use test_support::moto::{MotoServer, create_ledger_table, create_queue};
use test_support::rollout::scope;
use tick::{Tick, handle};
use worker::Worker;

use super::sqs_event;

struct Aws {
    _moto: MotoServer,
    queue: Arc<SqsQueue>,
    ledger: Arc<DynamoLedger>,
}

async fn aws() -> Aws {
    let moto = MotoServer::start().await;
    let sdk = moto.sdk_config();
    let url = create_queue(&sdk, "jobs", true, None).await;
    let ledger = DynamoLedger::from_sdk_config(&sdk, "restager-ledger");
    create_ledger_table(&aws_sdk_dynamodb::Client::new(&sdk), ledger.table()).await;
    Aws {
        queue: Arc::new(SqsQueue::from_sdk_config(&sdk, &url)),
        ledger: Arc::new(ledger),
        _moto: moto,
    }
}

/// A foundation with two dev apps (wave 1) and three prod apps (wave 2).
async fn foundation() -> Harness {
    let h = start_with(SimConfig::with_apps(0)).await;
    for (name, org, space) in [
        ("dev-a", "acme", "dev"),
        ("dev-b", "beta", "dev"),
        ("prod-a", "acme", "prod"),
        ("prod-b", "acme", "prod"),
        ("prod-c", "beta", "prod"),
    ] {
        let mut spec = app(name);
        spec.org = org.into();
        spec.space = space.into();
        h.sim.add_app(spec);
    }
    h
}

/// Plans the notice and fans the run out onto SQS and DynamoDB.
async fn fan_out(h: &Harness, aws: &Aws, soak: Duration) -> RunId {
    let plan = discovery::plan(
        &h.cf,
        &notice(),
        Action::Restage,
        &scope("*/dev*;*", "1", soak),
    )
    .await
    .expect("plan");
    let run = plan.clone().into_run(chrono::Utc::now());
    let done = discovery::fan_out(
        &run,
        aws.ledger.as_ref(),
        aws.queue.as_ref(),
        &RecordingNotifier::default(),
        chrono::Utc::now(),
    )
    .await
    .expect("fan out");
    assert_eq!(
        (done.queued, done.held),
        (2, 3),
        "wave 1 queued, wave 2 held in DynamoDB"
    );
    plan.run_id
}

/// One Lambda container of the worker function.
fn worker(h: &Harness, aws: &Aws) -> Worker {
    Worker {
        engine: h
            .engine(aws.ledger.clone(), Arc::new(RecordingNotifier::default()))
            .with_queue(aws.queue.clone()),
        queue: aws.queue.clone(),
        flush_timeout: Duration::from_secs(1),
        metrics: Default::default(),
    }
}

/// One Lambda container of the tick function.
fn ticker(h: &Harness, aws: &Aws) -> Tick {
    Tick {
        cf: h.cf.clone(),
        ledger: aws.ledger.clone(),
        queue: aws.queue.clone(),
        notifier: Arc::new(RecordingNotifier::default()),
        max_in_flight: 1,
    }
}

fn context() -> Context {
    let mut ctx = Context::default();
    ctx.request_id = "req".into();
    ctx.deadline = (std::time::SystemTime::now() + Duration::from_secs(60))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as u64;
    ctx
}

/// Everything on the queue, each delivery deleted once read (a FIFO group
/// shows its next message only then), by job id.
async fn drain(queue: &SqsQueue) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    let mut empty = 0;
    while empty < 3 {
        let got = queue
            .receive(10, Duration::from_secs(1))
            .await
            .expect("receive");
        if got.is_empty() {
            empty += 1;
            continue;
        }
        for d in got {
            let job = restager_shared::domain::RestageJob::from_json(&d.body).expect("a job");
            *seen.entry(job.job_id.to_string()).or_default() += 1;
            queue.complete(&d).await.expect("delete");
        }
    }
    seen
}

/// Receives the first wave and lets two worker invocations handle one
/// delivery each, at the same time; deletes what they completed.
async fn two_workers_finish_wave_one(h: &Harness, aws: &Aws) {
    let mut first = Vec::new();
    while first.len() < 2 {
        first.extend(
            aws.queue
                .receive(10, Duration::from_secs(1))
                .await
                .expect("receive"),
        );
    }
    let (a, b) = (worker(h, aws), worker(h, aws));
    let (ra, rb) = futures::join!(
        worker::handle(&a, LambdaEvent::new(sqs_event([&first[0]]), context())),
        worker::handle(&b, LambdaEvent::new(sqs_event([&first[1]]), context())),
    );
    for (response, delivery) in [(ra, &first[0]), (rb, &first[1])] {
        let json = serde_json::to_value(response.expect("handled")).expect("json");
        assert_eq!(json["batchItemFailures"], serde_json::json!([]), "{json}");
        aws.queue.complete(delivery).await.expect("delete");
    }
}

fn releases_of_wave_2(view: &RunView) -> usize {
    view.rollout
        .as_ref()
        .expect("rollout")
        .history
        .iter()
        .filter(|e| e.what.starts_with("released wave 2"))
        .count()
}

async fn view(aws: &Aws, run: &RunId) -> RunView {
    aws.ledger.get_run(run).await.expect("ledger").expect("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_finishing_a_wave_at_once_release_the_next_wave_once() {
    let h = foundation().await;
    let aws = aws().await;
    let run = fan_out(&h, &aws, Duration::ZERO).await;

    two_workers_finish_wave_one(&h, &aws).await;

    let stored = view(&aws, &run).await;
    assert_eq!(releases_of_wave_2(&stored), 1, "{:?}", stored.rollout);
    let queued = drain(&aws.queue).await;
    assert_eq!(queued.len(), 3, "the three prod jobs: {queued:?}");
    assert!(
        queued.values().all(|n| *n == 1),
        "each queued once: {queued:?}"
    );
    let prod_jobs: Vec<String> = stored
        .jobs
        .iter()
        .filter(|j| j.app.space_name == "prod")
        .map(|j| j.job_id.to_string())
        .collect();
    let mut got: Vec<&String> = queued.keys().collect();
    got.sort();
    let mut want: Vec<&String> = prod_jobs.iter().collect();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_the_soak_two_concurrent_ticks_release_the_next_wave_once() {
    let h = foundation().await;
    let aws = aws().await;
    let soak = Duration::from_secs(1);
    let run = fan_out(&h, &aws, soak).await;

    two_workers_finish_wave_one(&h, &aws).await;
    let soaking = view(&aws, &run).await;
    assert_eq!(
        releases_of_wave_2(&soaking),
        0,
        "the workers leave a soaking wave to the tick"
    );
    assert!(drain(&aws.queue).await.is_empty());
    let last = soaking
        .jobs
        .iter()
        .filter(|j| matches!(j.outcome, Some(Outcome::Restaged { .. })))
        .filter_map(|j| j.updated_at)
        .max()
        .expect("wave 1 restaged");
    let soaked = last + chrono::Duration::from_std(soak).expect("soak");
    // The event carries whole seconds: wait a second more.
    while chrono::Utc::now() <= soaked + chrono::Duration::seconds(1) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The tick acts as of its event's time: now, after the soak.
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event = || -> EventBridgeEvent {
        serde_json::from_value(serde_json::json!({
            "version": "0", "id": "tick", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": at, "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/restager-tick"], "detail": {}
        }))
        .expect("an EventBridge event")
    };
    let (one, two) = (ticker(&h, &aws), ticker(&h, &aws));
    let (a, b) = futures::join!(
        handle(&one, LambdaEvent::new(event(), context())),
        handle(&two, LambdaEvent::new(event(), context())),
    );
    let released: usize = [a, b]
        .into_iter()
        .map(|r| r.expect("tick").released.len())
        .sum();
    assert_eq!(released, 1, "one of the two ticks released wave 2");
    assert_eq!(releases_of_wave_2(&view(&aws, &run).await), 1);
    let queued = drain(&aws.queue).await;
    assert_eq!(queued.len(), 3, "{queued:?}");
    assert!(queued.values().all(|n| *n == 1), "{queued:?}");
}
