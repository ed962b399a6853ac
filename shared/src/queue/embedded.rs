//! A queue in one redb file (`queue.redb`) for `restager serve` without SQS.
//!
//! Messages survive a crash: a job received but never completed becomes
//! visible again when its visibility timeout runs out, as on SQS, and at
//! once when the file is reopened (only one process can hold it, so that
//! receiver is gone); back-offs set with `retry_later` still hold. A killed
//! process loses nothing. Every change is one redb transaction
//! (redb serializes writers), so concurrent receivers never get the same
//! message while it is in flight.
//!
//! A second table orders messages by (visible-at, enqueue order): a receive
//! reads only the messages it hands out, and an idle receiver only reads
//! (no commit, no fsync) until something is due.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, TableDefinition,
    WriteTransaction,
};
use tokio::sync::Notify;

use super::state::{Message, millis, now_ms};
use super::{Delivery, JobQueue, JobSource, QueueError};
use crate::domain::RestageJob;

/// The file name used inside the data directory.
pub const FILE_NAME: &str = "queue.redb";

/// A finished job enqueued again within this window is dropped, like an SQS
/// FIFO deduplication id (the worker would skip it anyway).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Job id → message (JSON, so fields added later still read old rows).
const MESSAGES: TableDefinition<&str, &str> = TableDefinition::new("messages");
/// (visible at, unix ms; enqueue sequence) → job id, one row per message.
const READY: TableDefinition<(u64, u64), &str> = TableDefinition::new("ready");
/// Job id → completion time (unix ms), remembered for the dedup window.
const DONE: TableDefinition<&str, u64> = TableDefinition::new("done");
/// "seq" → next enqueue sequence number.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Longest nap of an idle receiver between looks at the file; wake-ups from
/// this process's own enqueues come sooner through `Notify`.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// A durable local job queue. Open it once per process: redb locks the file.
pub struct EmbeddedQueue {
    db: Arc<Database>,
    path: PathBuf,
    visibility: Duration,
    dedup_window: Duration,
    /// Wakes waiting receivers when a message is enqueued or handed back.
    changed: Arc<Notify>,
}

impl EmbeddedQueue {
    /// Opens (or creates) `dir/queue.redb`. `visibility` is how long a
    /// received job stays hidden before it is delivered again. Blocking file
    /// I/O: call it at start-up or from `spawn_blocking`.
    pub fn open(dir: &Path, visibility: Duration) -> Result<Self, QueueError> {
        Self::open_with_dedup_window(dir, visibility, DEFAULT_DEDUP_WINDOW)
    }

    /// As [`EmbeddedQueue::open`], remembering completed jobs for `dedup_window`.
    pub fn open_with_dedup_window(
        dir: &Path,
        visibility: Duration,
        dedup_window: Duration,
    ) -> Result<Self, QueueError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            QueueError::Storage(format!(
                "cannot create the queue directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| {
            QueueError::Storage(format!(
                "cannot open {} (is another restager process using this data directory?): {e}",
                path.display()
            ))
        })?;
        let db = Arc::new(db);
        write_tx(&db, move |tx| {
            let mut messages = tx.open_table(MESSAGES).map_err(db_err)?;
            let mut ready = tx.open_table(READY).map_err(db_err)?;
            tx.open_table(META).map_err(db_err)?;
            prune_done(tx, dedup_window)?;
            // redb lets one process hold the file, so whatever is in flight now
            // was received by a process that died: hand it out again at once
            // rather than after a visibility timeout of half an hour (the
            // engine resumes its build or deployment from CF). The READY index
            // is rebuilt from the messages, which are the source of truth.
            let now = now_ms();
            let mut all = Vec::new();
            for entry in messages.iter().map_err(db_err)? {
                let (_, raw) = entry.map_err(db_err)?;
                all.push(decode(raw.value())?);
            }
            ready.retain(|_, _| false).map_err(db_err)?;
            for mut m in all {
                // A back-off chosen with retry_later still holds.
                if m.in_flight(now) {
                    m.delay(now, Duration::ZERO);
                    messages
                        .insert(m.id.as_str(), encode(&m)?.as_str())
                        .map_err(db_err)?;
                }
                ready
                    .insert((m.visible_at_ms, m.seq), m.id.as_str())
                    .map_err(db_err)?;
            }
            Ok(())
        })?;
        Ok(Self {
            db,
            path,
            visibility,
            dedup_window,
            changed: Arc::new(Notify::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Messages still queued (visible or in flight).
    pub async fn queued(&self) -> Result<usize, QueueError> {
        let db = self.db.clone();
        blocking(move || {
            let tx = db.begin_read().map_err(db_err)?;
            let table = tx.open_table(MESSAGES).map_err(db_err)?;
            let n = table.len().map_err(db_err)?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
        .await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let db = self.db.clone();
        blocking(move || write_tx(&db, f)).await
    }

    /// When the earliest message becomes visible (unix ms), if any; a read
    /// transaction only.
    async fn next_visible_at(&self) -> Result<Option<u64>, QueueError> {
        let db = self.db.clone();
        blocking(move || {
            let tx = db.begin_read().map_err(db_err)?;
            let ready = tx.open_table(READY).map_err(db_err)?;
            let first = ready.first().map_err(db_err)?;
            Ok(first.map(|(key, _)| key.value().0))
        })
        .await
    }

    /// Hands out up to `max` visible messages, hiding each for the visibility timeout.
    async fn take_visible(&self, max: usize) -> Result<Vec<Delivery>, QueueError> {
        let visibility = self.visibility;
        self.write(move |tx| {
            let mut messages = tx.open_table(MESSAGES).map_err(db_err)?;
            let mut ready = tx.open_table(READY).map_err(db_err)?;
            let now = now_ms();
            let mut due = Vec::new();
            for entry in ready.range(..=(now, u64::MAX)).map_err(db_err)?.take(max) {
                let (key, id) = entry.map_err(db_err)?;
                due.push((key.value(), id.value().to_string()));
            }
            let mut deliveries = Vec::with_capacity(due.len());
            for (key, id) in due {
                ready.remove(key).map_err(db_err)?;
                let Some(mut message) = load(&messages, &id)? else {
                    continue;
                };
                deliveries.push(message.deliver(now, visibility));
                store(&mut messages, &mut ready, &message)?;
            }
            Ok(deliveries)
        })
        .await
    }

    /// Applies `change` to the message if `delivery` still owns it: `None`
    /// completes it (removed, remembered for the dedup window), `Some`
    /// stores the changed message.
    async fn with_owned(
        &self,
        delivery: &Delivery,
        change: impl FnOnce(Message) -> Option<Message> + Send + 'static,
    ) -> Result<bool, QueueError> {
        let id = delivery.message_id.clone();
        let receipt = delivery.receipt.clone();
        self.write(move |tx| {
            let mut messages = tx.open_table(MESSAGES).map_err(db_err)?;
            let mut ready = tx.open_table(READY).map_err(db_err)?;
            let Some(current) = load(&messages, &id)? else {
                return Ok(false);
            };
            // A stale receipt: the message went back to the queue and was
            // received again; only the newest delivery may act on it.
            if !current.owns(&receipt) {
                return Ok(false);
            }
            ready
                .remove((current.visible_at_ms, current.seq))
                .map_err(db_err)?;
            match change(current) {
                Some(updated) => store(&mut messages, &mut ready, &updated)?,
                None => {
                    messages.remove(id.as_str()).map_err(db_err)?;
                    tx.open_table(DONE)
                        .map_err(db_err)?
                        .insert(id.as_str(), now_ms())
                        .map_err(db_err)?;
                }
            }
            Ok(true)
        })
        .await
    }
}

#[async_trait]
impl JobQueue for EmbeddedQueue {
    async fn enqueue(&self, jobs: &[RestageJob]) -> Result<(), QueueError> {
        let entries: Vec<(String, String)> =
            jobs.iter().map(|j| (j.dedup_id(), j.to_json())).collect();
        let dedup_window = self.dedup_window;
        let added = self
            .write(move |tx| {
                prune_done(tx, dedup_window)?;
                let mut messages = tx.open_table(MESSAGES).map_err(db_err)?;
                let mut ready = tx.open_table(READY).map_err(db_err)?;
                let done = tx.open_table(DONE).map_err(db_err)?;
                let mut meta = tx.open_table(META).map_err(db_err)?;
                let mut seq = meta
                    .get("seq")
                    .map_err(db_err)?
                    .map(|v| v.value())
                    .unwrap_or(0);
                let now = now_ms();
                let mut added = 0usize;
                for (id, body) in entries {
                    let queued = messages.get(id.as_str()).map_err(db_err)?.is_some();
                    let recently_done = done.get(id.as_str()).map_err(db_err)?.is_some();
                    if queued || recently_done {
                        continue;
                    }
                    store(&mut messages, &mut ready, &Message::new(id, body, seq, now))?;
                    seq += 1;
                    added += 1;
                }
                meta.insert("seq", seq).map_err(db_err)?;
                Ok(added)
            })
            .await?;
        if added > 0 {
            self.changed.notify_waiters();
        }
        Ok(())
    }
}

#[async_trait]
impl JobSource for EmbeddedQueue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so an enqueue in between still wakes us.
            let changed = self.changed.notified();
            let next = self.next_visible_at().await?;
            let now = now_ms();
            if next.is_some_and(|at| at <= now) {
                let delivered = self.take_visible(max).await?;
                if !delivered.is_empty() {
                    return Ok(delivered);
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            let until_due = next.map_or(IDLE_POLL, |at| {
                Duration::from_millis(at.saturating_sub(now).max(1))
            });
            let nap = left.min(until_due).min(IDLE_POLL);
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.with_owned(delivery, |_| None).await?;
        Ok(())
    }

    async fn retry_later(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        let changed = self
            .with_owned(delivery, move |mut m| {
                m.delay(now_ms(), delay);
                Some(m)
            })
            .await?;
        if changed && delay.is_zero() {
            self.changed.notify_waiters();
        }
        Ok(())
    }

    async fn depth(&self) -> Option<usize> {
        self.queued().await.ok()
    }
}

fn write_tx<T>(
    db: &Database,
    f: impl FnOnce(&WriteTransaction) -> Result<T, QueueError>,
) -> Result<T, QueueError> {
    let tx = db.begin_write().map_err(db_err)?;
    let out = f(&tx)?;
    tx.commit().map_err(db_err)?;
    Ok(out)
}

/// Forgets completions older than the dedup window.
fn prune_done(tx: &WriteTransaction, window: Duration) -> Result<(), QueueError> {
    let horizon = now_ms().saturating_sub(millis(window));
    let mut done = tx.open_table(DONE).map_err(db_err)?;
    done.retain(|_, at| at >= horizon).map_err(db_err)
}

fn load(messages: &Table<&str, &str>, id: &str) -> Result<Option<Message>, QueueError> {
    match messages.get(id).map_err(db_err)? {
        Some(raw) => decode(raw.value()).map(Some),
        None => Ok(None),
    }
}

/// Writes the message and its READY row (the caller removed any old row).
fn store(
    messages: &mut Table<&str, &str>,
    ready: &mut Table<(u64, u64), &str>,
    message: &Message,
) -> Result<(), QueueError> {
    messages
        .insert(message.id.as_str(), encode(message)?.as_str())
        .map_err(db_err)?;
    ready
        .insert((message.visible_at_ms, message.seq), message.id.as_str())
        .map_err(db_err)?;
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, QueueError> + Send + 'static,
) -> Result<T, QueueError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| QueueError::Storage(format!("queue task failed: {e}")))?
}

fn db_err(e: impl Into<redb::Error>) -> QueueError {
    QueueError::Storage(format!("queue file: {}", e.into()))
}

fn encode(m: &Message) -> Result<String, QueueError> {
    serde_json::to_string(m)
        .map_err(|e| QueueError::Storage(format!("cannot encode a message: {e}")))
}

fn decode(raw: &str) -> Result<Message, QueueError> {
    serde_json::from_str(raw).map_err(|e| {
        QueueError::Storage(format!(
            "the queue file holds an unreadable message ({e}); move queue.redb aside to start empty"
        ))
    })
}
