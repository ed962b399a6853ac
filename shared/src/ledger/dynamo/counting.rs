//! Counting a run's outcomes until it completes, in a table shared by
//! concurrent workers.
//!
//! `put_run` marks jobs expected, then sets the summary's `expected` from a count of the marked job items (never lowering it), so
//! its retry repairs a `put_run` that died half-way. Recording a final
//! outcome is three steps: store it on the job; count it once (a
//! transaction sets the job's `counted` flag and adds 1 to `finished`); if
//! `finished >= expected`, set `completed_at` only if absent — the one caller
//! whose write succeeds reports `completed_run`. Then the job is `settled`.
//! Until then `lease_job` does not answer `AlreadyFinal` for it, so when a
//! step fails the redelivery records the outcome again and finishes the
//! bookkeeping instead of leaving the run one short of complete.

use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::Utc;

use super::DynamoLedger;
use super::item::{META, flag, job_sk, n, number, rfc3339, run_pk, s, text};
use crate::domain::{JobId, RunId};
use crate::ledger::LedgerError;
use crate::retry::{Backoff, Jitter};

/// Tries of a count transaction that meets concurrent counts of the same run.
const COUNT_ATTEMPTS: u32 = 8;
/// The wait between them: 10 ms doubling up to 80 ms, half of it jittered.
const COUNT_RETRY: Backoff =
    Backoff::new(Duration::from_millis(10), Duration::from_millis(80)).with_jitter(Jitter::Equal);

impl DynamoLedger {
    /// Sets the run's `expected` count from its job items. Counted rather
    /// than added up, so a `put_run` that died between marking jobs and
    /// counting them is repaired by the caller's retry. The count only grows
    /// (jobs are never un-expected), so racing writers converge on the
    /// largest; growing it with jobs still to run reopens a completed run.
    pub(super) async fn settle_expected(&self, run_id: &RunId) -> Result<(), LedgerError> {
        let pk = run_pk(run_id);
        let mut expected = 0_i64;
        let mut pending = 0_i64;
        for item in self.query_all(&pk).await? {
            let is_job = text(&item, "sk").is_some_and(|sk| sk.starts_with("job#"));
            if is_job && flag(&item, "expected") {
                expected += 1;
                if !flag(&item, "is_final") {
                    pending += 1;
                }
            }
        }
        let expression = if pending > 0 {
            "SET expected = :e REMOVE completed_at"
        } else {
            "SET expected = :e"
        };
        let result = self
            .update_item_of(&pk, META)
            .update_expression(expression)
            .condition_expression("attribute_exists(pk) AND expected < :e")
            .expression_attribute_values(":e", n(expected))
            .send()
            .await;
        self.written("UpdateItem (expected count)", result)?;
        Ok(())
    }

    /// Adds a final job to its run's `finished` count, once: the job's
    /// `counted` flag and the count change in one transaction, so a retried
    /// `record_outcome` never counts twice. `false` if the run summary is gone.
    pub(super) async fn count_once(
        &self,
        run_id: &RunId,
        job_id: &JobId,
    ) -> Result<bool, LedgerError> {
        let pk = run_pk(run_id);
        let build = |e: aws_sdk_dynamodb::error::BuildError| {
            LedgerError::Corrupt(format!("cannot build the count transaction: {e}"))
        };
        let mark = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(&job_sk(job_id)))
            .update_expression("SET counted = :t")
            .condition_expression("attribute_not_exists(counted)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .build()
            .map_err(build)?;
        let add = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(META))
            .update_expression("ADD finished :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(build)?;
        for attempt in 0..COUNT_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(mark.clone()).build())
                .transact_items(TransactWriteItem::builder().update(add.clone()).build())
                .send()
                .await;
            let reasons: Vec<String> = match result {
                Ok(_) => return Ok(true),
                Err(e) => match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_string())
                        .collect(),
                    _ => return Err(self.unavailable("TransactWriteItems (count)", &e)),
                },
            };
            // Reasons are in item order: the job's mark, then the run summary.
            match (
                reasons.first().map(String::as_str),
                reasons.get(1).map(String::as_str),
            ) {
                (Some("ConditionalCheckFailed"), _) => return Ok(true),
                (_, Some("ConditionalCheckFailed")) => return Ok(false),
                _ if reasons.iter().any(|r| r == "TransactionConflict") => {
                    // Another worker's count on the same run: back off and retry.
                    tokio::time::sleep(COUNT_RETRY.delay(attempt + 1)).await;
                }
                _ => {
                    return Err(LedgerError::Unavailable(format!(
                        "DynamoDB TransactWriteItems (count) on table {} was cancelled: {}",
                        self.table,
                        reasons.join(", ")
                    )));
                }
            }
        }
        Err(LedgerError::Unavailable(format!(
            "DynamoDB table {}: counting a final outcome kept conflicting with other writers; retry later",
            self.table
        )))
    }

    /// Ends a final job's bookkeeping: from now on a lease request answers
    /// `AlreadyFinal`, and its lease is gone.
    pub(super) async fn settle_job(
        &self,
        run_id: &RunId,
        job_id: &JobId,
    ) -> Result<(), LedgerError> {
        self.update_item_of(&run_pk(run_id), &job_sk(job_id))
            .update_expression("SET settled = :t REMOVE lease_owner, lease_until_ms")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| self.unavailable("UpdateItem (settle job)", &e))?;
        Ok(())
    }

    /// Marks the run complete if every expected job is final; `true` for the
    /// one caller whose conditional write sets `completed_at`. Also returns
    /// the run's `finished` count as read.
    pub(super) async fn complete_if_done(
        &self,
        run_id: &RunId,
    ) -> Result<(bool, usize), LedgerError> {
        let pk = run_pk(run_id);
        let meta = self
            .get_item_of(&pk, META)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable("GetItem (run summary)", &e))?
            .item
            .unwrap_or_default();
        let finished = number(&meta, "finished").unwrap_or(0);
        let expected = number(&meta, "expected").unwrap_or(0);
        let count = usize::try_from(finished).unwrap_or(0);
        if meta.is_empty() || finished < expected || meta.contains_key("completed_at") {
            return Ok((false, count));
        }
        let result = self
            .update_item_of(&pk, META)
            .update_expression("SET completed_at = :now")
            .condition_expression("attribute_not_exists(completed_at) AND finished >= expected")
            .expression_attribute_values(":now", s(&rfc3339(Utc::now())))
            .send()
            .await;
        Ok((self.written("UpdateItem (complete run)", result)?, count))
    }
}
