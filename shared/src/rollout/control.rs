//! Pausing, resuming and aborting a run by hand: from `restager
//! pause|resume|abort`, the Slack buttons and `serve`'s admin routes alike.
//!
//! - pause: no new restage starts (jobs delivered meanwhile are held);
//! - resume: the run goes on, its budget re-armed from the failures so far,
//!   and the jobs it held are queued again (with the rollout's new
//!   generation in their deduplication id, which a FIFO queue would
//!   otherwise drop as repeats);
//! - abort: every job not final is recorded as skipped "aborted by <who>".

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Ports, RolloutError, SWAP_TRIES, gate};
use crate::domain::{Outcome, RunId};
use crate::ledger::{ControlEvent, Rollout, RunState, RunView};
use crate::notify::RolloutNews;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Pause,
    Resume,
    Abort,
}

impl std::str::FromStr for Command {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pause" => Ok(Self::Pause),
            "resume" => Ok(Self::Resume),
            "abort" => Ok(Self::Abort),
            other => Err(format!(
                "`{other}` is not a run control: pause, resume or abort"
            )),
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Abort => "abort",
        })
    }
}

/// What a control did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ControlReport {
    pub run_id: RunId,
    /// The run's state afterwards.
    pub state: String,
    /// Held jobs queued again (resume).
    pub requeued: usize,
    /// Jobs recorded as skipped (abort).
    pub skipped: usize,
    /// One sentence for a person.
    pub message: String,
}

/// Applies `command` to `run_id` on behalf of `by` (recorded).
pub async fn apply(
    p: Ports<'_>,
    run_id: &RunId,
    command: Command,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ControlReport, RolloutError> {
    for _ in 0..SWAP_TRIES {
        let view = p.known_run(run_id).await?;
        let rollout = view
            .rollout
            .clone()
            .ok_or_else(|| RolloutError::NoRollout(run_id.clone()))?;
        refuse_if_inapplicable(&view, &rollout, command)?;
        let mut next = rollout.next(ControlEvent {
            at: now,
            by: by.to_string(),
            what: command.to_string(),
        });
        next.state = match command {
            Command::Pause => RunState::Paused {
                by: by.to_string(),
                at: now,
            },
            Command::Resume => RunState::Running,
            Command::Abort => RunState::Aborted {
                by: by.to_string(),
                at: now,
            },
        };
        if command == Command::Resume {
            next.forgiven = view.failures();
            next.generation = rollout.generation.saturating_add(1);
        }
        if !p
            .ledger
            .swap_rollout(run_id, rollout.version, &next)
            .await?
        {
            continue;
        }
        tracing::info!(run = %run_id, %by, %command, "run control applied");
        return match command {
            Command::Pause => {
                tell(p, &view, RolloutNews::Paused { by: by.to_string() }).await;
                Ok(report(
                    run_id,
                    &next,
                    0,
                    0,
                    format!(
                        "Run {run_id} paused by {by}: no new restage starts; restages in flight finish."
                    ),
                ))
            }
            Command::Resume => resume(p, &view, &rollout, &next, by, now).await,
            Command::Abort => abort(p, &view, &next, by).await,
        };
    }
    Err(RolloutError::Contended(run_id.clone()))
}

fn refuse_if_inapplicable(
    view: &RunView,
    rollout: &Rollout,
    command: Command,
) -> Result<(), RolloutError> {
    let run_id = &view.record.run_id;
    if view.completed_at.is_some() {
        return Err(RolloutError::Refused(format!(
            "run {run_id} has finished: every job has a final outcome, there is nothing to {command}"
        )));
    }
    let refusal = match (&rollout.state, command) {
        (RunState::Aborted { by, .. }, _) => Some(format!("run {run_id} was aborted by {by}")),
        (RunState::Running, Command::Resume) => {
            Some(format!("run {run_id} is running, not paused or halted"))
        }
        (RunState::Paused { by, .. }, Command::Pause) => {
            Some(format!("run {run_id} is already paused (by {by})"))
        }
        (RunState::Halted { reason, .. }, Command::Pause) => Some(format!(
            "run {run_id} is halted ({reason}): resume or abort it"
        )),
        _ => None,
    };
    match refusal {
        Some(why) => Err(RolloutError::Refused(why)),
        None => Ok(()),
    }
}

/// Queues the jobs the run held (in released waves, not waiting for a
/// window), then asks the gate: the wave may have been due all along.
async fn resume(
    p: Ports<'_>,
    view: &RunView,
    before: &Rollout,
    now_rollout: &Rollout,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ControlReport, RolloutError> {
    let run_id = &view.record.run_id;
    let held: Vec<_> = view
        .jobs_with_waves()
        .filter(|(_, wave)| now_rollout.is_released(*wave))
        .filter(|(job, _)| {
            matches!(&job.outcome, Some(Outcome::Held { until, .. }) if until.is_none_or(|u| u <= now))
        })
        .filter_map(|(job, _)| {
            let expected = view.record.expected.iter().find(|e| e.job_id == job.job_id)?;
            Some(expected.to_job(&view.record)?.released_as(now_rollout.generation))
        })
        .collect();
    if !held.is_empty()
        && let Err(source) = p.queue.enqueue(&held).await
    {
        // Back to how it was, so the command can simply be repeated.
        let mut back = now_rollout.next(ControlEvent {
            at: now,
            by: by.to_string(),
            what: format!("resume undone: the held jobs could not be queued ({source})"),
        });
        back.state = before.state.clone();
        back.forgiven = before.forgiven;
        if !p
            .ledger
            .swap_rollout(run_id, now_rollout.version, &back)
            .await?
        {
            tracing::warn!(run = %run_id, "a failed resume could not be undone: the run was changed meanwhile");
        }
        return Err(RolloutError::Queue {
            run_id: run_id.clone(),
            source,
        });
    }
    tell(
        p,
        view,
        RolloutNews::Resumed {
            by: by.to_string(),
            requeued: held.len(),
        },
    )
    .await;
    if let Err(e) = gate::advance(p, run_id, now).await {
        tracing::warn!(run = %run_id, error = %e, "resumed, but the wave gate could not be asked; the tick will");
    }
    Ok(report(
        run_id,
        now_rollout,
        held.len(),
        0,
        format!(
            "Run {run_id} resumed by {by}: {} held job{} queued again; the budget counts failures from now on.",
            held.len(),
            if held.len() == 1 { "" } else { "s" }
        ),
    ))
}

/// Records every job that is not final as skipped.
async fn abort(
    p: Ports<'_>,
    view: &RunView,
    now_rollout: &Rollout,
    by: &str,
) -> Result<ControlReport, RolloutError> {
    let run_id = &view.record.run_id;
    let skipped = Outcome::Skipped {
        reason: format!("aborted by {by}"),
    };
    let mut count = 0;
    let mut completed = false;
    for job in view
        .jobs
        .iter()
        .filter(|j| !j.outcome.as_ref().is_some_and(Outcome::is_final))
    {
        let recorded = p
            .ledger
            .record_outcome(run_id, &job.job_id, &skipped)
            .await?;
        completed |= recorded.completed_run;
        count += 1;
    }
    tell(
        p,
        view,
        RolloutNews::Aborted {
            by: by.to_string(),
            skipped: count,
        },
    )
    .await;
    if completed
        && let Some(done) = p.ledger.get_run(run_id).await?
        && let Err(e) = p.notifier.run_completed(&done).await
    {
        tracing::warn!(run = %run_id, error = %e, "could not tell that the aborted run completed");
    }
    Ok(report(
        run_id,
        now_rollout,
        0,
        count,
        format!(
            "Run {run_id} aborted by {by}: {count} job{} recorded as skipped; restages in flight finish.",
            if count == 1 { "" } else { "s" }
        ),
    ))
}

async fn tell(p: Ports<'_>, view: &RunView, news: RolloutNews) {
    if let Err(e) = p.notifier.rollout_changed(view, &news).await {
        tracing::warn!(run = %view.record.run_id, error = %e, "could not tell about the run control");
    }
}

fn report(
    run_id: &RunId,
    rollout: &Rollout,
    requeued: usize,
    skipped: usize,
    message: String,
) -> ControlReport {
    ControlReport {
        run_id: run_id.clone(),
        state: rollout.state.name().to_string(),
        requeued,
        skipped,
        message,
    }
}
