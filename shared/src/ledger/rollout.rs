//! The stored half of a safe rollout: one small record per run saying
//! whether it may go on (running, paused, halted, aborted), which of its
//! waves have been released, its error budget, and who did what. The rules
//! that change it live in [`crate::rollout`]; the ledger only stores it and
//! swaps it atomically ([`super::Ledger::swap_rollout`]), so two workers or
//! two ticks that decide the same thing at once cannot both act on it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a run may start new restages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunState {
    Running,
    /// Stopped by hand; resumed by hand.
    Paused {
        by: String,
        at: DateTime<Utc>,
    },
    /// Stopped by its error budget; resumed (or aborted) by hand.
    Halted {
        reason: String,
        at: DateTime<Utc>,
    },
    /// Ended by hand: every job not final was recorded as skipped.
    Aborted {
        by: String,
        at: DateTime<Utc>,
    },
}

impl RunState {
    pub fn name(&self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Paused { .. } => "paused",
            RunState::Halted { .. } => "halted",
            RunState::Aborted { .. } => "aborted",
        }
    }

    /// Why no new restage starts, as a held job's reason; `None` while running.
    pub fn hold_reason(&self) -> Option<String> {
        match self {
            RunState::Running => None,
            RunState::Paused { by, .. } => Some(format!("held: run paused by {by}")),
            RunState::Halted { reason, .. } => Some(format!("held: {reason}")),
            RunState::Aborted { by, .. } => Some(format!("aborted by {by}")),
        }
    }
}

/// One wave of a run, in the order waves go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveInfo {
    /// How the wave was chosen: its patterns (`*/dev*,*/test*`), `label 0`
    /// for a `restager.io/wave` label, `everything else` for the last.
    pub name: String,
    /// Jobs planned in it.
    pub jobs: usize,
    /// When its jobs were queued; `None` while it is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
}

/// Something that changed the run's course, for the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlEvent {
    pub at: DateTime<Utc>,
    /// A person (`alice` in Slack, `admin API`, `cli:bob`) or `restager`.
    pub by: String,
    pub what: String,
}

/// The rollout record of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// Bumped by every change; the ledger swaps only from the version read.
    pub version: u64,
    pub state: RunState,
    pub waves: Vec<WaveInfo>,
    /// Failures (failed + rolled back) the run may have beyond `forgiven`
    /// before it halts.
    pub max_failures: usize,
    /// The budget as configured (`10%`, `3`), for messages.
    pub budget: String,
    /// Failures already counted when the run was last resumed: resuming
    /// re-arms the budget from there.
    #[serde(default)]
    pub forgiven: usize,
    /// How long a finished wave is watched before the next one goes, in
    /// milliseconds.
    pub soak_ms: u64,
    /// Bumped by every resume: jobs queued again carry it, so the queue's
    /// deduplication does not drop them as repeats of their first send.
    #[serde(default)]
    pub generation: u32,
    #[serde(default)]
    pub history: Vec<ControlEvent>,
}

impl Rollout {
    /// Index of the newest released wave (`None` before the first release).
    pub fn released_through(&self) -> Option<usize> {
        self.waves.iter().rposition(|w| w.released_at.is_some())
    }

    /// Whether jobs of `wave` may be queued.
    pub fn is_released(&self, wave: u32) -> bool {
        self.waves
            .get(wave as usize)
            .is_none_or(|w| w.released_at.is_some())
    }

    /// Jobs in the waves released so far.
    pub fn released_jobs(&self) -> usize {
        self.waves
            .iter()
            .filter(|w| w.released_at.is_some())
            .map(|w| w.jobs)
            .sum()
    }

    pub fn soak(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.soak_ms)
    }

    /// The next version of this record, with `event` in its history.
    pub fn next(&self, event: ControlEvent) -> Self {
        let mut next = self.clone();
        next.version = self.version.saturating_add(1);
        next.history.push(event);
        next
    }
}
