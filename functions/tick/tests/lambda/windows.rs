//! The Lambda path with windows, on moto's SQS and DynamoDB and the CF
//! simulator: the webhook function plans a GitHub release at 10:00 Berlin
//! time, the worker function restages dev at once while prod is held in
//! DynamoDB (not on the queue), an owner restages one prod app at 01:00,
//! and at 02:00 two schedule events handled at once release the held jobs
//! exactly once. The clock is the test's: the webhook's, the worker
//! engine's and the schedule events' times.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use lambda_runtime::{Context, LambdaEvent};
use restager_shared::config::{IntakeSettings, ScopeSettings, Secret, WindowSettings};
use restager_shared::domain::{Outcome, OutcomeKind, RunId};
use restager_shared::ledger::{DynamoLedger, Ledger, RunView};
use restager_shared::queue::{Delivery, JobQueue, JobSource, SqsQueue};
use restager_shared::signature::github;
use restager_shared::webhook::{Router, RouterDeps};
use restager_shared::window::Windows;
use serde_json::json;
use test_support::engine::{RecordingNotifier, TARGET, app, client_builds, start};
use test_support::moto::{MotoServer, create_ledger_table, create_queue};
use test_support::rollout::{SimClock, at};
use tick::Tick;
use worker::Worker;

const SECRET: &str = "lambda-path-secret";
const TABLE: &str = "restager-ledger";

fn app_in(name: &str, space: &str) -> cf_sim::AppSpec {
    let mut spec = app(name);
    spec.org = "acme".into();
    spec.space = space.into();
    spec
}

/// A `release` delivery of ruby-buildpack's target version, as GitHub signs it.
fn github_release() -> lambda_http::Request {
    let body = serde_json::to_vec(&json!({
        "action": "published",
        "release": {"id": 7, "tag_name": format!("v{TARGET}"), "name": TARGET, "body": null,
                    "draft": false, "prerelease": false, "published_at": "2021-11-30T00:00:00Z",
                    "html_url": format!("https://github.com/cloudfoundry/ruby-buildpack/releases/tag/v{TARGET}")},
        "repository": {"id": 9, "full_name": "cloudfoundry/ruby-buildpack"},
    }))
    .expect("serializes");
    let signature = github::sign(&Secret::new(SECRET), &body);
    http::Request::builder()
        .method("POST")
        .uri("/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", "release")
        .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .header("x-hub-signature-256", signature)
        .body(lambda_http::Body::Binary(body))
        .expect("request")
}

/// A scheduled event as EventBridge delivers it, fired at `time`.
fn schedule_at(time: DateTime<Utc>) -> LambdaEvent<EventBridgeEvent> {
    let event = serde_json::from_value(json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.to_rfc3339(),
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/restager-tick"],
        "detail": {}
    }))
    .expect("an EventBridge event");
    LambdaEvent::new(event, Context::default())
}

/// What the Lambda event source does: receive a batch, hand it to the
/// worker function, delete what it did not list as failed.
async fn deliver(worker: &Worker, queue: &SqsQueue, expected: usize) -> usize {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut got: Vec<Delivery> = Vec::new();
    while got.len() < expected && tokio::time::Instant::now() < give_up {
        got.extend(
            queue
                .receive(10, Duration::from_millis(200))
                .await
                .expect("receive"),
        );
    }
    assert_eq!(got.len(), expected, "messages on the queue");
    let event = super::sqs_event(&got);
    let mut context = Context::default();
    let deadline = SystemTime::now() + Duration::from_secs(120);
    context.deadline = deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as u64;
    let response = worker::handle(worker, LambdaEvent::new(event, context))
        .await
        .expect("the worker answers");
    let failed = serde_json::to_value(&response).expect("serializes")["batchItemFailures"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(failed, 0, "{response:?}");
    for d in &got {
        queue.complete(d).await.expect("deleted, as Lambda does");
    }
    got.len()
}

fn outcome_of<'a>(view: &'a RunView, guid: &str) -> Option<&'a Outcome> {
    view.jobs
        .iter()
        .find(|j| j.app.guid == guid)
        .and_then(|j| j.outcome.as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prod_is_held_in_dynamodb_and_two_concurrent_schedule_ticks_release_it_once() {
    let h = start().await;
    let dev = h.sim.add_app(app_in("dev-a", "dev"));
    let prod = h.sim.add_app(app_in("prod-a", "prod"));
    let owned = h.sim.add_app(app_in("prod-b", "prod"));
    assert!(
        h.sim
            .set_space_annotation("acme", "dev", "restager.io/window", "always")
    );
    assert!(h.sim.set_space_annotation(
        "acme",
        "prod",
        "restager.io/window",
        "Mon-Sun 02:00-06:00 Europe/Berlin"
    ));

    let moto = MotoServer::start().await;
    let sdk = moto.sdk_config();
    let url = create_queue(&sdk, "jobs", true, Some(8)).await;
    create_ledger_table(&aws_sdk_dynamodb::Client::new(&sdk), TABLE).await;
    let ledger: Arc<dyn Ledger> = Arc::new(DynamoLedger::from_sdk_config(&sdk, TABLE));
    let sqs = Arc::new(SqsQueue::from_sdk_config(&sdk, &url));
    let notifier = Arc::new(RecordingNotifier::default());
    let clock = SimClock::default();

    // 10:00 in Berlin: the webhook function plans the release.
    clock.set(at("2021-12-03T09:00:00Z"));
    let planned_at = clock.now();
    let router = Router::new(RouterDeps {
        intake: IntakeSettings {
            github_secrets: vec![Secret::new(SECRET)],
            scope: ScopeSettings {
                windows: WindowSettings {
                    windows: Windows::always(),
                    ..WindowSettings::default()
                },
                ..ScopeSettings::default()
            },
            ..IntakeSettings::default()
        },
        cf: h.cf.clone(),
        queue: sqs.clone() as Arc<dyn JobQueue>,
        ledger: ledger.clone(),
        notifier: notifier.clone(),
        slack_actions: None,
    })
    .with_clock(Arc::new(move || SystemTime::from(planned_at)));
    let response = webhook::handler::handle(&router, github_release())
        .await
        .expect("infallible");
    assert_eq!(response.status(), 202, "{:?}", response.body());
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).expect("json");
    assert_eq!(
        (body["queued"].as_u64(), body["held"].as_u64()),
        (Some(1), Some(2)),
        "{body}"
    );
    let run = RunId::for_release(&test_support::engine::notice().release_key());

    // Held in DynamoDB with the opening, and announced.
    let view = ledger.get_run(&run).await.expect("ledger").expect("run");
    assert_eq!(view.record.released_at, Some(at("2021-11-30T00:00:00Z")));
    for guid in [&prod, &owned] {
        assert_eq!(
            outcome_of(&view, guid),
            Some(&Outcome::Held {
                reason:
                    "held: waits for its maintenance window, Sat 4 Dec 02:00 CET (Europe/Berlin)"
                        .into(),
                until: Some(at("2021-12-04T01:00:00Z")),
            })
        );
    }
    let advance = notifier.advance();
    assert_eq!(advance.len(), 1);
    assert_eq!(advance[0].1.len(), 2);

    // The worker function restages dev; only dev was on the queue.
    let worker = Worker {
        engine: h
            .engine(ledger.clone(), notifier.clone())
            .with_queue(sqs.clone())
            .with_clock(clock.clock()),
        queue: sqs.clone(),
        flush_timeout: Duration::from_secs(1),
        metrics: Default::default(),
    };
    assert_eq!(deliver(&worker, &sqs, 1).await, 1);
    let view = ledger.get_run(&run).await.expect("ledger").expect("run");
    assert_eq!(
        outcome_of(&view, &dev).map(Outcome::kind),
        Some(OutcomeKind::Restaged)
    );

    // 01:00: the owner restages prod-b; a tick then releases nothing.
    let tick = Tick {
        cf: h.cf.clone(),
        ledger: ledger.clone(),
        queue: sqs.clone(),
        notifier: notifier.clone(),
        max_in_flight: 1,
    };
    clock.set(at("2021-12-04T00:00:00Z"));
    h.sim.human_push(&owned).expect("the owner's push");
    let early = tick::handle(&tick, schedule_at(clock.now()))
        .await
        .expect("tick");
    assert!(early.unheld.is_empty(), "{early:?}");

    // 02:00: two schedule events at once; one releases both held jobs.
    clock.set(at("2021-12-04T01:00:00Z"));
    let (a, b) = futures::join!(
        tick::handle(&tick, schedule_at(clock.now())),
        tick::handle(&tick, schedule_at(clock.now())),
    );
    let released: Vec<usize> = [a.expect("tick"), b.expect("tick")]
        .iter()
        .flat_map(|r| r.unheld.iter().map(|(_, n)| *n))
        .collect();
    assert_eq!(released, vec![2], "one tick released them");
    assert_eq!(deliver(&worker, &sqs, 2).await, 2, "each queued once");
    let nothing_more = sqs
        .receive(10, Duration::from_millis(300))
        .await
        .expect("receive");
    assert!(nothing_more.is_empty(), "{nothing_more:?}");

    let view = ledger.get_run(&run).await.expect("ledger").expect("run");
    assert!(view.completed_at.is_some(), "{:?}", view.jobs);
    assert_eq!(
        outcome_of(&view, &prod).map(Outcome::kind),
        Some(OutcomeKind::Restaged)
    );
    assert!(outcome_of(&view, &owned).is_some_and(Outcome::is_done_by_owner));
    assert_eq!(client_builds(&h.sim, &prod), 1, "restaged exactly once");
    assert_eq!(client_builds(&h.sim, &owned), 0);
}
