//! A ledger held in process memory: for unit tests and the demo. Same rules
//! as the durable adapters (see `state`), one mutex for atomicity.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::state::{self, JobState, RunMeta};
use super::{Lease, Ledger, LedgerError, Progress, Recorded, Rollout, RunRecord, RunView};
use crate::domain::{JobId, Outcome, RunId};

#[derive(Default)]
struct Inner {
    keys: HashMap<String, DateTime<Utc>>,
    runs: HashMap<RunId, RunMeta>,
    jobs: HashMap<(RunId, JobId), JobState>,
}

/// An in-memory [`Ledger`]; cheap to create, forgotten when dropped.
#[derive(Default)]
pub struct MemoryLedger {
    inner: Mutex<Inner>,
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores what `change` makes of one job's state, if anything, under one lock.
    fn change_job<T>(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        change: impl FnOnce(Option<JobState>) -> (T, Option<JobState>),
    ) -> T {
        let key = (run_id.clone(), job_id.clone());
        let mut inner = self.lock();
        let (out, changed) = change(inner.jobs.get(&key).cloned());
        if let Some(job) = changed {
            inner.jobs.insert(key, job);
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied change
        // (every change is computed first, then stored), so keep going.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    fn view(&self, meta: &RunMeta) -> RunView {
        let run_id = &meta.record.run_id;
        state::view(meta.clone(), |job| {
            self.jobs.get(&(run_id.clone(), job.clone())).cloned()
        })
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn remember(&self, key: &str, ttl: Duration) -> Result<bool, LedgerError> {
        let now = Utc::now();
        let mut inner = self.lock();
        inner.keys.retain(|_, expires| *expires > now);
        if inner.keys.contains_key(key) {
            return Ok(false);
        }
        inner.keys.insert(key.to_string(), state::expiry(now, ttl));
        Ok(true)
    }

    async fn forget(&self, key: &str) -> Result<(), LedgerError> {
        self.lock().keys.remove(key);
        Ok(())
    }

    async fn put_run(&self, run: &RunRecord) -> Result<(), LedgerError> {
        let mut inner = self.lock();
        let existing = inner.runs.get(&run.run_id).cloned();
        let merged = state::merge_run(existing, run, |job| {
            inner.jobs.get(&(run.run_id.clone(), job.clone())).cloned()
        });
        for (job_id, job) in merged.jobs {
            inner.jobs.insert((run.run_id.clone(), job_id), job);
        }
        inner.runs.insert(run.run_id.clone(), merged.meta);
        Ok(())
    }

    async fn get_run(&self, run_id: &RunId) -> Result<Option<RunView>, LedgerError> {
        let inner = self.lock();
        Ok(inner.runs.get(run_id).map(|meta| inner.view(meta)))
    }

    async fn list_runs(&self, limit: usize) -> Result<Vec<RunView>, LedgerError> {
        let inner = self.lock();
        let mut metas: Vec<&RunMeta> = inner.runs.values().collect();
        metas.sort_by_cached_key(|m| std::cmp::Reverse(state::run_order_key(&m.record)));
        Ok(metas
            .into_iter()
            .take(limit)
            .map(|m| inner.view(m))
            .collect())
    }

    async fn lease_job(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, LedgerError> {
        Ok(self.change_job(run_id, job_id, |current| {
            state::lease(current, owner, ttl, Utc::now())
        }))
    }

    async fn release_job(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        owner: &str,
    ) -> Result<(), LedgerError> {
        self.change_job(run_id, job_id, |current| {
            ((), state::release(current, owner))
        });
        Ok(())
    }

    async fn record_outcome(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        outcome: &Outcome,
    ) -> Result<Recorded, LedgerError> {
        let key = (run_id.clone(), job_id.clone());
        let mut guard = self.lock();
        let inner = &mut *guard;
        let job = inner.jobs.get(&key).cloned();
        let change = state::record(inner.runs.get_mut(run_id), job, outcome, Utc::now());
        if let Some(job) = change.job {
            inner.jobs.insert(key, job);
        }
        Ok(Recorded {
            completed_run: change.completed_run,
            finished: change.finished,
        })
    }

    async fn set_slack_thread(&self, run_id: &RunId, ts: &str) -> Result<bool, LedgerError> {
        let mut inner = self.lock();
        match inner.runs.get_mut(run_id) {
            Some(meta) if meta.slack_thread.is_none() => {
                meta.slack_thread = Some(ts.to_string());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn record_progress(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        progress: &Progress,
    ) -> Result<(), LedgerError> {
        self.change_job(run_id, job_id, |current| {
            ((), state::progress(current, progress))
        });
        Ok(())
    }

    async fn rollout(&self, run_id: &RunId) -> Result<Option<Rollout>, LedgerError> {
        Ok(self.lock().runs.get(run_id).and_then(|m| m.rollout.clone()))
    }

    async fn swap_rollout(
        &self,
        run_id: &RunId,
        read: u64,
        next: &Rollout,
    ) -> Result<bool, LedgerError> {
        match self.lock().runs.get_mut(run_id) {
            Some(meta) => Ok(state::swap_rollout(meta, read, next)),
            None => Err(LedgerError::Unavailable(format!(
                "run {run_id} is not in the ledger: its rollout cannot be stored"
            ))),
        }
    }
}
