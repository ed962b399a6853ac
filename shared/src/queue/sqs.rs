//! Amazon SQS as the job queue (and any SQS-compatible server, e.g. moto's).
//!
//! Sends go out as `SendMessageBatch` calls of 10, several at once. On a FIFO
//! queue each job carries `MessageGroupId` = its space guid, split into as
//! many groups as the space's quota allows restages at once
//! (`RestageJob::message_group`: so restages in one space, the quota
//! boundary, never overlap beyond what its quota holds) and
//! `MessageDeduplicationId` = its job id (so a sender retrying a half-failed
//! fan-out never enqueues a job twice within SQS's 5-minute window; after
//! that the worker's ledger check still makes the duplicate a no-op).

use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, SdkError};
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use futures::stream::{self, StreamExt};

use super::{Delivery, JobQueue, JobSource, QueueError};
use crate::domain::RestageJob;
use crate::retry::Backoff;

/// SQS accepts at most 10 entries per batch call.
const BATCH_SIZE: usize = 10;
/// SQS's limit for one message and for a whole batch call (body plus
/// message attributes).
const MAX_BYTES: usize = 1_048_576;
/// Batch calls in flight at once during a fan-out.
const PARALLEL_BATCHES: usize = 8;
/// Rounds of resending entries SQS failed through no fault of ours.
const RESEND_ROUNDS: u32 = 3;
/// SQS's longest visibility timeout.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// A job queue on SQS.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    fifo: bool,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        let queue_url = queue_url.into();
        Self {
            client,
            fifo: queue_url.ends_with(".fifo"),
            queue_url,
        }
    }

    /// A client from `config`, with this adapter's timeouts and retries
    /// (an unreachable endpoint fails within seconds, not minutes).
    pub fn from_sdk_config(config: &SdkConfig, queue_url: impl Into<String>) -> Self {
        let sqs_config = aws_sdk_sqs::config::Builder::from(config)
            .timeout_config(timeouts())
            .retry_config(retries())
            .build();
        Self::new(Client::from_conf(sqs_config), queue_url)
    }

    /// Uses the standard AWS configuration chain: region, credentials and
    /// endpoint overrides (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SQS`) from
    /// the environment.
    pub async fn from_env(queue_url: impl Into<String>) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts())
            .retry_config(retries())
            .load()
            .await;
        Self::from_sdk_config(&config, queue_url)
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    fn entry(
        &self,
        index: usize,
        out: &Outgoing<'_>,
    ) -> Result<SendMessageBatchRequestEntry, QueueError> {
        let job = out.job;
        let attr = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| QueueError::Rejected {
                    count: 1,
                    detail: e.to_string(),
                })
        };
        let mut entry = SendMessageBatchRequestEntry::builder()
            .id(index.to_string())
            .message_body(out.body.as_str())
            .message_attributes(RUN_ID, attr(job.run_id.as_str())?)
            .message_attributes(JOB_ID, attr(job.job_id.as_str())?);
        if self.fifo {
            entry = entry
                .message_group_id(job.message_group())
                .message_deduplication_id(job.dedup_id());
        }
        entry.build().map_err(|e| QueueError::Rejected {
            count: 1,
            detail: e.to_string(),
        })
    }

    /// Sends one batch, resending entries SQS failed on its side (bounded,
    /// with [`resend_backoff`]). Entries failed as the sender's fault are not
    /// resent; they and any still failing are reported with their count.
    async fn send_batch(&self, batch: &[Outgoing<'_>]) -> Result<(), QueueError> {
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut rejected = 0usize;
        let mut rejected_detail = String::new();
        let mut last_problem = String::new();
        for round in 0..=RESEND_ROUNDS {
            if round > 0 {
                tokio::time::sleep(resend_backoff(round)).await;
            }
            let entries = pending
                .iter()
                .map(|&i| self.entry(i, &batch[i]))
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| send_failure(e, pending.len()))?;
            let mut resend = Vec::new();
            for failure in output.failed() {
                let problem = format!(
                    "{}: {}",
                    failure.code(),
                    failure.message().unwrap_or("no message")
                );
                if failure.sender_fault() {
                    rejected += 1;
                    rejected_detail = problem;
                } else if let Ok(i) = failure.id().parse::<usize>() {
                    resend.push(i);
                    last_problem = problem;
                }
            }
            pending = resend;
            if pending.is_empty() {
                break;
            }
        }
        if rejected > 0 {
            return Err(QueueError::Rejected {
                count: rejected + pending.len(),
                detail: rejected_detail,
            });
        }
        if !pending.is_empty() {
            return Err(QueueError::Unavailable(format!(
                "{} job(s) still refused after {RESEND_ROUNDS} resends: {last_problem}",
                pending.len()
            )));
        }
        Ok(())
    }
}

/// Message attribute names, for consumers filtering without parsing bodies.
pub const RUN_ID: &str = "run_id";
pub const JOB_ID: &str = "job_id";

/// A job ready to send.
struct Outgoing<'a> {
    job: &'a RestageJob,
    body: String,
}

impl<'a> Outgoing<'a> {
    fn new(job: &'a RestageJob) -> Self {
        Self {
            job,
            body: job.to_json(),
        }
    }

    /// Size as SQS counts it: body plus each attribute's name, type and value.
    fn size(&self) -> usize {
        let attribute = |name: &str, value: &str| name.len() + "String".len() + value.len();
        self.body.len()
            + attribute(RUN_ID, self.job.run_id.as_str())
            + attribute(JOB_ID, self.job.job_id.as_str())
    }
}

/// Splits jobs into batches of at most 10 entries and 1 MiB; a job too big
/// for any message is returned separately.
fn plan(jobs: &[RestageJob]) -> (Vec<Vec<Outgoing<'_>>>, Vec<Outgoing<'_>>) {
    let mut batches: Vec<Vec<Outgoing<'_>>> = Vec::new();
    let mut too_big = Vec::new();
    let mut bytes = 0usize;
    for job in jobs {
        let out = Outgoing::new(job);
        let size = out.size();
        if size > MAX_BYTES {
            too_big.push(out);
            continue;
        }
        match batches.last_mut() {
            Some(batch) if batch.len() < BATCH_SIZE && bytes + size <= MAX_BYTES => {
                bytes += size;
                batch.push(out);
            }
            _ => {
                bytes = size;
                batches.push(vec![out]);
            }
        }
    }
    (batches, too_big)
}

/// Request-level errors: a malformed or oversized batch is our fault and
/// retrying it will not help; anything else (throttling, a missing queue,
/// permissions, the network) may pass once fixed or later.
fn send_failure<R: std::fmt::Debug>(
    e: SdkError<SendMessageBatchError, R>,
    count: usize,
) -> QueueError {
    let ours = e.as_service_error().is_some_and(|s| {
        s.is_batch_request_too_long()
            || s.is_batch_entry_ids_not_distinct()
            || s.is_empty_batch_request()
            || s.is_invalid_batch_entry_id()
            || s.is_too_many_entries_in_batch_request()
    });
    if ours {
        QueueError::Rejected {
            count,
            detail: DisplayErrorContext(&e).to_string(),
        }
    } else {
        unavailable(e)
    }
}

/// The wait before resend `round`: 200 ms doubling up to 6.4 s, fully
/// jittered, so parallel batches that failed together do not resend together.
fn resend_backoff(round: u32) -> Duration {
    const RESEND: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_millis(6_400));
    RESEND.delay(round)
}

/// The SDK's own attempts per call (connection errors, throttling, 5xx).
fn retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(2))
}

fn timeouts() -> aws_config::timeout::TimeoutConfig {
    // Fail fast when SQS is unreachable (the webhook must answer 503 well
    // inside GitHub's 10 seconds), but leave room for 20 s long polls.
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(25))
        .build()
}

fn unavailable<E, R>(e: SdkError<E, R>) -> QueueError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    QueueError::Unavailable(DisplayErrorContext(&e).to_string())
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, jobs: &[RestageJob]) -> Result<(), QueueError> {
        let (batches, too_big) = plan(jobs);
        // Built up front: a closure inside the stream trips async_trait's lifetimes.
        let sends: Vec<_> = batches.iter().map(|b| self.send_batch(b)).collect();
        let results: Vec<Result<(), QueueError>> = stream::iter(sends)
            .buffer_unordered(PARALLEL_BATCHES)
            .collect()
            .await;
        let mut errors: Vec<QueueError> = results.into_iter().filter_map(Result::err).collect();
        if let Some(first) = too_big.first() {
            errors.push(QueueError::Rejected {
                count: too_big.len(),
                detail: format!(
                    "job {} is {} bytes; an SQS message holds at most {MAX_BYTES}",
                    first.job.job_id,
                    first.size()
                ),
            });
        }
        // The oversized jobs count as one more failed part of the fan-out.
        combine(errors, batches.len() + usize::from(!too_big.is_empty()))
    }
}

/// One error for a whole fan-out: a rejection (retrying will not help)
/// outranks unavailability, and both say how much of the fan-out failed.
fn combine(errors: Vec<QueueError>, batches: usize) -> Result<(), QueueError> {
    let failed = errors.len();
    let mut rejected = 0;
    let mut rejected_detail = None;
    let mut first = None;
    for error in errors {
        if let QueueError::Rejected { count, detail } = &error {
            rejected += count;
            rejected_detail.get_or_insert_with(|| detail.clone());
        }
        first.get_or_insert(error);
    }
    let Some(first) = first else {
        return Ok(());
    };
    if let Some(detail) = rejected_detail {
        return Err(QueueError::Rejected {
            count: rejected,
            detail: format!("{detail} ({failed} of {batches} batch(es) failed)"),
        });
    }
    if failed == 1 {
        return Err(first);
    }
    Err(QueueError::Unavailable(format!(
        "{failed} of {batches} batch(es) not sent; first: {first}"
    )))
}

#[async_trait]
impl JobSource for SqsQueue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let max = i32::try_from(max.clamp(1, 10)).unwrap_or(10);
        let wait = i32::try_from(wait.as_secs().min(20)).unwrap_or(20);
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output
            .messages()
            .iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Some(Delivery {
                    message_id: m.message_id()?.to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    receive_count,
                })
            })
            .collect())
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(&delivery.receipt)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn retry_later(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        let secs = i32::try_from(delay.min(MAX_VISIBILITY).as_secs()).unwrap_or(i32::MAX);
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&delivery.receipt)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_outranks_outages_and_counts_add_up() {
        let errors = vec![
            QueueError::Unavailable("timeout".into()),
            QueueError::Rejected {
                count: 2,
                detail: "InvalidParameterValue: too big".into(),
            },
            QueueError::Rejected {
                count: 1,
                detail: "InvalidParameterValue: too big".into(),
            },
        ];
        match combine(errors, 5) {
            Err(QueueError::Rejected { count, detail }) => {
                assert_eq!(count, 3);
                assert!(detail.contains("3 of 5"), "{detail}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn outages_say_how_many_batches_failed() {
        assert!(combine(Vec::new(), 3).is_ok());
        let one = combine(vec![QueueError::Unavailable("refused".into())], 3);
        assert!(matches!(one, Err(QueueError::Unavailable(m)) if m == "refused"));
        let two = combine(
            vec![
                QueueError::Unavailable("refused".into()),
                QueueError::Unavailable("refused".into()),
            ],
            3,
        );
        assert!(matches!(two, Err(QueueError::Unavailable(m)) if m.starts_with("2 of 3")));
    }

    #[test]
    fn batches_hold_at_most_ten_jobs_and_one_mebibyte() {
        use crate::domain::fixtures::{app, stack_job};
        let job = |i: usize, name_len: usize| {
            stack_job(
                "1.0.0",
                app(format!("app-{i}"), "n".repeat(name_len), "s", "o"),
                "d".into(),
            )
        };
        let small: Vec<RestageJob> = (0..25).map(|i| job(i, 10)).collect();
        let (batches, too_big) = plan(&small);
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 5]);
        assert!(too_big.is_empty());

        let mixed = vec![
            job(0, 400_000),
            job(1, 400_000),
            job(2, 2_000_000),
            job(3, 400_000),
        ];
        let (batches, too_big) = plan(&mixed);
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 1]);
        assert!(
            batches
                .iter()
                .all(|b| b.iter().map(Outgoing::size).sum::<usize>() <= MAX_BYTES)
        );
        assert_eq!(too_big.len(), 1);
        assert_eq!(too_big[0].job.app.guid, "app-2");
    }

    #[test]
    fn resend_backoff_is_bounded() {
        for round in 1..10 {
            assert!(resend_backoff(round) <= Duration::from_millis(6_400));
        }
    }
}
