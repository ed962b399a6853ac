//! The sweep handler called directly with the event EventBridge's schedule
//! delivers, as the runtime's examples test their handlers.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Context, LambdaEvent};
use restager_shared::cf::CfClient;
use restager_shared::config::{CfSettings, ScopeSettings, Secret};
use restager_shared::domain::RestageJob;
use restager_shared::ledger::MemoryLedger;
use restager_shared::notify::LogNotifier;
use restager_shared::queue::{JobQueue, QueueError};
use serde_json::{Value, json};
use sweep::{Sweep, handle};

/// Keeps what it is given (the sweep test counts it).
#[derive(Default)]
struct Kept(std::sync::Mutex<Vec<RestageJob>>);

#[async_trait]
impl JobQueue for Kept {
    async fn enqueue(&self, jobs: &[RestageJob]) -> Result<(), QueueError> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(jobs);
        Ok(())
    }
}

/// A scheduled event exactly as EventBridge delivers it.
fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-01T06:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/restager-sweep"],
        "detail": {}
    })
}

#[tokio::test]
async fn the_schedule_event_runs_the_sweep_and_junk_is_refused() {
    let sim = cf_sim::CfSim::start(cf_sim::SimConfig::with_apps(120))
        .await
        .expect("sim");
    let cf = CfClient::new(&CfSettings {
        api_url: sim.url().parse().expect("url"),
        client_id: sim.client_id().into(),
        client_secret: Secret::new(sim.client_secret()),
        skip_ssl_validation: false,
    })
    .expect("client");
    let queue = Arc::new(Kept::default());
    let sweep = Sweep {
        cf,
        scope: ScopeSettings::default(),
        ledger: Arc::new(MemoryLedger::new()),
        queue: queue.clone(),
        notifier: Arc::new(LogNotifier),
    };
    let event: EventBridgeEvent =
        serde_json::from_value(scheduled_event()).expect("an EventBridge event");

    let report = handle(&sweep, LambdaEvent::new(event, Context::default()))
        .await
        .expect("sweep");
    let report = serde_json::to_value(report).expect("the answer serializes");
    let queued = report["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["queued"].as_u64().expect("n"))
        .sum::<u64>();
    assert!(queued > 0, "{report}");
    assert_eq!(queued as usize, queue.0.lock().expect("lock").len());

    // Anything but an EventBridge event never reaches the handler.
    assert!(
        serde_json::from_value::<EventBridgeEvent>(json!({"hello": "world"})).is_err(),
        "a junk event must not deserialize"
    );
}
