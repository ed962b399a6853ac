//! The error budget: a run whose failures (failed for good, rolled back)
//! since its last resume exceed `max_failures` halts. Restages in flight
//! finish; every job delivered after the halt is held
//! (`engine::batch`), and nothing is released until someone resumes.

use chrono::{DateTime, Utc};

use super::{Ports, RESTAGER, RolloutError, SWAP_TRIES};
use crate::domain::{Outcome, RunId};
use crate::ledger::{ControlEvent, Rollout, RunState, RunView};
use crate::notify::RolloutNews;

/// Failures the budget counts now (those before the last resume are forgiven).
pub fn counted(view: &RunView, rollout: &Rollout) -> usize {
    view.failures().saturating_sub(rollout.forgiven)
}

pub fn exceeded(view: &RunView, rollout: &Rollout) -> bool {
    counted(view, rollout) > rollout.max_failures
}

/// Halts the run if its budget is spent; `true` when this call halted it.
/// Called by the worker after recording a failure.
pub async fn after_failure(
    p: Ports<'_>,
    run_id: &RunId,
    now: DateTime<Utc>,
) -> Result<bool, RolloutError> {
    for _ in 0..SWAP_TRIES {
        let Some(view) = p.ledger.get_run(run_id).await? else {
            return Ok(false);
        };
        let Some(rollout) = view.rollout.clone() else {
            return Ok(false);
        };
        if rollout.state != RunState::Running || !exceeded(&view, &rollout) {
            return Ok(false);
        }
        if halt(p, &view, &rollout, now).await? {
            return Ok(true);
        }
    }
    Err(RolloutError::Contended(run_id.clone()))
}

/// Swaps the rollout to halted and tells people; `false` if the rollout
/// changed since it was read.
pub(super) async fn halt(
    p: Ports<'_>,
    view: &RunView,
    rollout: &Rollout,
    now: DateTime<Utc>,
) -> Result<bool, RolloutError> {
    let failures = counted(view, rollout);
    let reason = format!(
        "run halted after {failures} failure{} (budget {})",
        if failures == 1 { "" } else { "s" },
        rollout.max_failures
    );
    let mut next = rollout.next(ControlEvent {
        at: now,
        by: RESTAGER.to_string(),
        what: reason.clone(),
    });
    next.state = RunState::Halted {
        reason: reason.clone(),
        at: now,
    };
    if !p
        .ledger
        .swap_rollout(&view.record.run_id, rollout.version, &next)
        .await?
    {
        return Ok(false);
    }
    tracing::warn!(run = %view.record.run_id, failures, budget = rollout.max_failures, "{reason}");
    crate::metrics::run_halted();
    let named: Vec<String> = view
        .jobs
        .iter()
        .filter(|j| j.outcome.as_ref().is_some_and(Outcome::is_failure))
        .map(|j| {
            let why = j.outcome.as_ref().and_then(Outcome::reason).unwrap_or("");
            format!(
                "{} ({}/{}): {why}",
                j.app.name, j.app.org_name, j.app.space_name
            )
        })
        .collect();
    let news = RolloutNews::Halted {
        reason,
        failures: named,
    };
    if let Err(e) = p.notifier.rollout_changed(view, &news).await {
        tracing::warn!(run = %view.record.run_id, error = %e, "could not tell that the run halted");
    }
    Ok(true)
}
