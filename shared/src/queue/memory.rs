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
            let id = job.dedup_id();
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

    async fn depth(&self) -> Option<usize> {
        Some(self.len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::fixtures::{app, stack_job};

    fn jobs(n: usize) -> Vec<RestageJob> {
        (0..n)
            .map(|i| {
                let app = app(format!("app-{i}"), format!("app-{i}"), "space", "org");
                stack_job("1.2.0", app, format!("droplet-{i}"))
            })
            .collect()
    }

    #[tokio::test]
    async fn hands_out_oldest_first_and_at_most_max() {
        let queue = MemoryQueue::new(Duration::from_secs(30));
        let sent = jobs(5);
        queue.enqueue(&sent).await.expect("enqueue");
        let got = queue.receive(3, Duration::ZERO).await.expect("receive");
        let ids: Vec<String> = got.iter().map(|d| d.message_id.clone()).collect();
        let expected: Vec<String> = sent[..3].iter().map(|j| j.job_id.to_string()).collect();
        assert_eq!(ids, expected);
        assert_eq!(
            RestageJob::from_json(&got[0].body).expect("body is the job"),
            sent[0]
        );
        let rest = queue.receive(10, Duration::ZERO).await.expect("receive");
        assert_eq!(rest.len(), 2, "in-flight messages are not handed out again");
        assert_eq!(queue.len(), 5);
    }

    #[tokio::test]
    async fn a_job_is_queued_once_even_after_it_finished() {
        let queue = MemoryQueue::default();
        let sent = jobs(3);
        queue.enqueue(&sent).await.expect("enqueue");
        queue.enqueue(&sent).await.expect("enqueue again");
        assert_eq!(queue.jobs(), sent);
        for d in queue.receive(10, Duration::ZERO).await.expect("receive") {
            queue.complete(&d).await.expect("complete");
        }
        assert!(queue.is_empty());
        queue.enqueue(&sent).await.expect("late duplicate");
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn an_unfinished_delivery_reappears_and_its_old_receipt_is_void() {
        let queue = MemoryQueue::new(Duration::from_millis(40));
        queue.enqueue(&jobs(1)).await.expect("enqueue");
        let first = queue.receive(1, Duration::ZERO).await.expect("receive");
        assert_eq!(first[0].receive_count, 1);
        let second = queue
            .receive(1, Duration::from_secs(5))
            .await
            .expect("receive after the visibility timeout");
        assert_eq!(second[0].receive_count, 2);
        assert_ne!(first[0].receipt, second[0].receipt);
        queue.complete(&first[0]).await.expect("stale complete");
        assert_eq!(queue.len(), 1, "a stale receipt completes nothing");
        queue.complete(&second[0]).await.expect("complete");
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn retry_later_hides_the_job_for_the_delay() {
        let queue = MemoryQueue::new(Duration::from_secs(30));
        queue.enqueue(&jobs(1)).await.expect("enqueue");
        let got = queue.receive(1, Duration::ZERO).await.expect("receive");
        queue
            .retry_later(&got[0], Duration::from_millis(60))
            .await
            .expect("retry later");
        assert!(
            queue
                .receive(1, Duration::ZERO)
                .await
                .expect("receive")
                .is_empty()
        );
        let again = queue
            .receive(1, Duration::from_secs(5))
            .await
            .expect("receive after the delay");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].receive_count, 2);
    }

    #[tokio::test]
    async fn a_waiting_receive_gets_a_job_enqueued_meanwhile() {
        let queue = Arc::new(MemoryQueue::default());
        let waiting = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.receive(10, Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        queue.enqueue(&jobs(2)).await.expect("enqueue");
        let got = waiting.await.expect("task").expect("receive");
        assert!(!got.is_empty());
    }
}
