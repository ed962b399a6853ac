//! The wave gate: wave N+1 goes only when every job of the waves before it
//! is final, the run is within its error budget, and the soak has passed
//! since wave N's last restage (its restaged apps checked for crashes).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Ports, RESTAGER, RolloutError, SWAP_TRIES, budget, soak};
use crate::discovery::{self, FanOutError};
use crate::domain::{Outcome, OutcomeKind, RunId};
use crate::ledger::{ControlEvent, JobRecord, Rollout, RunState, RunView};
use crate::notify::RolloutNews;

/// What asking the gate did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Advance {
    /// The run has no rollout record (recorded before waves existed).
    NoRollout,
    /// Every wave has been released.
    AllReleased,
    /// Not running: paused, halted or aborted.
    Stopped { state: String },
    /// Jobs of released waves are not final yet.
    Waiting { wave: usize, pending: usize },
    /// The finished wave is soaking until then.
    Soaking { wave: usize, until: DateTime<Utc> },
    /// The run was over its budget and halted now.
    Halted,
    /// This call released wave `wave` (0-based): its jobs are queued.
    Released { wave: usize, jobs: usize },
}

/// Asks the gate of `run_id` at `now`, releasing the next wave when it is due.
/// Safe to call from any number of places at once: a wave is released by the
/// one caller whose swap of the rollout record succeeds.
pub async fn advance(
    p: Ports<'_>,
    run_id: &RunId,
    now: DateTime<Utc>,
) -> Result<Advance, RolloutError> {
    for _ in 0..SWAP_TRIES {
        let view = p.known_run(run_id).await?;
        let Some(rollout) = view.rollout.clone() else {
            return Ok(Advance::NoRollout);
        };
        if rollout.state != RunState::Running {
            return Ok(Advance::Stopped {
                state: rollout.state.name().to_string(),
            });
        }
        if budget::exceeded(&view, &rollout) {
            return match budget::halt(p, &view, &rollout, now).await? {
                true => Ok(Advance::Halted),
                false => continue,
            };
        }
        let Some(current) = rollout.released_through() else {
            match release(p, &view, &rollout, 0, now).await? {
                Some(done) => return Ok(done),
                None => continue,
            }
        };
        let next = current + 1;
        if next >= rollout.waves.len() {
            return Ok(Advance::AllReleased);
        }
        let released: Vec<&JobRecord> = view
            .jobs_with_waves()
            .filter(|(_, wave)| (*wave as usize) <= current)
            .map(|(job, _)| job)
            .collect();
        let pending = released.iter().filter(|j| !is_final(j)).count();
        if pending > 0 {
            return Ok(Advance::Waiting {
                wave: current,
                pending,
            });
        }
        let until = soak_end(&view, &rollout, current);
        if let Some(until) = until.filter(|u| now < *u) {
            return Ok(Advance::Soaking {
                wave: current,
                until,
            });
        }
        if !rollout.soak().is_zero() && soak::roll_back_crashed(p, &view, current).await? > 0 {
            // Rollbacks are failures: the budget decides again.
            continue;
        }
        match release(p, &view, &rollout, next, now).await? {
            Some(done) => return Ok(done),
            None => continue,
        }
    }
    Err(RolloutError::Contended(run_id.clone()))
}

fn is_final(job: &JobRecord) -> bool {
    job.outcome.as_ref().is_some_and(Outcome::is_final)
}

/// When wave `wave`'s soak ends: its last restage's end plus the soak.
/// `None` when there is nothing to watch (no app of it was restaged).
fn soak_end(view: &RunView, rollout: &Rollout, wave: usize) -> Option<DateTime<Utc>> {
    // No soak, nothing to wait for: the ledger's times are not compared
    // with the caller's `now`, which may be another clock's.
    if rollout.soak().is_zero() {
        return None;
    }
    let last = view
        .jobs_with_waves()
        .filter(|(_, w)| *w as usize == wave)
        .filter(|(job, _)| {
            job.outcome
                .as_ref()
                .is_some_and(|o| o.kind() == OutcomeKind::Restaged)
        })
        .filter_map(|(job, _)| job.updated_at)
        .max()?;
    let soak = chrono::Duration::from_std(rollout.soak()).ok()?;
    last.checked_add_signed(soak)
}

/// Releases wave `wave` if the rollout is still as read: `None` when
/// someone changed it first (the caller reads again).
async fn release(
    p: Ports<'_>,
    view: &RunView,
    rollout: &Rollout,
    wave: usize,
    now: DateTime<Utc>,
) -> Result<Option<Advance>, RolloutError> {
    let run_id = &view.record.run_id;
    let Some(info) = rollout.waves.get(wave) else {
        return Ok(Some(Advance::AllReleased));
    };
    let jobs: Vec<_> = view
        .record
        .expected
        .iter()
        .filter(|e| e.wave as usize == wave)
        .filter(|e| {
            !view
                .jobs
                .iter()
                .any(|j| j.job_id == e.job_id && is_final(j))
        })
        .filter_map(|e| e.to_job(&view.record))
        .collect();
    let mut next = rollout.next(ControlEvent {
        at: now,
        by: RESTAGER.to_string(),
        what: format!(
            "released wave {} ({}): {} job(s)",
            wave + 1,
            info.name,
            jobs.len()
        ),
    });
    next.waves[wave].released_at = Some(now);
    if !p
        .ledger
        .swap_rollout(run_id, rollout.version, &next)
        .await?
    {
        return Ok(None);
    }
    let released = match discovery::release(&jobs, &next, p.ledger, p.queue, now).await {
        Ok(released) => released,
        Err(FanOutError::Ledger(e)) => return Err(e.into()),
        Err(FanOutError::Queue(source)) => {
            // Hold the wave again so that the next tick retries it; the jobs
            // already sent carry the same deduplication ids then.
            let mut back = next.next(ControlEvent {
                at: now,
                by: RESTAGER.to_string(),
                what: format!("could not queue wave {}: {source}; held again", wave + 1),
            });
            back.waves[wave].released_at = None;
            if !p.ledger.swap_rollout(run_id, next.version, &back).await? {
                tracing::warn!(run = %run_id, wave = wave + 1, "a wave that could not be queued was changed meanwhile; the tick sorts it out");
            }
            return Err(RolloutError::Queue {
                run_id: run_id.clone(),
                source,
            });
        }
    };
    tracing::info!(run = %run_id, wave = wave + 1, name = %info.name, jobs = jobs.len(),
        queued = released.queued, held = released.held, "wave released");
    crate::metrics::wave_released();
    if wave > 0 {
        // What went on the queue; the rest waits for its window, as the
        // advance notice said.
        let news = RolloutNews::WaveReleased {
            wave,
            jobs: released.queued,
        };
        if let Err(e) = p.notifier.rollout_changed(view, &news).await {
            tracing::warn!(run = %run_id, error = %e, "could not tell that a wave was released");
        }
    }
    Ok(Some(Advance::Released {
        wave,
        jobs: jobs.len(),
    }))
}
