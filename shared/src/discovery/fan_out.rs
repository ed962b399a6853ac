//! Recording a run and queueing its jobs, in the order that keeps a retry
//! harmless: the run record first (so the worker can report outcomes), then
//! its rollout record (waves, budget) with the first wave released, then the
//! first wave's jobs (stable job ids are the queue's dedup ids; those whose
//! window is closed are held in the ledger instead, see `release`), then —
//! once per run — the announcement and the advance notice of what waits
//! for a window. Later waves stay in the ledger until the wave gate
//! (`rollout::gate`) releases them.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::{DiscoveryError, FanOutError};
use super::outdated::sweep_plan;
use super::release::{release, upcoming};
use crate::cf::CfClient;
use crate::config::ScopeSettings;
use crate::domain::{JobId, Notice, Outcome, RestageJob, RunId};
use crate::ledger::{ControlEvent, Ledger, Rollout, RunRecord, RunState};
use crate::notify::Notifier;
use crate::queue::JobQueue;

/// Long enough that a run is never announced twice in practice.
const ANNOUNCED_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// A run ready to fan out: its record and the jobs to queue.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub record: RunRecord,
    pub jobs: Vec<RestageJob>,
    /// Its waves and budget, nothing released yet.
    pub rollout: Rollout,
}

/// What a fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FanOut {
    /// Jobs put on the queue.
    pub queued: usize,
    /// Jobs not queued again because the run already has their final outcome.
    pub already_final: usize,
    /// Jobs kept in the ledger for a later wave, until their maintenance
    /// window opens (or the release is old enough), or because the run is
    /// paused, halted or aborted.
    pub held: usize,
    /// This call announced the run (`Notifier::run_started`).
    pub announced: bool,
}

/// Records `run`, queues its jobs and announces it once (a run without jobs
/// is only recorded), deciding windows at `now`. Safe to call again
/// after any failure, and for a run that exists (a repeated sweep): jobs with
/// a final outcome are not queued again, the record merges, and the
/// announcement happens only the first time.
pub async fn fan_out(
    run: &RunPlan,
    ledger: &dyn Ledger,
    queue: &dyn JobQueue,
    notifier: &dyn Notifier,
    now: DateTime<Utc>,
) -> Result<FanOut, FanOutError> {
    let run_id = &run.record.run_id;
    if run.jobs.is_empty() {
        // Recorded all the same: the run id was handed out (a 202, a sweep
        // report) and `restager status` must find it and say why nothing
        // was queued. Nothing to queue and nothing to announce.
        ledger.put_run(&run.record).await?;
        tracing::info!(run = %run_id, notice = %run.record.notice, skipped = run.record.skipped.len(),
            "run recorded with nothing to queue");
        return Ok(FanOut::default());
    }
    let existing = ledger.get_run(run_id).await?;
    let finished: HashSet<JobId> = match &existing {
        Some(view) => view
            .jobs
            .iter()
            .filter(|j| j.outcome.as_ref().is_some_and(Outcome::is_final))
            .map(|j| j.job_id.clone())
            .collect(),
        None => HashSet::new(),
    };
    let stored = existing.and_then(|v| v.rollout);
    let record = match &stored {
        Some(stored) => in_stored_waves(run, stored),
        None => run.record.clone(),
    };
    ledger.put_run(&record).await?;
    let rollout = match stored {
        Some(stored) => stored,
        None => start_rollout(run, ledger, now).await?,
    };
    let mut pending = Vec::new();
    let mut waiting = 0;
    for (job, expected) in run.jobs.iter().zip(&record.expected) {
        if finished.contains(&job.job_id) {
            continue;
        }
        if rollout.state == RunState::Running && rollout.is_released(expected.wave) {
            pending.push(job.clone());
        } else {
            waiting += 1;
        }
    }
    let released = release(&pending, &rollout, ledger, queue, now).await?;
    // `release` counts the ones it held for their window.
    crate::metrics::jobs_held(u64::try_from(waiting).unwrap_or(u64::MAX));
    let held = waiting + released.held;
    let announced = announce(run, &rollout, ledger, notifier, now).await;
    tracing::info!(run = %run_id, notice = %run.record.notice, queued = released.queued, held,
        waves = rollout.waves.len(), already_final = finished.len(), skipped = run.record.skipped.len(), "run fanned out");
    Ok(FanOut {
        queued: released.queued,
        already_final: run.jobs.len() - pending.len() - waiting,
        held,
        announced,
    })
}

/// Stores the run's rollout record with its first wave released, unless
/// someone stored one first (then that one holds).
async fn start_rollout(
    run: &RunPlan,
    ledger: &dyn Ledger,
    now: DateTime<Utc>,
) -> Result<Rollout, FanOutError> {
    let mut first = run.rollout.clone();
    if let Some(wave) = first.waves.first_mut() {
        wave.released_at = Some(now);
        let what = format!("released wave 1 ({}): {} job(s)", wave.name, wave.jobs);
        first.history.push(ControlEvent {
            at: now,
            by: crate::rollout::RESTAGER.to_string(),
            what,
        });
    }
    if ledger.swap_rollout(&run.record.run_id, 0, &first).await? {
        return Ok(first);
    }
    Ok(ledger.rollout(&run.record.run_id).await?.unwrap_or(first))
}

/// A repeated fan-out (a later sweep) may plan other waves than the run
/// was first planned with: its jobs go in the stored wave of the same
/// name, else the last stored wave.
fn in_stored_waves(run: &RunPlan, stored: &Rollout) -> RunRecord {
    let mut record = run.record.clone();
    let last = u32::try_from(stored.waves.len().saturating_sub(1)).unwrap_or(0);
    for expected in &mut record.expected {
        let name = run
            .rollout
            .waves
            .get(expected.wave as usize)
            .map(|w| &w.name);
        expected.wave = name
            .and_then(|n| stored.waves.iter().position(|w| &w.name == n))
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(last);
    }
    record
}

/// Tells people about the run, and which of its apps wait for their
/// window, unless someone already did. The jobs are queued by now, so a
/// failure here is logged, never reported as the fan-out's.
async fn announce(
    run: &RunPlan,
    rollout: &Rollout,
    ledger: &dyn Ledger,
    notifier: &dyn Notifier,
    now: DateTime<Utc>,
) -> bool {
    let key = format!("run-announced:{}", run.record.run_id);
    match ledger.remember(&key, ANNOUNCED_TTL).await {
        Ok(true) => {
            if let Err(e) = notifier.run_started(&run.record).await {
                tracing::warn!(run = %run.record.run_id, error = %e, "could not announce the run");
            }
            let later = upcoming(&run.record, rollout, now);
            if !later.is_empty()
                && let Err(e) = notifier.advance_notice(&run.record, &later).await
            {
                tracing::warn!(run = %run.record.run_id, error = %e, "could not post the advance notice");
            }
            true
        }
        Ok(false) => false,
        Err(e) => {
            tracing::warn!(run = %run.record.run_id, error = %e, "could not check whether the run was announced; not announcing it");
            false
        }
    }
}

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweptRun {
    pub run_id: RunId,
    pub notice: Notice,
    pub queued: usize,
    /// Kept in the ledger for a later wave or their maintenance window.
    pub held: usize,
    pub already_final: usize,
    pub skipped: usize,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub runs: Vec<SweptRun>,
    /// Requests sent to Cloud Controller and UAA for discovery.
    pub cf_requests: u64,
}

impl SweepReport {
    pub fn queued(&self) -> usize {
        self.runs.iter().map(|r| r.queued).sum()
    }
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error("run {run_id}: {source}")]
    FanOut {
        run_id: RunId,
        #[source]
        source: FanOutError,
    },
}

/// Finds every outdated app in `scope` and fans out one run per buildpack,
/// version and stack (see [`sweep_plan`]), deciding windows at `now`. Stops at the first run that
/// cannot be queued; runs before it stay queued, and the next sweep resumes.
/// This is what `restager sweep` and the scheduled sweep Lambda both call.
pub async fn sweep(
    cf: &CfClient,
    scope: &ScopeSettings,
    ledger: &dyn Ledger,
    queue: &dyn JobQueue,
    notifier: &dyn Notifier,
    now: DateTime<Utc>,
) -> Result<SweepReport, SweepError> {
    let before = cf.request_counts().total();
    let runs = sweep_plan(cf, scope).await?;
    let mut report = SweepReport {
        runs: Vec::new(),
        cf_requests: cf.request_counts().total().saturating_sub(before),
    };
    for run in runs {
        let done = fan_out(&run, ledger, queue, notifier, now)
            .await
            .map_err(|source| SweepError::FanOut {
                run_id: run.record.run_id.clone(),
                source,
            })?;
        report.runs.push(SweptRun {
            run_id: run.record.run_id.clone(),
            notice: run.record.notice.clone(),
            queued: done.queued,
            held: done.held,
            already_final: done.already_final,
            skipped: run.record.skipped.len(),
        });
    }
    Ok(report)
}
