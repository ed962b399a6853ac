//! Putting released jobs on their way: each goes on the queue when its
//! window and the run's minimum release age let a new build start now (or
//! within [`HOLD_MARGIN`]), and is otherwise held in the ledger with the
//! time it may start (`Outcome::Held { until }`), off the queue, for the
//! tick to queue then. SQS could only hide it for 15 minutes and every
//! receive would count against its attempts.
//!
//! Used for a run's first wave (the fan-out), its later waves (the wave
//! gate) and jobs whose hold has ended (the tick), so all three decide alike.
//!
//! [`HOLD_MARGIN`]: crate::window::HOLD_MARGIN

use chrono::{DateTime, Utc};

use super::error::FanOutError;
use crate::domain::{Outcome, RestageJob};
use crate::ledger::{ExpectedJob, Ledger, Rollout, RunRecord};
use crate::notify::Upcoming;
use crate::queue::JobQueue;
use crate::window::{Start, Windows, start};

/// What [`release`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    pub queued: usize,
    /// Held until their window opens (or the release is old enough).
    pub held: usize,
}

/// When `job` may start under `rollout` (its cutoff and minimum release
/// age). A window that does not read (a job from another version) is left
/// to the worker, which refuses to start it and says why.
pub fn start_of(window: Option<&str>, rollout: &Rollout, now: DateTime<Utc>) -> Start {
    let windows = match window.map(Windows::parse) {
        None => Windows::always(),
        Some(Ok(w)) => w,
        Some(Err(_)) => return Start::Now,
    };
    start(&windows, rollout.cutoff(), rollout.not_before, now)
}

/// Queues the jobs that may start now and holds the rest. Holds are
/// recorded first: should queueing fail, the caller's retry queues the
/// others, and a held job is never lost.
pub async fn release(
    jobs: &[RestageJob],
    rollout: &Rollout,
    ledger: &dyn Ledger,
    queue: &dyn JobQueue,
    now: DateTime<Utc>,
) -> Result<Released, FanOutError> {
    let mut go = Vec::new();
    let mut held = 0;
    for job in jobs {
        match start_of(job.window.as_deref(), rollout, now) {
            Start::Now | Start::Soon { .. } => go.push(job.clone()),
            Start::Hold { until, reason, .. } => {
                let outcome = Outcome::Held {
                    reason,
                    until: Some(until),
                };
                ledger
                    .record_outcome(&job.run_id, &job.job_id, &outcome)
                    .await?;
                held += 1;
            }
        }
    }
    if held > 0 {
        crate::metrics::jobs_held(u64::try_from(held).unwrap_or(u64::MAX));
    }
    if !go.is_empty() {
        queue.enqueue(&go).await?;
    }
    Ok(Released {
        queued: go.len(),
        held,
    })
}

/// The run's jobs that cannot start now, with when they may and why: what
/// the advance notice tells their owners. Later waves are listed by their
/// window too, although their wave may make them later still.
pub fn upcoming(record: &RunRecord, rollout: &Rollout, now: DateTime<Utc>) -> Vec<Upcoming> {
    record
        .expected
        .iter()
        .filter_map(
            |e: &ExpectedJob| match start_of(e.window.as_deref(), rollout, now) {
                Start::Hold {
                    until,
                    when,
                    reason,
                } => Some(Upcoming {
                    app: e.app.clone(),
                    at: until,
                    when,
                    reason,
                    slack_channel: e.slack_channel.clone(),
                }),
                Start::Now | Start::Soon { .. } => None,
            },
        )
        .collect()
}
