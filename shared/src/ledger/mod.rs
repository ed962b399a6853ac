//! The run ledger port: what each run expected, what happened to each app,
//! and which deliveries were already seen.

pub mod dynamo;
pub mod embedded;
pub mod memory;
pub mod rollout;
mod state;

pub use dynamo::DynamoLedger;
pub use embedded::EmbeddedLedger;
pub use memory::MemoryLedger;
pub use rollout::{ControlEvent, OwnerChannel, Rollout, RunState, WaveInfo};

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Action, AppRef, JOB_SCHEMA_VERSION, JobId, Notice, Outcome, RestageJob, RunId, ScheduleHints,
    Version,
};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
    #[error("ledger data is corrupt: {0}")]
    Corrupt(String),
}

/// An app discovery decided not to touch, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedApp {
    pub app: AppRef,
    pub reason: String,
}

/// A job the run expects an outcome for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedJob {
    pub job_id: JobId,
    pub app: AppRef,
    /// The rest of the job as planned, so Slack's "Retry failed" can rebuild
    /// it; absent in records written before these fields existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub droplet_guid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildpack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<Version>,
    /// 0 for the planned job, n for the n-th operator retry of the same app.
    #[serde(default)]
    pub retry: u32,
    /// The wave the job goes in (an index into the run's
    /// [`Rollout::waves`]); 0 in records written before waves existed.
    #[serde(default)]
    pub wave: u32,
    /// [`RestageJob::window`] as planned, so a held job is queued again with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// [`RestageJob::slack_channel`] as planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
}

impl ExpectedJob {
    /// The expectation for a job as fanned out (use this, so a retry can rebuild it).
    pub fn for_job(job: &RestageJob) -> Self {
        Self {
            job_id: job.job_id.clone(),
            app: job.app.clone(),
            droplet_guid: Some(job.droplet_guid.clone()),
            buildpack: job.buildpack.clone(),
            target_version: job.target_version.clone(),
            retry: 0,
            wave: 0,
            window: job.window.clone(),
            slack_channel: job.slack_channel.clone(),
        }
    }

    /// In wave `wave`.
    pub fn in_wave(mut self, wave: u32) -> Self {
        self.wave = wave;
        self
    }

    /// The job as it was fanned out, to queue it again (a held wave, a
    /// resumed run); `None` for records without the planned droplet, which
    /// cannot be rebuilt without guessing.
    pub fn to_job(&self, run: &RunRecord) -> Option<RestageJob> {
        Some(RestageJob {
            v: JOB_SCHEMA_VERSION,
            job_id: self.job_id.clone(),
            run_id: run.run_id.clone(),
            notice: run.notice.clone(),
            action: run.action,
            app: self.app.clone(),
            droplet_guid: self.droplet_guid.clone()?,
            // Not kept either: the worker reads it from the current droplet.
            package_guid: None,
            buildpack: self.buildpack.clone(),
            target_version: self.target_version.clone(),
            release: 0,
            window: self.window.clone(),
            slack_channel: self.slack_channel.clone(),
            // Not kept in the record: a job queued from the ledger (a held
            // wave, a resume) polls on the fixed beat, one at a time per space.
            schedule: ScheduleHints::default(),
        })
    }
}

/// What a run set out to do; written once by whoever fans it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: RunId,
    pub notice: Notice,
    pub action: Action,
    pub created_at: DateTime<Utc>,
    pub expected: Vec<ExpectedJob>,
    pub skipped: Vec<SkippedApp>,
    /// Why the run queued nothing when it was first recorded (the release
    /// is not installed yet, the action is `none`), so `restager status`
    /// can explain a run id handed out in a 202. Kept as first written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When the release was published (GitHub's `published_at`, a notice's
    /// `released_at`), which `RESTAGER_MIN_RELEASE_AGE` counts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
    /// The release's page (GitHub's `html_url`), for advance notices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_url: Option<String>,
}

/// One job's latest state in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: JobId,
    pub app: AppRef,
    /// `None` until a worker reports.
    pub outcome: Option<Outcome>,
    pub attempts: u32,
    pub updated_at: Option<DateTime<Utc>>,
    /// Where a restage in flight is (staging, deploying, verifying), with its
    /// build and deployment; kept after it ends, for the run's timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// The step a restage has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Staging,
    Deploying,
    Verifying,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Staging => "staging",
            Phase::Deploying => "deploying",
            Phase::Verifying => "verifying",
        }
    }
}

/// A restage's progress as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub phase: Phase,
    /// When the first step was reported (the restage's start).
    pub started_at: DateTime<Utc>,
    /// When this phase was reported.
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_guid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_guid: Option<String>,
}

impl Progress {
    /// This report on top of what was stored: the start and guids stay.
    pub fn after(self, stored: Option<&Progress>) -> Progress {
        match stored {
            Some(old) => Progress {
                started_at: old.started_at.min(self.started_at),
                build_guid: self.build_guid.or_else(|| old.build_guid.clone()),
                deployment_guid: self.deployment_guid.or_else(|| old.deployment_guid.clone()),
                ..self
            },
            None => self,
        }
    }
}

/// A run as read back: the record plus every job's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunView {
    pub record: RunRecord,
    pub jobs: Vec<JobRecord>,
    /// Set when the last final outcome arrived.
    pub completed_at: Option<DateTime<Utc>>,
    /// Slack's `ts` of the run's root message, once posted.
    pub slack_thread: Option<String>,
    /// Waves, budget and controls; `None` for runs recorded before them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
}

impl RunView {
    pub fn finished_jobs(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| j.outcome.as_ref().is_some_and(Outcome::is_final))
            .count()
    }

    /// Final failures (failed for good, rolled back): what the error budget counts.
    pub fn failures(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| j.outcome.as_ref().is_some_and(Outcome::is_failure))
            .count()
    }

    /// Each expected job with its wave.
    pub fn jobs_with_waves(&self) -> impl Iterator<Item = (&JobRecord, u32)> {
        self.jobs.iter().map(|j| {
            let wave = self
                .record
                .expected
                .iter()
                .find(|e| e.job_id == j.job_id)
                .map_or(0, |e| e.wave);
            (j, wave)
        })
    }
}

/// Result of trying to take a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// This worker may act on the job until the lease expires.
    Acquired,
    /// Another delivery of the same job is working on it right now.
    HeldElsewhere,
    /// The job already has a final outcome; a duplicate delivery.
    AlreadyFinal(Outcome),
}

/// Result of recording an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// This call completed the run. True for exactly one caller per run,
    /// however many finish at the same moment.
    pub completed_run: bool,
    /// The run's count of final jobs after this call, when it counted a
    /// final outcome (0 otherwise): compared with the jobs released so far,
    /// it tells a worker that its wave may be complete without reading
    /// the whole run.
    pub finished: usize,
}

#[async_trait]
pub trait Ledger: Send + Sync {
    /// Remembers `key` for `ttl`. `true` the first time, `false` while it is remembered.
    async fn remember(&self, key: &str, ttl: Duration) -> Result<bool, LedgerError>;
    /// Forgets `key`, so a sender's retry is accepted after a failed fan-out.
    async fn forget(&self, key: &str) -> Result<(), LedgerError>;

    /// Stores a run and its expected jobs. Writing the same run again adds
    /// jobs it did not have and keeps every outcome already recorded.
    async fn put_run(&self, run: &RunRecord) -> Result<(), LedgerError>;
    async fn get_run(&self, run_id: &RunId) -> Result<Option<RunView>, LedgerError>;
    /// Newest first.
    async fn list_runs(&self, limit: usize) -> Result<Vec<RunView>, LedgerError>;

    /// Takes a job for `ttl` on behalf of `owner` (a delivery's message id).
    async fn lease_job(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, LedgerError>;
    /// Gives the lease back early (after a deferral).
    async fn release_job(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        owner: &str,
    ) -> Result<(), LedgerError>;

    /// Records a job's outcome (final or not) and counts final ones.
    async fn record_outcome(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        outcome: &Outcome,
    ) -> Result<Recorded, LedgerError>;

    /// Sets the Slack thread of a run; `false` if one was already set.
    async fn set_slack_thread(&self, run_id: &RunId, ts: &str) -> Result<bool, LedgerError>;

    /// Records where a restage in flight is; ignored once the job is final.
    async fn record_progress(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        progress: &Progress,
    ) -> Result<(), LedgerError>;

    /// The run's rollout record (one small read, for every job a worker takes).
    async fn rollout(&self, run_id: &RunId) -> Result<Option<Rollout>, LedgerError>;
    /// Stores `next` only if the stored record's version is still `read`
    /// (0: there is none yet); `false` when someone changed it first. The
    /// caller gives `next` a version above `read` ([`Rollout::next`]).
    /// Fails for a run that is not stored.
    async fn swap_rollout(
        &self,
        run_id: &RunId,
        read: u64,
        next: &Rollout,
    ) -> Result<bool, LedgerError>;
}
