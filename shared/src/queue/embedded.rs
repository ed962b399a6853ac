//! A queue in one redb file (`queue.redb`) for `restager serve` without SQS.
//!
//! Messages survive a crash: a job received but never completed becomes
//! visible again when its visibility timeout runs out, exactly as on SQS, so
//! a killed process loses nothing. Every operation is one redb transaction
//! (redb serializes writers), so concurrent receivers never get the same
//! message while it is in flight.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};

use super::state::{Message, millis, now_ms, pick_visible};
use super::{Delivery, JobQueue, JobSource, QueueError};
use crate::domain::RestageJob;

/// The file name used inside the data directory.
pub const FILE_NAME: &str = "queue.redb";

/// Job id → message (JSON, so fields added later still read old rows).
const MESSAGES: TableDefinition<&str, &str> = TableDefinition::new("messages");
/// Job id → completion time (unix ms), remembered for the dedup window.
const DONE: TableDefinition<&str, u64> = TableDefinition::new("done");
/// "seq" → next enqueue sequence number.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// A finished job enqueued again within this window is dropped, like an SQS
/// FIFO deduplication id (the worker would skip it anyway).
const DEDUP_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// A durable local job queue.
pub struct EmbeddedQueue {
    db: Arc<Database>,
    path: PathBuf,
    visibility: Duration,
}

impl EmbeddedQueue {
    /// Opens (or creates) `dir/queue.redb`. `visibility` is how long a
    /// received job stays hidden before it is delivered again.
    pub fn open(dir: &Path, visibility: Duration) -> Result<Self, QueueError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            QueueError::Storage(format!(
                "cannot create the queue directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| {
            QueueError::Storage(format!(
                "cannot open {} (is another restager using it?): {e}",
                path.display()
            ))
        })?;
        let queue = Self {
            db: Arc::new(db),
            path,
            visibility,
        };
        queue.write_now(|tx| {
            tx.open_table(MESSAGES).map_err(db_err)?;
            tx.open_table(META).map_err(db_err)?;
            let mut done = tx.open_table(DONE).map_err(db_err)?;
            let horizon = now_ms().saturating_sub(millis(DEDUP_WINDOW));
            done.retain(|_, at| at >= horizon).map_err(db_err)?;
            Ok(())
        })?;
        Ok(queue)
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

    fn write_now<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, QueueError>,
    ) -> Result<T, QueueError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        let out = f(&tx)?;
        tx.commit().map_err(db_err)?;
        Ok(out)
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let db = self.db.clone();
        blocking(move || {
            let tx = db.begin_write().map_err(db_err)?;
            let out = f(&tx)?;
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
        .await
    }

    /// Applies `change` to the message if `delivery` still owns it.
    async fn with_owned(
        &self,
        delivery: &Delivery,
        change: impl FnOnce(Message) -> Option<Message> + Send + 'static,
        completed: bool,
    ) -> Result<(), QueueError> {
        let id = delivery.message_id.clone();
        let receipt = delivery.receipt.clone();
        self.write(move |tx| {
            let mut table = tx.open_table(MESSAGES).map_err(db_err)?;
            let current = match table.get(id.as_str()).map_err(db_err)? {
                Some(raw) => decode(raw.value())?,
                None => return Ok(()),
            };
            if !current.owns(&receipt) {
                return Ok(());
            }
            match change(current) {
                Some(updated) => {
                    table
                        .insert(id.as_str(), encode(&updated)?.as_str())
                        .map_err(db_err)?;
                }
                None => {
                    table.remove(id.as_str()).map_err(db_err)?;
                }
            }
            if completed {
                tx.open_table(DONE)
                    .map_err(db_err)?
                    .insert(id.as_str(), now_ms())
                    .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl JobQueue for EmbeddedQueue {
    async fn enqueue(&self, jobs: &[RestageJob]) -> Result<(), QueueError> {
        let entries: Vec<(String, String)> = jobs
            .iter()
            .map(|j| (j.job_id.to_string(), j.to_json()))
            .collect();
        self.write(move |tx| {
            let mut messages = tx.open_table(MESSAGES).map_err(db_err)?;
            let done = tx.open_table(DONE).map_err(db_err)?;
            let mut meta = tx.open_table(META).map_err(db_err)?;
            let mut seq = meta
                .get("seq")
                .map_err(db_err)?
                .map(|v| v.value())
                .unwrap_or(0);
            let now = now_ms();
            let horizon = now.saturating_sub(millis(DEDUP_WINDOW));
            for (id, body) in entries {
                let queued = messages.get(id.as_str()).map_err(db_err)?.is_some();
                let recently_done = done
                    .get(id.as_str())
                    .map_err(db_err)?
                    .is_some_and(|at| at.value() >= horizon);
                if queued || recently_done {
                    continue;
                }
                let message = Message::new(id.clone(), body, seq, now);
                seq += 1;
                messages
                    .insert(id.as_str(), encode(&message)?.as_str())
                    .map_err(db_err)?;
            }
            meta.insert("seq", seq).map_err(db_err)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl JobSource for EmbeddedQueue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let visibility = self.visibility;
            let delivered = self
                .write(move |tx| {
                    let mut table = tx.open_table(MESSAGES).map_err(db_err)?;
                    let mut all = Vec::new();
                    for entry in table.iter().map_err(db_err)? {
                        let (_, raw) = entry.map_err(db_err)?;
                        all.push(decode(raw.value())?);
                    }
                    let now = now_ms();
                    let mut deliveries = Vec::new();
                    for message in pick_visible(all.iter_mut(), now, max) {
                        deliveries.push(message.deliver(now, visibility));
                        table
                            .insert(message.id.as_str(), encode(message)?.as_str())
                            .map_err(db_err)?;
                    }
                    Ok(deliveries)
                })
                .await?;
            if !delivered.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(delivered);
            }
            // A local file has no long polling; a short nap keeps idle CPU low.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.with_owned(delivery, |_| None, true).await
    }

    async fn retry_later(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        self.with_owned(
            delivery,
            move |mut m| {
                m.delay(now_ms(), delay);
                Some(m)
            },
            false,
        )
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, QueueError> + Send + 'static,
) -> Result<T, QueueError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| QueueError::Storage(format!("queue task failed: {e}")))?
}

fn db_err(e: impl Into<redb::Error>) -> QueueError {
    QueueError::Storage(e.into().to_string())
}

fn encode(m: &Message) -> Result<String, QueueError> {
    serde_json::to_string(m)
        .map_err(|e| QueueError::Storage(format!("cannot encode a message: {e}")))
}

fn decode(raw: &str) -> Result<Message, QueueError> {
    serde_json::from_str(raw)
        .map_err(|e| QueueError::Storage(format!("queue file holds an unreadable message: {e}")))
}
