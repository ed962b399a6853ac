//! The Lambda handler called directly with a constructed `SqsEvent`, against
//! the CF simulator: partial batch failures, back-off visibility per
//! message, and the restage itself as the simulator saw it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use cf_sim::{Fault, FaultRule, StagingFailure};
use lambda_runtime::{Context, LambdaEvent};
use restager_shared::engine::Engine;
use restager_shared::metrics::{emf, names};
use restager_shared::queue::JobSource;
use test_support::engine::*;
use worker::{Worker, handle};

fn record(id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.receipt_handle = Some(format!("receipt-{id}"));
    m.body = Some(body.into());
    m.attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    m
}

fn lambda_worker(engine: Engine, queue: Arc<dyn JobSource>, metrics: emf::Sink) -> Worker {
    Worker {
        engine,
        queue,
        flush_timeout: Duration::from_secs(1),
        metrics,
    }
}

/// One invocation with these records and `left` until its deadline.
async fn invoke(
    worker: &Worker,
    records: Vec<SqsMessage>,
    left: Duration,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut event = SqsEvent::default();
    event.records = records;
    handle(worker, LambdaEvent::new(event, context(left))).await
}

fn context(left: Duration) -> Context {
    let mut ctx = Context::default();
    ctx.request_id = "req-1".into();
    let at = SystemTime::now() + left;
    ctx.deadline = at
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as u64;
    ctx
}

#[tokio::test]
async fn a_batch_reports_only_retryable_records_and_sets_their_back_off() {
    let h = start().await;
    let good = h.sim.add_app(app("good"));
    let mut busy_spec = app("busy");
    busy_spec.space = "busy-space".into();
    let busy = h.sim.add_app(busy_spec);
    h.sim
        .set_fault(FaultRule::app(&busy, Fault::ConcurrentStaging));
    let ledger = Arc::new(FaultyLedger::default());
    let jobs = h.planned(&ledger, &[good.clone(), busy.clone()]).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let queue = Arc::new(RecordingSource::default());
    let worker = lambda_worker(
        h.engine(ledger.clone(), notifier.clone()),
        queue.clone(),
        emf::Sink::default(),
    );
    let records = vec![
        record("ok", &jobs[0].to_json(), 1),
        record("poison", "{not json", 1),
        record("deferred", &jobs[1].to_json(), 2),
    ];

    let response = invoke(&worker, records, Duration::from_secs(30))
        .await
        .expect("the handler never fails the whole batch");

    let json = serde_json::to_value(&response).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({"batchItemFailures": [
            {"itemIdentifier": "poison"}, {"itemIdentifier": "deferred"}
        ]})
    );
    let mut changes: Vec<(String, Duration)> = queue
        .retried()
        .into_iter()
        .map(|(d, delay)| (d.receipt, delay))
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        vec![
            ("receipt-deferred".to_string(), Duration::from_secs(60)),
            ("receipt-poison".to_string(), Duration::from_secs(900)),
        ],
        "back-off from ApproximateReceiveCount; poison waits longest"
    );
    assert_eq!(client_builds(&h.sim, &good), 1);
    assert_eq!(client_deployments(&h.sim, &good), 1);
    assert_eq!(h.version_of(&good).as_deref(), Some(TARGET));
    assert_eq!(client_builds(&h.sim, &busy), 0);
    assert_eq!(notifier.finished().len(), 2);
}

#[tokio::test]
async fn an_invocation_near_its_deadline_starts_nothing_and_hands_everything_back() {
    let h = start().await;
    let guid = h.sim.add_app(app("late"));
    let ledger = Arc::new(FaultyLedger::default());
    let jobs = h.planned(&ledger, std::slice::from_ref(&guid)).await;
    let queue = Arc::new(RecordingSource::default());
    let worker = lambda_worker(
        h.engine(ledger, Arc::new(RecordingNotifier::default())),
        queue.clone(),
        emf::Sink::default(),
    );
    let records = vec![record("m", &jobs[0].to_json(), 1)];

    let response = invoke(&worker, records, Duration::from_millis(50))
        .await
        .expect("handled");

    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(queue.retried().len(), 1);
    assert!(build_posts(&h.sim).is_empty() && deployment_posts(&h.sim).is_empty());
}

/// The EMF lines' JSON Schema, as documented in shared/schema.
const EMF_SCHEMA: &str = include_str!("../../../shared/schema/emf.schema.json");

/// What the schema cannot say: every dimension and metric the directive
/// names is a root member, every metric is one restager lists for EMF.
fn assert_self_consistent(line: &serde_json::Value) {
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    for key in directive["Dimensions"][0]
        .as_array()
        .expect("a dimension set")
    {
        let key = key.as_str().expect("a dimension name");
        assert!(
            line[key].is_string(),
            "dimension {key} has no value: {line}"
        );
    }
    for metric in directive["Metrics"].as_array().expect("metrics") {
        let name = metric["Name"].as_str().expect("a metric name");
        let listed = names::find(name).unwrap_or_else(|| panic!("{name} is not in names.rs"));
        assert!(listed.emf, "{name} is not an EMF metric");
        assert_eq!(metric["Unit"], listed.unit.emf(), "{line}");
        let mut dims: Vec<&str> = listed.labels.to_vec();
        dims.sort_unstable();
        assert_eq!(
            directive["Dimensions"][0],
            serde_json::json!(dims),
            "{line}"
        );
        assert!(
            line[name].is_number() || line[name].is_array(),
            "{name} has no value: {line}"
        );
    }
}

#[tokio::test]
async fn an_invocation_writes_its_metrics_as_emf_lines_of_the_documented_schema() {
    assert!(emf::install(), "this test process has no other recorder");
    let h = start().await;
    let good = h.sim.add_app(app("good"));
    let mut broken_spec = app("broken");
    broken_spec.space = "broken-space".into();
    let broken = h.sim.add_app(broken_spec);
    h.sim.set_fault(FaultRule::app(
        &broken,
        Fault::StagingFails(StagingFailure::BuildpackCompileFailed),
    ));
    let ledger = Arc::new(FaultyLedger::default());
    let jobs = h.planned(&ledger, &[good.clone(), broken.clone()]).await;
    let (sink, lines) = emf::Sink::buffer();
    let worker = lambda_worker(
        h.engine(ledger.clone(), Arc::new(RecordingNotifier::default())),
        Arc::new(RecordingSource::default()),
        sink,
    );
    let records = vec![
        record("good", &jobs[0].to_json(), 1),
        record("broken", &jobs[1].to_json(), 1),
    ];
    invoke(&worker, records, Duration::from_secs(30))
        .await
        .expect("the handler never fails the whole batch");

    let lines = lines.lock().expect("lock").clone();
    assert!(!lines.is_empty(), "no EMF line was written");
    let schema: serde_json::Value = serde_json::from_str(EMF_SCHEMA).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| {
            assert!(!l.contains('\n'), "one line per document: {l}");
            let doc: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{l} does not match the schema: {errors:?}"
            );
            assert_self_consistent(&doc);
            assert_eq!(doc["function"], "worker");
            doc
        })
        .collect();
    let restages = |outcome: &str| {
        parsed
            .iter()
            .filter(|d| d["outcome"] == outcome)
            .filter_map(|d| d["restager_restages_total"].as_f64())
            .sum::<f64>()
    };
    assert_eq!(restages("restaged"), 1.0, "{lines:?}");
    assert_eq!(restages("failed"), 1.0, "{lines:?}");
    assert!(
        parsed.iter().any(|d| d["endpoint"] == "builds"
            && d["method"] == "POST"
            && d["restager_cc_requests_total"].is_number()),
        "{lines:?}"
    );
    assert!(
        parsed
            .iter()
            .any(|d| d["restager_cc_request_duration_seconds"].is_array()),
        "{lines:?}"
    );
}
