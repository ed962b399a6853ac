//! The notifier port: telling people what a run is doing.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{Outcome, RestageJob};
use crate::ledger::{RunRecord, RunView};

/// A change in a run's course, told in its thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutNews {
    /// Wave `wave` (0-based) was queued.
    WaveReleased {
        wave: usize,
        jobs: usize,
    },
    /// The error budget ran out; `failures` names the failed apps.
    Halted {
        reason: String,
        failures: Vec<String>,
    },
    Paused {
        by: String,
    },
    Resumed {
        by: String,
        requeued: usize,
    },
    Aborted {
        by: String,
        skipped: usize,
    },
}

impl std::fmt::Display for RolloutNews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RolloutNews::WaveReleased { wave, jobs } => {
                write!(f, "wave {} released: {jobs} job(s) queued", wave + 1)
            }
            RolloutNews::Halted { reason, failures } => {
                write!(f, "{reason}: {}", failures.join("; "))
            }
            RolloutNews::Paused { by } => write!(f, "paused by {by}"),
            RolloutNews::Resumed { by, requeued } => {
                write!(f, "resumed by {by}: {requeued} held job(s) queued again")
            }
            RolloutNews::Aborted { by, skipped } => {
                write!(f, "aborted by {by}: {skipped} job(s) recorded as skipped")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notification channel unavailable: {0}")]
    Unavailable(String),
    #[error("notification rejected: {0}")]
    Rejected(String),
}

/// What a [`Notifier::flush`] achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Deliveries that succeeded during the flush.
    pub delivered: u64,
    /// Messages still held (kept for the next flush).
    pub pending: usize,
}

/// Implementations must never make a restage fail or repeat: callers log
/// errors and carry on.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// A run was fanned out.
    async fn run_started(&self, run: &RunRecord) -> Result<(), NotifyError>;
    /// One app reached an outcome (final or not).
    async fn app_finished(&self, job: &RestageJob, outcome: &Outcome) -> Result<(), NotifyError>;
    /// The run's last job finished; called once per run.
    async fn run_completed(&self, run: &RunView) -> Result<(), NotifyError>;

    /// A wave went, the run halted, or someone paused, resumed or aborted
    /// it; called once per change (by whoever made it).
    async fn rollout_changed(&self, run: &RunView, news: &RolloutNews) -> Result<(), NotifyError> {
        tracing::info!(run = %run.record.run_id, %news, "rollout changed");
        Ok(())
    }

    /// Delivers what is still held, for up to `budget`: before a Lambda
    /// invocation returns (the process is frozen after) and at shutdown.
    /// Nothing is held by default.
    async fn flush(&self, _budget: Duration) -> FlushReport {
        FlushReport::default()
    }

    /// Messages held for delivery.
    fn pending(&self) -> usize {
        0
    }
}

/// For deployments without Slack: results go to the ledger and logs only.
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn run_started(&self, run: &RunRecord) -> Result<(), NotifyError> {
        tracing::info!(run = %run.run_id, notice = %run.notice, queued = run.expected.len(), skipped = run.skipped.len(), "run started");
        Ok(())
    }

    async fn app_finished(&self, job: &RestageJob, outcome: &Outcome) -> Result<(), NotifyError> {
        tracing::info!(run = %job.run_id, app = %job.app.name, space = %job.app.space_name, %outcome, "app finished");
        Ok(())
    }

    async fn run_completed(&self, run: &RunView) -> Result<(), NotifyError> {
        tracing::info!(run = %run.record.run_id, finished = run.finished_jobs(), "run completed");
        Ok(())
    }
}
