//! Recording a run and queueing its jobs, in the order that keeps a retry
//! harmless: the run record first (so the worker can report outcomes), then
//! the jobs (stable job ids are the queue's dedup ids), then — once per run —
//! the announcement.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use super::error::{DiscoveryError, FanOutError};
use super::outdated::sweep_plan;
use crate::cf::CfClient;
use crate::config::ScopeSettings;
use crate::domain::{JobId, Notice, Outcome, RestageJob, RunId};
use crate::ledger::{Ledger, RunRecord};
use crate::notify::Notifier;
use crate::queue::JobQueue;

/// Long enough that a run is never announced twice in practice.
const ANNOUNCED_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// A run ready to fan out: its record and the jobs to queue.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub record: RunRecord,
    pub jobs: Vec<RestageJob>,
}

/// What a fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FanOut {
    /// Jobs put on the queue.
    pub queued: usize,
    /// Jobs not queued again because the run already has their final outcome.
    pub already_final: usize,
    /// This call announced the run (`Notifier::run_started`).
    pub announced: bool,
}

/// Records `run`, queues its jobs and announces it once (a run without jobs
/// is only recorded). Safe to call again
/// after any failure, and for a run that exists (a repeated sweep): jobs with
/// a final outcome are not queued again, the record merges, and the
/// announcement happens only the first time.
pub async fn fan_out(
    run: &RunPlan,
    ledger: &dyn Ledger,
    queue: &dyn JobQueue,
    notifier: &dyn Notifier,
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
    let finished: HashSet<JobId> = match ledger.get_run(run_id).await? {
        Some(view) => view
            .jobs
            .into_iter()
            .filter(|j| j.outcome.as_ref().is_some_and(Outcome::is_final))
            .map(|j| j.job_id)
            .collect(),
        None => HashSet::new(),
    };
    ledger.put_run(&run.record).await?;
    let pending: Vec<RestageJob> = run
        .jobs
        .iter()
        .filter(|j| !finished.contains(&j.job_id))
        .cloned()
        .collect();
    if !pending.is_empty() {
        queue.enqueue(&pending).await?;
    }
    let announced = announce(run, ledger, notifier).await;
    tracing::info!(run = %run_id, notice = %run.record.notice, queued = pending.len(),
        already_final = finished.len(), skipped = run.record.skipped.len(), "run fanned out");
    Ok(FanOut {
        queued: pending.len(),
        already_final: run.jobs.len() - pending.len(),
        announced,
    })
}

/// Tells people about the run unless someone already did. The jobs are
/// queued by now, so a failure here is logged, never reported as the fan-out's.
async fn announce(run: &RunPlan, ledger: &dyn Ledger, notifier: &dyn Notifier) -> bool {
    let key = format!("run-announced:{}", run.record.run_id);
    match ledger.remember(&key, ANNOUNCED_TTL).await {
        Ok(true) => {
            if let Err(e) = notifier.run_started(&run.record).await {
                tracing::warn!(run = %run.record.run_id, error = %e, "could not announce the run");
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
/// version and stack (see [`sweep_plan`]). Stops at the first run that
/// cannot be queued; runs before it stay queued, and the next sweep resumes.
/// This is what `restager sweep` and the scheduled sweep Lambda both call.
pub async fn sweep(
    cf: &CfClient,
    scope: &ScopeSettings,
    ledger: &dyn Ledger,
    queue: &dyn JobQueue,
    notifier: &dyn Notifier,
) -> Result<SweepReport, SweepError> {
    let before = cf.request_counts().total();
    let runs = sweep_plan(cf, scope).await?;
    let mut report = SweepReport {
        runs: Vec::new(),
        cf_requests: cf.request_counts().total().saturating_sub(before),
    };
    for run in runs {
        let done = fan_out(&run, ledger, queue, notifier)
            .await
            .map_err(|source| SweepError::FanOut {
                run_id: run.record.run_id.clone(),
                source,
            })?;
        report.runs.push(SweptRun {
            run_id: run.record.run_id.clone(),
            notice: run.record.notice.clone(),
            queued: done.queued,
            already_final: done.already_final,
            skipped: run.record.skipped.len(),
        });
    }
    Ok(report)
}
