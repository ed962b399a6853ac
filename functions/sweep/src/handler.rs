//! The scheduled event's handler: sweep, then give Slack a bounded moment to
//! deliver before the process is frozen.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use restager_shared::cf::CfClient;
use restager_shared::config::ScopeSettings;
use restager_shared::discovery::{self, SweepError, SweepReport};
use restager_shared::ledger::Ledger;
use restager_shared::metrics::emf;
use restager_shared::notify::Notifier;
use restager_shared::queue::JobQueue;
use restager_shared::startup::{Adapters, StartupError};

use crate::SweepConfig;

/// How long an invocation waits for the Slack messages it caused.
pub const SLACK_FLUSH_BUDGET: Duration = Duration::from_secs(2);

/// What the handler needs; built once per container.
pub struct Sweep {
    pub cf: CfClient,
    pub scope: ScopeSettings,
    pub ledger: Arc<dyn Ledger>,
    pub queue: Arc<dyn JobQueue>,
    pub notifier: Arc<dyn Notifier>,
}

impl Sweep {
    /// Settings → adapters → the sweep.
    pub async fn start(config: SweepConfig) -> Result<Self, StartupError> {
        let adapters = Adapters::open(&config.adapters()).await?;
        Ok(Self {
            cf: adapters.cf,
            scope: config.scope,
            ledger: adapters.ledger,
            queue: adapters.queue.jobs,
            notifier: adapters.notifier,
        })
    }
}

/// The sweep did not finish; the runs queued before it stay queued.
#[derive(Debug, thiserror::Error)]
#[error("the sweep did not finish: {0}; the runs before it stay queued, the next sweep resumes")]
pub struct SweepFailed(#[from] pub SweepError);

impl From<SweepFailed> for lambda_runtime::Diagnostic {
    /// A named error type, so CloudWatch tells a failed sweep apart.
    fn from(e: SweepFailed) -> Self {
        Self {
            error_type: "SweepFailed".to_string(),
            error_message: e.to_string(),
        }
    }
}

/// One scheduled event (any EventBridge event: the schedule is all that
/// invokes this function): queue every outdated app in scope.
pub async fn handle(
    sweep: &Sweep,
    event: LambdaEvent<EventBridgeEvent>,
) -> Result<SweepReport, SweepFailed> {
    let (schedule, context) = event.into_parts();
    tracing::info!(request = %context.request_id, source = %schedule.source, detail_type = %schedule.detail_type, "sweep started");
    let report = discovery::sweep(
        &sweep.cf,
        &sweep.scope,
        sweep.ledger.as_ref(),
        sweep.queue.as_ref(),
        sweep.notifier.as_ref(),
        chrono::Utc::now(),
    )
    .await;
    let flushed = sweep.notifier.flush(SLACK_FLUSH_BUDGET).await;
    if flushed.pending > 0 {
        tracing::warn!(
            pending = flushed.pending,
            "Slack messages left for a later invocation"
        );
    }
    emf::flush("sweep", &emf::Sink::Stdout);
    let report = report?;
    tracing::info!(
        runs = report.runs.len(),
        queued = report.queued(),
        cf_requests = report.cf_requests,
        "sweep done"
    );
    Ok(report)
}
