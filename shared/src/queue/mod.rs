//! The job queue port and its adapters.
//!
//! Producers (webhook, sweep, Slack retry) use [`JobQueue`]; pulling
//! consumers (the local runner) use [`JobSource`]. On Lambda, SQS pushes
//! batches to the worker, which still uses [`JobSource::retry_later`] to set
//! the back-off of a message it hands back.

pub mod embedded;
pub mod memory;
pub mod sqs;
mod state;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::RestageJob;

pub use embedded::EmbeddedQueue;
pub use memory::MemoryQueue;
pub use sqs::SqsQueue;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or refused the request; nothing can be assumed sent.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// Some entries were rejected for a reason retrying will not fix.
    #[error("queue rejected {count} job(s): {detail}")]
    Rejected { count: usize, detail: String },
    #[error("queue storage error: {0}")]
    Storage(String),
}

/// A message handed to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    /// Opaque handle for completing or delaying this delivery.
    pub receipt: String,
    pub body: String,
    /// 1 on first delivery.
    pub receive_count: u32,
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Puts every job on the queue. Returns `Ok` only when all were accepted.
    /// Safe to call again with the same jobs after an error: the job id is the
    /// deduplication id, and the worker ignores jobs already finished.
    async fn enqueue(&self, jobs: &[RestageJob]) -> Result<(), QueueError>;
}

#[async_trait]
pub trait JobSource: Send + Sync {
    /// Waits up to `wait` for at most `max` messages.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError>;
    /// The job is finished: remove it.
    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError>;
    /// Hand the job back, to be delivered again after `delay`.
    async fn retry_later(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError>;
    /// Jobs on the queue (visible or being worked on), where the queue can
    /// say without another request to a service (the `restager_queue_depth`
    /// metric); `None` otherwise (SQS).
    async fn depth(&self) -> Option<usize> {
        None
    }
}
