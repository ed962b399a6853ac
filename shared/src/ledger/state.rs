//! The ledger's rules as pure functions over one run's summary and one job's
//! state, shared by the in-process adapters (memory, embedded) so both decide
//! exactly alike. The caller supplies atomicity (a mutex, a write transaction).
//!
//! Rules every adapter follows (DynamoDB implements the same with conditional
//! writes):
//! - `finished` counts *expected* jobs whose stored outcome is final.
//! - A final outcome may be replaced by another final one (Skip after a
//!   permanent failure) without counting twice. A non-final report arriving
//!   after a final one (a stale delivery) is dropped, so counts only grow.
//! - Outcomes and leases for a job the run does not expect are stored but do
//!   not count; if a later `put_run` expects that job, its outcome counts then.
//! - Adding expected jobs to a completed run clears `completed_at`, so the
//!   run completes (and reports `completed_run`) again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::{ExpectedJob, JobRecord, Lease, Progress, Rollout, RunRecord, RunView};
use crate::domain::{JobId, Outcome};

/// Everything about a run except its jobs' states.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunMeta {
    pub record: RunRecord,
    pub finished: usize,
    pub completed_at: Option<DateTime<Utc>>,
    pub slack_thread: Option<String>,
    #[serde(default)]
    pub rollout: Option<Rollout>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LeaseState {
    pub owner: String,
    pub expires_at: DateTime<Utc>,
}

/// One job's state, stored apart from the run so recording an outcome
/// touches one small value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct JobState {
    pub expected: bool,
    pub outcome: Option<Outcome>,
    pub attempts: u32,
    pub updated_at: Option<DateTime<Utc>>,
    pub lease: Option<LeaseState>,
    #[serde(default)]
    pub progress: Option<Progress>,
}

impl JobState {
    pub fn is_final(&self) -> bool {
        self.outcome.as_ref().is_some_and(Outcome::is_final)
    }
}

/// `now + ttl`, saturating far in the future for absurd TTLs.
pub(crate) fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The result of merging a record into a run: the new summary and the job
/// states to write.
pub(crate) struct Merged {
    pub meta: RunMeta,
    pub jobs: Vec<(JobId, JobState)>,
}

/// Creates or merges a run. `job` looks up a job's stored state (it may exist
/// already as an unexpected job that reported early).
pub(crate) fn merge_run(
    existing: Option<RunMeta>,
    incoming: &RunRecord,
    mut job: impl FnMut(&JobId) -> Option<JobState>,
) -> Merged {
    let mut meta = existing.unwrap_or_else(|| RunMeta {
        record: RunRecord {
            expected: Vec::new(),
            skipped: Vec::new(),
            ..incoming.clone()
        },
        finished: 0,
        completed_at: None,
        slack_thread: None,
        rollout: None,
    });
    let mut jobs = Vec::new();
    for e in &incoming.expected {
        if meta.record.expected.iter().any(|x| x.job_id == e.job_id) {
            continue;
        }
        meta.record.expected.push(e.clone());
        let mut state = job(&e.job_id).unwrap_or_default();
        state.expected = true;
        if state.is_final() {
            meta.finished += 1;
        }
        jobs.push((e.job_id.clone(), state));
    }
    for s in &incoming.skipped {
        if !meta.record.skipped.iter().any(|x| x.app.guid == s.app.guid) {
            meta.record.skipped.push(s.clone());
        }
    }
    if !jobs.is_empty() && meta.finished < meta.record.expected.len() {
        meta.completed_at = None;
    }
    Merged { meta, jobs }
}

/// Decides a lease request; returns the job state to write when it changed.
pub(crate) fn lease(
    job: Option<JobState>,
    owner: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> (Lease, Option<JobState>) {
    let mut state = job.unwrap_or_default();
    if let Some(outcome) = state.outcome.as_ref().filter(|o| o.is_final()) {
        return (Lease::AlreadyFinal(outcome.clone()), None);
    }
    if let Some(held) = &state.lease
        && held.owner != owner
        && held.expires_at > now
    {
        return (Lease::HeldElsewhere, None);
    }
    state.lease = Some(LeaseState {
        owner: owner.to_string(),
        expires_at: expiry(now, ttl),
    });
    (Lease::Acquired, Some(state))
}

/// Drops `owner`'s lease; returns the state to write when it changed.
pub(crate) fn release(job: Option<JobState>, owner: &str) -> Option<JobState> {
    let mut state = job?;
    if state.lease.as_ref().is_some_and(|l| l.owner == owner) {
        state.lease = None;
        Some(state)
    } else {
        None
    }
}

/// What recording an outcome changed.
pub(crate) struct RecordedChange {
    /// The job state to write, `None` when the report was dropped.
    pub job: Option<JobState>,
    pub completed_run: bool,
    /// The run's `finished` after counting this outcome; 0 if it did not count.
    pub finished: usize,
}

/// Records `outcome` on a job; `meta` is the run's summary when the run
/// exists, updated in place (its `finished` grows when it must be written).
pub(crate) fn record(
    meta: Option<&mut RunMeta>,
    job: Option<JobState>,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> RecordedChange {
    let mut state = job.unwrap_or_default();
    let was_final = state.is_final();
    if was_final && !outcome.is_final() {
        return RecordedChange {
            job: None,
            completed_run: false,
            finished: 0,
        };
    }
    state.outcome = Some(outcome.clone());
    state.attempts = state.attempts.saturating_add(1);
    state.updated_at = Some(now);
    // The job is done either way; a lease would only block nobody.
    if outcome.is_final() {
        state.lease = None;
    }
    let mut completed_run = false;
    let mut finished = 0;
    if let Some(meta) = meta
        && state.expected
        && !was_final
        && outcome.is_final()
    {
        meta.finished += 1;
        finished = meta.finished;
        if meta.finished >= meta.record.expected.len() && meta.completed_at.is_none() {
            meta.completed_at = Some(now);
            completed_run = true;
        }
    }
    RecordedChange {
        job: Some(state),
        completed_run,
        finished,
    }
}

/// One job's view; expected jobs that never reported have no outcome.
pub(crate) fn job_record(e: &ExpectedJob, state: Option<&JobState>) -> JobRecord {
    JobRecord {
        job_id: e.job_id.clone(),
        app: e.app.clone(),
        outcome: state.and_then(|s| s.outcome.clone()),
        attempts: state.map_or(0, |s| s.attempts),
        updated_at: state.and_then(|s| s.updated_at),
        progress: state.and_then(|s| s.progress.clone()),
    }
}

/// Records progress on a job that is not final; the job state to write,
/// `None` when the report changes nothing (a final job, a stale report).
pub(crate) fn progress(job: Option<JobState>, report: &Progress) -> Option<JobState> {
    let mut state = job.unwrap_or_default();
    if state.is_final() {
        return None;
    }
    state.progress = Some(report.clone().after(state.progress.as_ref()));
    Some(state)
}

/// The run as read back: the expected jobs, in the order they were expected.
pub(crate) fn view(meta: RunMeta, mut job: impl FnMut(&JobId) -> Option<JobState>) -> RunView {
    let jobs = meta
        .record
        .expected
        .iter()
        .map(|e| job_record(e, job(&e.job_id).as_ref()))
        .collect();
    RunView {
        record: meta.record,
        jobs,
        completed_at: meta.completed_at,
        slack_thread: meta.slack_thread,
        rollout: meta.rollout,
    }
}

/// Swaps a run's rollout record if it is still at version `read` (0: none
/// yet); `true` when it was stored.
pub(crate) fn swap_rollout(meta: &mut RunMeta, read: u64, next: &Rollout) -> bool {
    let current = meta.rollout.as_ref().map_or(0, |r| r.version);
    if current != read || next.version <= read {
        return false;
    }
    meta.rollout = Some(next.clone());
    true
}

/// The sort key that orders runs by creation time (fixed-width RFC 3339, so
/// byte order is time order), ties broken by id.
pub(crate) fn run_order_key(record: &RunRecord) -> String {
    format!(
        "{}#{}",
        record
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        record.run_id
    )
}
