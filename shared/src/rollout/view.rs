//! A run's rollout as people read it (`restager status`, the admin API, the
//! run page): its state, its waves with their progress, and why a job that
//! has not started is waiting.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::Outcome;
use crate::ledger::{JobRecord, RunState, RunView};

/// `completed` once every job is final, else the rollout's state
/// (`running`, `paused`, `halted`, `aborted`); `running` for runs recorded
/// before rollouts existed.
pub fn state_name(view: &RunView) -> &'static str {
    if view.completed_at.is_some() {
        return "completed";
    }
    view.rollout.as_ref().map_or("running", |r| r.state.name())
}

/// Why the run stopped, when it did (the halt's reason, who paused or aborted).
pub fn state_reason(view: &RunView) -> Option<String> {
    match &view.rollout.as_ref()?.state {
        RunState::Running => None,
        RunState::Paused { by, at } => {
            Some(format!("paused by {by} at {}", at.format("%H:%M:%S UTC")))
        }
        RunState::Halted { reason, .. } => Some(reason.clone()),
        RunState::Aborted { by, at } => {
            Some(format!("aborted by {by} at {}", at.format("%H:%M:%S UTC")))
        }
    }
}

/// One wave's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaveStatus {
    /// 1 for the wave that goes first.
    pub wave: usize,
    pub name: String,
    pub jobs: usize,
    pub finished: usize,
    /// `None` while it is held.
    pub released_at: Option<DateTime<Utc>>,
}

pub fn waves(view: &RunView) -> Vec<WaveStatus> {
    let Some(rollout) = &view.rollout else {
        return Vec::new();
    };
    rollout
        .waves
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let in_wave: Vec<&JobRecord> = view
                .jobs_with_waves()
                .filter(|(_, wave)| *wave as usize == i)
                .map(|(j, _)| j)
                .collect();
            WaveStatus {
                wave: i + 1,
                name: w.name.clone(),
                jobs: in_wave.len(),
                finished: in_wave
                    .iter()
                    .filter(|j| j.outcome.as_ref().is_some_and(Outcome::is_final))
                    .count(),
                released_at: w.released_at,
            }
        })
        .collect()
}

/// The wave (1-based) of a job, when the run has waves.
pub fn wave_of(view: &RunView, job: &JobRecord) -> Option<usize> {
    view.rollout.as_ref()?;
    view.record
        .expected
        .iter()
        .find(|e| e.job_id == job.job_id)
        .map(|e| e.wave as usize + 1)
}

/// Why a job that has no outcome yet has not started: its wave is held.
pub fn waiting_reason(view: &RunView, job: &JobRecord) -> Option<String> {
    if job.outcome.is_some() {
        return None;
    }
    let rollout = view.rollout.as_ref()?;
    let wave = view
        .record
        .expected
        .iter()
        .find(|e| e.job_id == job.job_id)?
        .wave as usize;
    let info = rollout.waves.get(wave)?;
    if info.released_at.is_some() {
        return None;
    }
    if let Some(reason) = rollout.state.hold_reason() {
        return Some(reason);
    }
    Some(format!(
        "held: wave {} ({}) waits for wave {}",
        wave + 1,
        info.name,
        wave
    ))
}
