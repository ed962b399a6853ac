//! The SQS event handler: one batch of job messages in, the partial batch
//! response out. Everything but the Lambda types lives in the shared engine.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};
use restager_shared::engine::{BatchItem, Deadline, Disposition, Engine};
use restager_shared::metrics::emf;
use restager_shared::queue::{Delivery, JobSource};
use restager_shared::startup::{Adapters, StartupError};

use crate::WorkerConfig;

/// The function's name in its EMF lines.
pub const FUNCTION: &str = "worker";

/// The longest the notifier's flush may take (it also stops at the deadline).
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handler needs; built once per Lambda container so the CF token
/// cache, concurrency bound and space locks survive warm invocations.
pub struct Worker {
    /// Restages, and tells its notifier (flushed before the invocation returns).
    pub engine: Engine,
    /// Sets the back-off of handed-back messages (ChangeMessageVisibility).
    pub queue: Arc<dyn JobSource>,
    /// The longest a flush may take (it also stops at the deadline).
    pub flush_timeout: Duration,
    /// Where the invocation's metrics go as EMF lines (stdout on Lambda).
    pub metrics: emf::Sink,
}

impl Worker {
    /// Settings → adapters → the worker.
    pub async fn start(config: WorkerConfig) -> Result<Self, StartupError> {
        let adapters = Adapters::open(&config.adapters()).await?;
        Ok(Self {
            engine: adapters.engine(config.worker),
            queue: adapters.queue.source,
            flush_timeout: FLUSH_TIMEOUT,
            metrics: emf::Sink::Stdout,
        })
    }
}

/// Handles one SQS batch. Never fails as a whole for a per-record problem:
/// records to retry are listed in `batchItemFailures`, everything else is
/// deleted by Lambda.
pub async fn handle(
    worker: &Worker,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let (payload, context) = event.into_parts();
    let deadline = deadline_of(worker, &context);
    let items: Vec<BatchItem> = payload.records.into_iter().filter_map(batch_item).collect();
    tracing::info!(request = %context.request_id, records = items.len(), remaining_ms = deadline.remaining().as_millis() as u64, "batch received");

    let report = worker.engine.process_batch(items, &deadline).await;

    // Back-off: hand each retried message back with its own visibility.
    let settle = report.items.iter().filter_map(|item| match item.disposition {
        Disposition::RetryAfter(delay) => Some(async move {
            if let Err(e) = worker.queue.retry_later(&item.delivery, delay).await {
                // It still comes back, after the queue's visibility timeout.
                tracing::warn!(message = %item.delivery.message_id, error = %e, "could not set the retry delay");
            }
        }),
        Disposition::Complete => None,
    });
    futures::future::join_all(settle).await;

    for item in &report.items {
        tracing::info!(
            message = %item.delivery.message_id,
            job = item.job_id.as_ref().map(|j| j.as_str()).unwrap_or("-"),
            outcome = %item.outcome.as_ref().map(|o| o.to_string()).unwrap_or_else(|| "-".into()),
            retry = matches!(item.disposition, Disposition::RetryAfter(_)),
            note = %item.note,
            "delivery settled"
        );
    }

    let budget = worker.flush_timeout.min(
        deadline
            .remaining()
            .saturating_sub(Duration::from_millis(500)),
    );
    let flushed = worker.engine.notifier().flush(budget).await;
    if flushed.pending > 0 {
        tracing::warn!(
            pending = flushed.pending,
            "Slack messages left for the next invocation"
        );
    }

    emf::flush(FUNCTION, &worker.metrics);

    let mut response = SqsBatchResponse::default();
    response.set_failures(report.failures());
    Ok(response)
}

/// The invocation's deadline with the engine's margins. A context without
/// one (only when invoked by hand) is treated as unbounded.
fn deadline_of(worker: &Worker, context: &Context) -> Deadline {
    let margins = worker.engine.margins();
    if context.deadline == 0 {
        tracing::warn!("the invocation has no deadline; running without one");
        return Deadline::unbounded(margins);
    }
    Deadline::from_system_time(
        UNIX_EPOCH + Duration::from_millis(context.deadline),
        margins,
    )
}

/// A record as a delivery. Records without a message id cannot be reported
/// back, so they are logged and left out (Lambda always sets one).
fn batch_item(record: SqsMessage) -> Option<BatchItem> {
    let Some(message_id) = record.message_id.filter(|m| !m.is_empty()) else {
        tracing::error!("SQS record without a message id ignored");
        return None;
    };
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    Some(BatchItem {
        group: record.attributes.get("MessageGroupId").cloned(),
        delivery: Delivery {
            message_id,
            receipt: record.receipt_handle.unwrap_or_default(),
            body: record.body.unwrap_or_default(),
            receive_count,
        },
    })
}
