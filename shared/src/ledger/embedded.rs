//! A ledger in one redb file (`ledger.redb`) for the single-process mode:
//! survives restarts; every operation is one redb transaction, so the rules
//! in `state` apply atomically (redb serializes writers).
//!
//! Tables (values are JSON so a field added later reads old rows):
//! - `keys`: remembered key → expiry, unix milliseconds
//! - `runs`: run id → run summary (record, finished count, completed_at, thread)
//! - `jobs`: `"<run id>/<job id>"` → job state (outcome, attempts, lease)
//! - `run_order`: `"<created_at>#<run id>"` → run id, for newest-first listing

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::state::{self, JobState, RunMeta};
use super::{Lease, Ledger, LedgerError, Progress, Recorded, Rollout, RunRecord, RunView};
use crate::domain::{JobId, Outcome, RunId};

/// The file name used when [`EmbeddedLedger::open`] is given a directory.
pub const FILE_NAME: &str = "ledger.redb";

const KEYS: TableDefinition<&str, i64> = TableDefinition::new("keys");
const RUNS: TableDefinition<&str, &str> = TableDefinition::new("runs");
const JOBS: TableDefinition<&str, &str> = TableDefinition::new("jobs");
const RUN_ORDER: TableDefinition<&str, &str> = TableDefinition::new("run_order");

/// Expired keys are swept on open and every this many `remember` calls, so
/// the table stays small without scanning it on every call.
const PRUNE_EVERY: u64 = 256;

/// A durable [`Ledger`] in a local redb file.
pub struct EmbeddedLedger {
    db: Arc<Database>,
    path: PathBuf,
    remembers: AtomicU64,
}

/// `f` in a write transaction that commits only when `f` succeeds.
fn in_write<T>(
    db: &Database,
    f: impl FnOnce(&WriteTransaction) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let tx = db.begin_write()?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// Failures inside a blocking transaction, mapped to [`LedgerError`] at the edge.
enum Fail {
    Db(redb::Error),
    Corrupt(String),
}

macro_rules! db_failure {
    ($($error:ty),*) => {$(
        impl From<$error> for Fail {
            fn from(e: $error) -> Self {
                Fail::Db(e.into())
            }
        }
    )*};
}
db_failure!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl EmbeddedLedger {
    /// Opens (creating when missing) the ledger at `path`: a directory gets
    /// [`FILE_NAME`] inside it, anything else is taken as the file itself.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        let path = if path.is_dir() {
            path.join(FILE_NAME)
        } else {
            path.to_path_buf()
        };
        let db = Database::create(&path).map_err(|e| {
            LedgerError::Unavailable(format!(
                "cannot open the ledger file {}: {e} (is another restager using it, or is the directory read-only?)",
                path.display()
            ))
        })?;
        let ledger = Self {
            db: Arc::new(db),
            path,
            remembers: AtomicU64::new(0),
        };
        // Create every table up front so readers never meet a missing one.
        let now = now_ms();
        ledger.blocking_write(|tx| {
            tx.open_table(RUNS)?;
            tx.open_table(RUN_ORDER)?;
            let mut keys = tx.open_table(KEYS)?;
            keys.retain(|_, expires| expires > now)?;
            // redb lets one process hold the file, so any lease now belongs to
            // a process that died; its jobs come back from the embedded queue
            // at once and must be free to resume.
            let mut jobs = tx.open_table(JOBS)?;
            let mut orphaned = Vec::new();
            for entry in jobs.iter()? {
                let (key, raw) = entry?;
                let job: JobState = decode("job", raw.value())?;
                if job.lease.is_some() {
                    orphaned.push((key.value().to_string(), job));
                }
            }
            for (key, mut job) in orphaned {
                job.lease = None;
                jobs.insert(key.as_str(), encode(&job)?.as_str())?;
            }
            Ok(())
        })?;
        Ok(ledger)
    }

    /// The file this ledger lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, fail: Fail) -> LedgerError {
        match fail {
            Fail::Db(e) => {
                LedgerError::Unavailable(format!("ledger file {}: {e}", self.path.display()))
            }
            Fail::Corrupt(what) => {
                LedgerError::Corrupt(format!("ledger file {}: {what}", self.path.display()))
            }
        }
    }

    fn blocking_write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, Fail>,
    ) -> Result<T, LedgerError> {
        in_write(&self.db, f).map_err(|e| self.error(e))
    }

    /// Runs a write transaction on the blocking pool; it commits only when `f` succeeds.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, Fail> + Send + 'static,
    ) -> Result<T, LedgerError> {
        self.blocking(move |db| in_write(db, f)).await
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, Fail> + Send + 'static,
    ) -> Result<T, LedgerError> {
        self.blocking(move |db| f(&db.begin_read()?)).await
    }

    /// redb blocks, so transactions run on the blocking pool, off the runtime's threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, Fail> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(result) => result.map_err(|e| self.error(e)),
            Err(e) => Err(LedgerError::Unavailable(format!(
                "ledger task for {} did not finish: {e}",
                self.path.display()
            ))),
        }
    }

    /// Reads one job's state and stores what `change` makes of it, if anything,
    /// in one write transaction.
    async fn change_job<T: Send + 'static>(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        change: impl FnOnce(Option<JobState>) -> (T, Option<JobState>) + Send + 'static,
    ) -> Result<T, LedgerError> {
        let key = job_key(run_id, job_id);
        self.write(move |tx| {
            let mut jobs = tx.open_table(JOBS)?;
            let (out, changed) = change(get_json(&jobs, "job state", &key)?);
            if let Some(job) = changed {
                put_json(&mut jobs, &key, &job)?;
            }
            Ok(out)
        })
        .await
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn job_key(run_id: &RunId, job_id: &JobId) -> String {
    format!("{run_id}/{job_id}")
}

fn decode<T: DeserializeOwned>(what: &str, raw: &str) -> Result<T, Fail> {
    serde_json::from_str(raw).map_err(|e| Fail::Corrupt(format!("unreadable {what}: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<String, Fail> {
    serde_json::to_string(value).map_err(|e| Fail::Corrupt(format!("cannot encode a value: {e}")))
}

/// Reads one JSON value from any table with string values.
fn get_json<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static str>,
    what: &str,
    key: &str,
) -> Result<Option<T>, Fail> {
    match table.get(key)? {
        Some(raw) => Ok(Some(decode(what, raw.value())?)),
        None => Ok(None),
    }
}

fn put_json<T: Serialize>(
    table: &mut Table<&'static str, &'static str>,
    key: &str,
    value: &T,
) -> Result<(), Fail> {
    table.insert(key, encode(value)?.as_str())?;
    Ok(())
}

fn view_of(
    jobs: &impl ReadableTable<&'static str, &'static str>,
    meta: RunMeta,
) -> Result<RunView, Fail> {
    let run_id = meta.record.run_id.clone();
    let mut failure = None;
    let view = state::view(meta, |job_id| {
        match get_json::<JobState>(jobs, "job state", &job_key(&run_id, job_id)) {
            Ok(state) => state,
            Err(e) => {
                failure.get_or_insert(e);
                None
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(view),
    }
}

#[async_trait]
impl Ledger for EmbeddedLedger {
    async fn remember(&self, key: &str, ttl: Duration) -> Result<bool, LedgerError> {
        let key = key.to_string();
        let prune = self.remembers.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1;
        self.write(move |tx| {
            let now = Utc::now();
            let now_ms = now.timestamp_millis();
            let mut keys = tx.open_table(KEYS)?;
            if prune {
                keys.retain(|_, expires| expires > now_ms)?;
            }
            let live = keys
                .get(key.as_str())?
                .is_some_and(|expires| expires.value() > now_ms);
            if live {
                return Ok(false);
            }
            let expires = state::expiry(now, ttl).timestamp_millis();
            keys.insert(key.as_str(), expires)?;
            Ok(true)
        })
        .await
    }

    async fn forget(&self, key: &str) -> Result<(), LedgerError> {
        let key = key.to_string();
        self.write(move |tx| {
            tx.open_table(KEYS)?.remove(key.as_str())?;
            Ok(())
        })
        .await
    }

    async fn put_run(&self, run: &RunRecord) -> Result<(), LedgerError> {
        let run = run.clone();
        self.write(move |tx| {
            let mut runs = tx.open_table(RUNS)?;
            let mut jobs = tx.open_table(JOBS)?;
            let existing: Option<RunMeta> = get_json(&runs, "run", run.run_id.as_str())?;
            let is_new = existing.is_none();
            let mut failure = None;
            let merged = state::merge_run(existing, &run, |job_id| {
                match get_json(&jobs, "job state", &job_key(&run.run_id, job_id)) {
                    Ok(state) => state,
                    Err(e) => {
                        failure.get_or_insert(e);
                        None
                    }
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
            for (job_id, job) in &merged.jobs {
                put_json(&mut jobs, &job_key(&run.run_id, job_id), job)?;
            }
            put_json(&mut runs, run.run_id.as_str(), &merged.meta)?;
            if is_new {
                tx.open_table(RUN_ORDER)?.insert(
                    state::run_order_key(&merged.meta.record).as_str(),
                    run.run_id.as_str(),
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn get_run(&self, run_id: &RunId) -> Result<Option<RunView>, LedgerError> {
        let run_id = run_id.clone();
        self.read(move |tx| {
            let runs = tx.open_table(RUNS)?;
            let jobs = tx.open_table(JOBS)?;
            match get_json::<RunMeta>(&runs, "run", run_id.as_str())? {
                Some(meta) => Ok(Some(view_of(&jobs, meta)?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn list_runs(&self, limit: usize) -> Result<Vec<RunView>, LedgerError> {
        self.read(move |tx| {
            let order = tx.open_table(RUN_ORDER)?;
            let runs = tx.open_table(RUNS)?;
            let jobs = tx.open_table(JOBS)?;
            let mut views = Vec::new();
            for entry in order.iter()?.rev() {
                if views.len() >= limit {
                    break;
                }
                let (_, run_id) = entry?;
                let meta: RunMeta = get_json(&runs, "run", run_id.value())?.ok_or_else(|| {
                    Fail::Corrupt(format!("run {} is listed but not stored", run_id.value()))
                })?;
                views.push(view_of(&jobs, meta)?);
            }
            Ok(views)
        })
        .await
    }

    async fn lease_job(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, LedgerError> {
        let owner = owner.to_string();
        self.change_job(run_id, job_id, move |current| {
            state::lease(current, &owner, ttl, Utc::now())
        })
        .await
    }

    async fn release_job(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        owner: &str,
    ) -> Result<(), LedgerError> {
        let owner = owner.to_string();
        self.change_job(run_id, job_id, move |current| {
            ((), state::release(current, &owner))
        })
        .await
    }

    async fn record_outcome(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        outcome: &Outcome,
    ) -> Result<Recorded, LedgerError> {
        let key = job_key(run_id, job_id);
        let run_id = run_id.clone();
        let outcome = outcome.clone();
        self.write(move |tx| {
            let mut runs = tx.open_table(RUNS)?;
            let mut jobs = tx.open_table(JOBS)?;
            let mut meta: Option<RunMeta> = get_json(&runs, "run", run_id.as_str())?;
            let finished_before = meta.as_ref().map(|m| m.finished);
            let current = get_json(&jobs, "job state", &key)?;
            let change = state::record(meta.as_mut(), current, &outcome, Utc::now());
            if let Some(job) = &change.job {
                put_json(&mut jobs, &key, job)?;
            }
            if let Some(meta) = meta.filter(|m| Some(m.finished) != finished_before) {
                put_json(&mut runs, run_id.as_str(), &meta)?;
            }
            Ok(Recorded {
                completed_run: change.completed_run,
                finished: change.finished,
            })
        })
        .await
    }

    async fn set_slack_thread(&self, run_id: &RunId, ts: &str) -> Result<bool, LedgerError> {
        let run_id = run_id.clone();
        let ts = ts.to_string();
        self.write(move |tx| {
            let mut runs = tx.open_table(RUNS)?;
            let Some(mut meta) = get_json::<RunMeta>(&runs, "run", run_id.as_str())? else {
                return Ok(false);
            };
            if meta.slack_thread.is_some() {
                return Ok(false);
            }
            meta.slack_thread = Some(ts);
            put_json(&mut runs, run_id.as_str(), &meta)?;
            Ok(true)
        })
        .await
    }

    async fn record_progress(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        progress: &Progress,
    ) -> Result<(), LedgerError> {
        let progress = progress.clone();
        self.change_job(run_id, job_id, move |current| {
            ((), state::progress(current, &progress))
        })
        .await
    }

    async fn rollout(&self, run_id: &RunId) -> Result<Option<Rollout>, LedgerError> {
        let run_id = run_id.clone();
        self.read(move |tx| {
            let runs = tx.open_table(RUNS)?;
            Ok(get_json::<RunMeta>(&runs, "run", run_id.as_str())?.and_then(|m| m.rollout))
        })
        .await
    }

    async fn swap_rollout(
        &self,
        run_id: &RunId,
        read: u64,
        next: &Rollout,
    ) -> Result<bool, LedgerError> {
        let run_id = run_id.clone();
        let next = next.clone();
        self.write(move |tx| {
            let mut runs = tx.open_table(RUNS)?;
            let Some(mut meta) = get_json::<RunMeta>(&runs, "run", run_id.as_str())? else {
                return Err(Fail::Corrupt(format!(
                    "run {run_id} is not stored: its rollout cannot be"
                )));
            };
            if !state::swap_rollout(&mut meta, read, &next) {
                return Ok(false);
            }
            put_json(&mut runs, run_id.as_str(), &meta)?;
            Ok(true)
        })
        .await
    }
}
