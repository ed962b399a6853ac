//! An in-memory queue with SQS-like visibility, for unit tests and the demo.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::state::{Message, now_ms, pick_visible};
use super::{Delivery, JobQueue, JobSource, QueueError};
use crate::domain::RestageJob;

/// Messages live only as long as the process.
pub struct MemoryQueue {
    visibility: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    messages: HashMap<String, Message>,
    /// Job ids enqueued at any time: a job is never queued twice.
    seen: HashSet<String>,
    next_seq: u64,
}

impl MemoryQueue {
    /// `visibility`: how long a received message stays hidden before it is
    /// delivered again (the consumer died or forgot it).
    pub fn new(visibility: Duration) -> Self {
        Self {
            visibility,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Messages still queued (visible or in flight).
    pub fn len(&self) -> usize {
        self.lock().map(|i| i.messages.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The jobs still queued, oldest first; undecodable bodies are left out.
    pub fn jobs(&self) -> Vec<RestageJob> {
        let Ok(inner) = self.lock() else {
            return Vec::new();
        };
        let mut messages: Vec<&Message> = inner.messages.values().collect();
        messages.sort_by_key(|m| m.seq);
        messages
            .iter()
            .filter_map(|m| RestageJob::from_json(&m.body).ok())
            .collect()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, QueueError> {
        self.inner
            .lock()
            .map_err(|_| QueueError::Storage("memory queue lock poisoned".into()))
    }
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn enqueue(&self, jobs: &[RestageJob]) -> Result<(), QueueError> {
        let mut inner = self.lock()?;
        let now = now_ms();
        for job in jobs {
            let id = job.job_id.to_string();
            if !inner.seen.insert(id.clone()) {
                continue;
            }
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner
                .messages
                .insert(id.clone(), Message::new(id, job.to_json(), seq, now));
        }
        Ok(())
    }
}

#[async_trait]
impl JobSource for MemoryQueue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            {
                let mut inner = self.lock()?;
                let now = now_ms();
                let picked = pick_visible(inner.messages.values_mut(), now, max);
                if !picked.is_empty() {
                    return Ok(picked
                        .into_iter()
                        .map(|m| m.deliver(now, self.visibility))
                        .collect());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let mut inner = self.lock()?;
        if inner
            .messages
            .get(&delivery.message_id)
            .is_some_and(|m| m.owns(&delivery.receipt))
        {
            inner.messages.remove(&delivery.message_id);
        }
        Ok(())
    }

    async fn retry_later(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        let mut inner = self.lock()?;
        if let Some(m) = inner
            .messages
            .get_mut(&delivery.message_id)
            .filter(|m| m.owns(&delivery.receipt))
        {
            m.delay(now_ms(), delay);
        }
        Ok(())
    }
}
