//! Queueing jobs held until a time (their maintenance window opens, the
//! release is old enough) once that time has come: the tick's other job.
//!
//! Exactly once however many ticks run at once: the release is claimed by
//! swapping the rollout record from the version read, moving its
//! `holds_released_through` past the holds it queues and bumping its
//! generation, so a second tick that read the same run finds nothing left
//! to queue, and the queued jobs get deduplication ids no earlier send of
//! theirs had (a FIFO queue would drop those as repeats). A hold recorded
//! after the read ends at least [`HOLD_MARGIN`] later, past what was
//! claimed, so it is never passed over.
//!
//! [`HOLD_MARGIN`]: crate::window::HOLD_MARGIN

use chrono::{DateTime, Utc};

use super::{Ports, RESTAGER, RolloutError, SWAP_TRIES};
use crate::discovery::{self, FanOutError};
use crate::domain::{Outcome, RestageJob, RunId};
use crate::ledger::{ControlEvent, RunState, RunView};

/// Queues the held jobs of `run_id` whose hold ended by `now`; how many.
pub async fn release_due(
    p: Ports<'_>,
    run_id: &RunId,
    now: DateTime<Utc>,
) -> Result<usize, RolloutError> {
    for _ in 0..SWAP_TRIES {
        let view = p.known_run(run_id).await?;
        let Some(rollout) = view.rollout.clone() else {
            return Ok(0);
        };
        if rollout.state != RunState::Running {
            return Ok(0);
        }
        let (jobs, through) = due(&view, now);
        let Some(through) = through else {
            return Ok(0);
        };
        let mut next = rollout.next(ControlEvent {
            at: now,
            by: RESTAGER.to_string(),
            what: format!(
                "queued {} held job(s) whose window opened (holds through {})",
                jobs.len(),
                through.format("%Y-%m-%d %H:%M UTC")
            ),
        });
        next.holds_released_through = Some(through);
        next.generation = rollout.generation.saturating_add(1);
        if !p
            .ledger
            .swap_rollout(run_id, rollout.version, &next)
            .await?
        {
            continue;
        }
        let jobs: Vec<RestageJob> = jobs
            .into_iter()
            .map(|j| j.released_as(next.generation))
            .collect();
        return match discovery::release(&jobs, &next, p.ledger, p.queue, now).await {
            Ok(released) => {
                tracing::info!(run = %run_id, queued = released.queued, held_again = released.held, "held jobs released");
                Ok(released.queued)
            }
            Err(FanOutError::Ledger(e)) => Err(e.into()),
            Err(FanOutError::Queue(source)) => {
                // Unclaim them, so that the next tick queues them again.
                let mut back = next.next(ControlEvent {
                    at: now,
                    by: RESTAGER.to_string(),
                    what: format!("could not queue the held jobs ({source}); held again"),
                });
                back.holds_released_through = rollout.holds_released_through;
                if !p.ledger.swap_rollout(run_id, next.version, &back).await? {
                    tracing::warn!(run = %run_id, "held jobs that could not be queued were changed meanwhile; the tick sorts it out");
                }
                Err(RolloutError::Queue {
                    run_id: run_id.clone(),
                    source,
                })
            }
        };
    }
    Err(RolloutError::Contended(run_id.clone()))
}

/// The held jobs of released waves whose hold ended by `now` and was not
/// released before, and the latest such end.
fn due(view: &RunView, now: DateTime<Utc>) -> (Vec<RestageJob>, Option<DateTime<Utc>>) {
    let Some(rollout) = &view.rollout else {
        return (Vec::new(), None);
    };
    let already = rollout.holds_released_through;
    let mut through = None;
    let mut jobs = Vec::new();
    for (job, wave) in view.jobs_with_waves() {
        let Some(Outcome::Held {
            until: Some(until), ..
        }) = &job.outcome
        else {
            continue;
        };
        if *until > now || already.is_some_and(|a| *until <= a) || !rollout.is_released(wave) {
            continue;
        }
        let rebuilt = view
            .record
            .expected
            .iter()
            .find(|e| e.job_id == job.job_id)
            .and_then(|e| e.to_job(&view.record));
        if let Some(rebuilt) = rebuilt {
            jobs.push(rebuilt);
            through = through.max(Some(*until));
        }
    }
    (jobs, through)
}
