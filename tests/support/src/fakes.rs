//! Ports that can be broken on purpose: the real in-memory adapters behind a
//! switch, for tests that must see a port fail (or be observed) precisely.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use restager_shared::domain::{JobId, Outcome, RestageJob, RunId};
use restager_shared::ledger::{
    Lease, Ledger, LedgerError, MemoryLedger, Progress, Recorded, Rollout, RunRecord, RunView,
};
use restager_shared::queue::{Delivery, JobQueue, JobSource, QueueError};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The real [`MemoryLedger`], failing every call as an unreachable ledger
/// would while `down` is set.
#[derive(Default)]
pub struct FaultyLedger {
    inner: MemoryLedger,
    pub down: AtomicBool,
}

impl FaultyLedger {
    /// A ledger that is never reachable.
    pub fn unreachable() -> Self {
        let ledger = Self::default();
        ledger.down.store(true, Ordering::SeqCst);
        ledger
    }

    fn up(&self) -> Result<(), LedgerError> {
        if self.down.load(Ordering::SeqCst) {
            Err(LedgerError::Unavailable("test ledger is down".into()))
        } else {
            Ok(())
        }
    }

    /// Every run stored, newest first (whatever the switch says).
    pub async fn runs(&self) -> Vec<RunView> {
        self.inner
            .list_runs(usize::MAX)
            .await
            .expect("the memory ledger lists its runs")
    }

    /// The outcome recorded for `job` in any run (whatever the switch says).
    pub async fn outcome(&self, job: &JobId) -> Option<Outcome> {
        self.runs()
            .await
            .into_iter()
            .flat_map(|run| run.jobs)
            .find(|j| &j.job_id == job)
            .and_then(|j| j.outcome)
    }

    /// How many jobs have an outcome recorded (whatever the switch says).
    pub async fn recorded(&self) -> usize {
        self.runs()
            .await
            .iter()
            .flat_map(|run| &run.jobs)
            .filter(|j| j.outcome.is_some())
            .count()
    }

    /// Whether `key` is remembered (whatever the switch says; leaves it as it was).
    pub async fn remembers(&self, key: &str) -> bool {
        let added = self
            .inner
            .remember(key, Duration::from_secs(3600))
            .await
            .expect("the memory ledger remembers");
        if added {
            self.inner
                .forget(key)
                .await
                .expect("the memory ledger forgets");
        }
        !added
    }
}

/// Every `Ledger` method of `FaultyLedger`: check the switch, then hand the
/// call to the memory ledger. (A macro so that a method added to the trait is
/// one line here; it writes the whole impl because `async_trait` must see the
/// methods.)
macro_rules! ledger_when_up {
    ($(async fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)+) => {
        #[async_trait]
        impl Ledger for FaultyLedger {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.up()?;
                    self.inner.$name($($arg),*).await
                }
            )+
        }
    };
}

ledger_when_up! {
    async fn remember(&self, key: &str, ttl: Duration) -> Result<bool, LedgerError>;
    async fn forget(&self, key: &str) -> Result<(), LedgerError>;
    async fn put_run(&self, run: &RunRecord) -> Result<(), LedgerError>;
    async fn get_run(&self, run_id: &RunId) -> Result<Option<RunView>, LedgerError>;
    async fn list_runs(&self, limit: usize) -> Result<Vec<RunView>, LedgerError>;
    async fn lease_job(&self, run_id: &RunId, job_id: &JobId, owner: &str, ttl: Duration) -> Result<Lease, LedgerError>;
    async fn release_job(&self, run_id: &RunId, job_id: &JobId, owner: &str) -> Result<(), LedgerError>;
    async fn record_outcome(&self, run_id: &RunId, job_id: &JobId, outcome: &Outcome) -> Result<Recorded, LedgerError>;
    async fn set_slack_thread(&self, run_id: &RunId, ts: &str) -> Result<bool, LedgerError>;
    async fn record_progress(&self, run_id: &RunId, job_id: &JobId, progress: &Progress) -> Result<(), LedgerError>;
    async fn rollout(&self, run_id: &RunId) -> Result<Option<Rollout>, LedgerError>;
    async fn swap_rollout(&self, run_id: &RunId, read: u64, next: &Rollout) -> Result<bool, LedgerError>;
}

/// Accepts jobs in order, deduplicating on job id like a FIFO queue. While
/// `down`, refuses everything; with `accept_then_fail = n`, accepts `n` more
/// jobs of the next call and then fails (a partial batch).
#[derive(Default)]
pub struct FaultyQueue {
    jobs: Mutex<Vec<RestageJob>>,
    pub down: AtomicBool,
    pub accept_then_fail: Mutex<Option<usize>>,
    pub calls: AtomicUsize,
}

impl FaultyQueue {
    /// A queue that is never reachable.
    pub fn unreachable() -> Self {
        let queue = Self::default();
        queue.down.store(true, Ordering::SeqCst);
        queue
    }

    pub fn jobs(&self) -> Vec<RestageJob> {
        lock(&self.jobs).clone()
    }
}

#[async_trait]
impl JobQueue for FaultyQueue {
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
            if !stored.iter().any(|j| j.dedup_id() == job.dedup_id()) {
                stored.push(job.clone());
            }
        }
        Ok(())
    }
}

/// Deliveries the test pushes, handed out in order; records how each one
/// was settled (completed, or handed back with a delay).
#[derive(Default)]
pub struct RecordingSource {
    ready: Mutex<VecDeque<Delivery>>,
    completed: Mutex<Vec<Delivery>>,
    retried: Mutex<Vec<(Delivery, Duration)>>,
}

impl RecordingSource {
    pub fn push(&self, delivery: Delivery) {
        lock(&self.ready).push_back(delivery);
    }

    /// The message ids completed, in order.
    pub fn completed(&self) -> Vec<String> {
        lock(&self.completed)
            .iter()
            .map(|d| d.message_id.clone())
            .collect()
    }

    /// The deliveries handed back, in order, each with its delay.
    pub fn retried(&self) -> Vec<(Delivery, Duration)> {
        lock(&self.retried).clone()
    }
}

#[async_trait]
impl JobSource for RecordingSource {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let batch: Vec<Delivery> = {
            let mut ready = lock(&self.ready);
            let n = max.min(ready.len());
            ready.drain(..n).collect()
        };
        if batch.is_empty() {
            tokio::time::sleep(wait).await;
        }
        Ok(batch)
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        lock(&self.completed).push(delivery.clone());
        Ok(())
    }

    async fn retry_later(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        lock(&self.retried).push((delivery.clone(), delay));
        Ok(())
    }
}
