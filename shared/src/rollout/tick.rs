//! The periodic tick: every run still going is asked at its gate, so soaks
//! end and waves a worker could not release (it crashed, the queue was
//! down) go. The schedule's Lambda runs it on AWS, a timer in `serve`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Advance, Ports, advance};
use crate::domain::RunId;
use crate::ledger::RunState;

/// Runs a tick looks at: the newest, which is where unfinished ones are.
pub const TICK_RUNS: usize = 50;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Runs still going that were asked.
    pub runs: usize,
    /// `(run, wave)` released by this tick (wave 1-based).
    pub released: Vec<(RunId, usize)>,
    /// Runs whose gate could not be asked, with why.
    pub errors: Vec<(RunId, String)>,
}

/// Asks the gate of every unfinished, running run among the newest.
pub async fn tick(
    p: Ports<'_>,
    now: DateTime<Utc>,
) -> Result<TickReport, crate::ledger::LedgerError> {
    let mut report = TickReport::default();
    for view in p.ledger.list_runs(TICK_RUNS).await? {
        let going = view.completed_at.is_none()
            && view
                .rollout
                .as_ref()
                .is_some_and(|r| r.state == RunState::Running);
        if !going {
            continue;
        }
        report.runs += 1;
        let run_id = view.record.run_id.clone();
        match advance(p, &run_id, now).await {
            Ok(Advance::Released { wave, .. }) => report.released.push((run_id, wave + 1)),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(run = %run_id, error = %e, "the tick could not ask the run's gate");
                report.errors.push((run_id, e.to_string()));
            }
        }
    }
    Ok(report)
}
