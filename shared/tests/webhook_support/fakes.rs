//! In-memory stand-ins for the queue, ledger and notifier ports, with
//! switches that make them unavailable. Used where a test needs to observe or
//! break a port precisely; the SQS tests use moto's real server instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use restager_shared::domain::{JobId, Outcome, RestageJob, RunId};
use restager_shared::ledger::{
    JobRecord, Lease, Ledger, LedgerError, Recorded, RunRecord, RunView,
};
use restager_shared::notify::{Notifier, NotifyError};
use restager_shared::queue::{JobQueue, QueueError};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Accepts jobs in order, deduplicating on job id like a FIFO queue. While
/// `down`, refuses everything; with `accept_then_fail = n`, accepts `n` more
/// jobs of the next call and then fails (a partial batch).
#[derive(Default)]
pub struct MemQueue {
    jobs: Mutex<Vec<RestageJob>>,
    pub down: AtomicBool,
    pub accept_then_fail: Mutex<Option<usize>>,
    pub calls: AtomicUsize,
}

impl MemQueue {
    pub fn jobs(&self) -> Vec<RestageJob> {
        lock(&self.jobs).clone()
    }
}

#[async_trait]
impl JobQueue for MemQueue {
    async fn enqueue(&self, jobs: &[RestageJob]) -> Result<(), QueueError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable("test queue is down".into()));
        }
        let limit = lock(&self.accept_then_fail).take();
        let mut stored = lock(&self.jobs);
        for (i, job) in jobs.iter().enumerate() {
            if limit.is_some_and(|n| i >= n) {
                return Err(QueueError::Unavailable(
                    "test queue failed mid-batch".into(),
                ));
            }
            if !stored.iter().any(|j| j.job_id == job.job_id) {
                stored.push(job.clone());
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct LedgerState {
    keys: HashMap<String, ()>,
    runs: HashMap<RunId, RunView>,
}

#[derive(Default)]
pub struct MemLedger {
    state: Mutex<LedgerState>,
    pub down: AtomicBool,
}

impl MemLedger {
    fn up(&self) -> Result<(), LedgerError> {
        if self.down.load(Ordering::SeqCst) {
            Err(LedgerError::Unavailable("test ledger is down".into()))
        } else {
            Ok(())
        }
    }

    pub fn runs(&self) -> Vec<RunView> {
        lock(&self.state).runs.values().cloned().collect()
    }

    pub fn remembers(&self, key: &str) -> bool {
        lock(&self.state).keys.contains_key(key)
    }
}

#[async_trait]
impl Ledger for MemLedger {
    async fn remember(&self, key: &str, _ttl: Duration) -> Result<bool, LedgerError> {
        self.up()?;
        Ok(lock(&self.state).keys.insert(key.to_string(), ()).is_none())
    }

    async fn forget(&self, key: &str) -> Result<(), LedgerError> {
        self.up()?;
        lock(&self.state).keys.remove(key);
        Ok(())
    }

    async fn put_run(&self, run: &RunRecord) -> Result<(), LedgerError> {
        self.up()?;
        let mut st = lock(&self.state);
        let view = st
            .runs
            .entry(run.run_id.clone())
            .or_insert_with(|| RunView {
                record: run.clone(),
                jobs: Vec::new(),
                completed_at: None,
                slack_thread: None,
            });
        for expected in &run.expected {
            if !view.jobs.iter().any(|j| j.job_id == expected.job_id) {
                view.jobs.push(JobRecord {
                    job_id: expected.job_id.clone(),
                    app: expected.app.clone(),
                    outcome: None,
                    attempts: 0,
                    updated_at: None,
                });
                view.record.expected.push(expected.clone());
            }
        }
        Ok(())
    }

    async fn get_run(&self, run_id: &RunId) -> Result<Option<RunView>, LedgerError> {
        self.up()?;
        Ok(lock(&self.state).runs.get(run_id).cloned())
    }

    async fn list_runs(&self, limit: usize) -> Result<Vec<RunView>, LedgerError> {
        self.up()?;
        Ok(lock(&self.state)
            .runs
            .values()
            .take(limit)
            .cloned()
            .collect())
    }

    async fn lease_job(
        &self,
        _: &RunId,
        _: &JobId,
        _: &str,
        _: Duration,
    ) -> Result<Lease, LedgerError> {
        self.up()?;
        Ok(Lease::Acquired)
    }

    async fn release_job(&self, _: &RunId, _: &JobId, _: &str) -> Result<(), LedgerError> {
        self.up()
    }

    async fn record_outcome(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        outcome: &Outcome,
    ) -> Result<Recorded, LedgerError> {
        self.up()?;
        let mut st = lock(&self.state);
        if let Some(job) = st
            .runs
            .get_mut(run_id)
            .and_then(|v| v.jobs.iter_mut().find(|j| &j.job_id == job_id))
        {
            job.outcome = Some(outcome.clone());
        }
        Ok(Recorded {
            completed_run: false,
        })
    }

    async fn set_slack_thread(&self, _: &RunId, _: &str) -> Result<bool, LedgerError> {
        self.up()?;
        Ok(true)
    }
}

/// Records which runs were announced.
#[derive(Default)]
pub struct RecordingNotifier {
    started: Mutex<Vec<RunId>>,
}

impl RecordingNotifier {
    pub fn started(&self) -> Vec<RunId> {
        lock(&self.started).clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn run_started(&self, run: &RunRecord) -> Result<(), NotifyError> {
        lock(&self.started).push(run.run_id.clone());
        Ok(())
    }

    async fn app_finished(&self, _: &RestageJob, _: &Outcome) -> Result<(), NotifyError> {
        Ok(())
    }

    async fn run_completed(&self, _: &RunView) -> Result<(), NotifyError> {
        Ok(())
    }
}
