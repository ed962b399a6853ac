//! The local runner's pulling loop: receive a batch from a [`JobSource`],
//! process it, then complete or hand back each delivery.
//!
//! Shutdown is graceful: once the signal turns true no new batch is
//! received, and restages in flight stop waiting at once and are handed back
//! with a short delay; the next start resumes them from CF's state (their
//! builds and deployments carry the job's label).

use std::time::Duration;

use tokio::sync::watch;

use super::batch::{BatchItem, Disposition, Engine};
use super::deadline::Deadline;
use crate::queue::JobSource;

/// Tuning for [`run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerOptions {
    /// Long-poll wait per receive.
    pub receive_wait: Duration,
    /// Pause after a failed receive.
    pub error_pause: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            receive_wait: Duration::from_secs(10),
            error_pause: Duration::from_secs(5),
        }
    }
}

/// Counters of what a runner did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunnerStats {
    pub batches: u64,
    pub completed: u64,
    pub retried: u64,
    pub queue_errors: u64,
}

/// Pulls and processes jobs until `shutdown` turns true (or its sender is
/// dropped). Queue errors are logged and retried after a pause.
pub async fn run(
    engine: &Engine,
    source: &dyn JobSource,
    mut shutdown: watch::Receiver<bool>,
    options: RunnerOptions,
) -> RunnerStats {
    let mut stats = RunnerStats::default();
    let batch_size = engine.settings().max_concurrent_restages.max(1);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let received = tokio::select! {
            r = source.receive(batch_size, options.receive_wait) => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let deliveries = match received {
            Ok(d) => d,
            Err(e) => {
                stats.queue_errors += 1;
                tracing::warn!(error = %e, "could not receive jobs; pausing");
                tokio::select! {
                    _ = tokio::time::sleep(options.error_pause) => continue,
                    _ = shutdown.wait_for(|s| *s) => break,
                }
            }
        };
        if deliveries.is_empty() {
            continue;
        }
        stats.batches += 1;
        let deadline = Deadline::unbounded(engine.margins()).with_stop_signal(shutdown.clone());
        let items = deliveries.into_iter().map(BatchItem::from).collect();
        let report = engine.process_batch(items, &deadline).await;
        for item in &report.items {
            let settled = match item.disposition {
                Disposition::Complete => {
                    stats.completed += 1;
                    source.complete(&item.delivery).await
                }
                Disposition::RetryAfter(delay) => {
                    stats.retried += 1;
                    source.retry_later(&item.delivery, delay).await
                }
            };
            if let Err(e) = settled {
                // The delivery reappears after its visibility lapses, and
                // the ledger and labels make processing it again harmless.
                stats.queue_errors += 1;
                tracing::warn!(message = %item.delivery.message_id, error = %e, "could not settle a delivery");
            }
        }
    }
    stats
}
