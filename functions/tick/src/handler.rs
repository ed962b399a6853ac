//! The scheduled event's handler: ask every unfinished run's gate, then
//! give Slack a bounded moment to deliver before the process is frozen.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use restager_shared::cf::CfClient;
use restager_shared::ledger::{Ledger, LedgerError};
use restager_shared::metrics::emf;
use restager_shared::notify::Notifier;
use restager_shared::queue::JobQueue;
use restager_shared::rollout::{self, Ports, TickReport};
use restager_shared::startup::{Adapters, StartupError};

use crate::TickConfig;

/// How long an invocation waits for the Slack messages it caused.
pub const SLACK_FLUSH_BUDGET: Duration = Duration::from_secs(2);

/// What the handler needs; built once per container.
pub struct Tick {
    pub cf: CfClient,
    pub ledger: Arc<dyn Ledger>,
    pub queue: Arc<dyn JobQueue>,
    pub notifier: Arc<dyn Notifier>,
    pub max_in_flight: u32,
}

impl Tick {
    /// Settings → adapters → the tick.
    pub async fn start(config: TickConfig) -> Result<Self, StartupError> {
        let adapters = Adapters::open(&config.adapters()).await?;
        Ok(Self {
            cf: adapters.cf,
            ledger: adapters.ledger,
            queue: adapters.queue.jobs,
            notifier: adapters.notifier,
            max_in_flight: config.worker.max_in_flight,
        })
    }

    pub fn ports(&self) -> Ports<'_> {
        Ports {
            cf: &self.cf,
            ledger: self.ledger.as_ref(),
            queue: self.queue.as_ref(),
            notifier: self.notifier.as_ref(),
            max_in_flight: self.max_in_flight,
        }
    }
}

/// The ledger could not list the runs; the next tick tries again.
#[derive(Debug, thiserror::Error)]
#[error("the tick could not read the runs: {0}; the next tick tries again")]
pub struct TickFailed(#[from] pub LedgerError);

impl From<TickFailed> for lambda_runtime::Diagnostic {
    fn from(e: TickFailed) -> Self {
        Self {
            error_type: "TickFailed".to_string(),
            error_message: e.to_string(),
        }
    }
}

/// One scheduled event: every unfinished run asked at its gate, once.
///
/// The tick acts as of the event's time (when the schedule fired), never
/// later than the clock: a retried invocation acts no further than it was
/// due to, and an event with a future time (a hand-made test event) cannot
/// end soaks or holds early.
pub async fn handle(
    tick: &Tick,
    event: LambdaEvent<EventBridgeEvent>,
) -> Result<TickReport, TickFailed> {
    let (schedule, context) = event.into_parts();
    tracing::debug!(request = %context.request_id, source = %schedule.source, time = ?schedule.time, "tick");
    let clock = chrono::Utc::now();
    let now = schedule.time.map_or(clock, |t| t.min(clock));
    let report = rollout::tick(tick.ports(), now).await;
    let flushed = tick.notifier.flush(SLACK_FLUSH_BUDGET).await;
    if flushed.pending > 0 {
        tracing::warn!(
            pending = flushed.pending,
            "Slack messages left for a later invocation"
        );
    }
    emf::flush("tick", &emf::Sink::Stdout);
    let report = report?;
    if !report.released.is_empty() || !report.unheld.is_empty() || !report.errors.is_empty() {
        tracing::info!(
            runs = report.runs,
            released = report.released.len(),
            unheld = report.unheld.len(),
            errors = report.errors.len(),
            "tick done"
        );
    }
    Ok(report)
}
