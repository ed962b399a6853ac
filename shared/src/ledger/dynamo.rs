//! The ledger in one DynamoDB table (the SAM template's `LedgerTable`), shared
//! by every Lambda invocation. Atomicity comes from conditional writes, so
//! concurrent workers in separate processes follow the same rules as the
//! in-process adapters (see `state`).
//!
//! The item layout (key schema, attributes) and its encoding are in
//! [`item`].
//!
//! Counting outcomes until a run completes is in [`counting`].

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};

use super::state;
use super::{
    ExpectedJob, Lease, Ledger, LedgerError, Progress, Recorded, Rollout, RunRecord, RunView,
    SkippedApp,
};
use crate::domain::{JobId, Outcome, RunId};

mod counting;
mod item;
mod rollout;

use item::{
    Item, META, RUNS_PARTITION, conditional_failed, flag, job_sk, n, rfc3339, run_pk, s, text,
};

/// How many job writes of one `put_run` are in flight at once.
const PUT_CONCURRENCY: usize = 16;

/// A [`Ledger`] in a DynamoDB table.
#[derive(Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
}

impl DynamoLedger {
    /// Uses `client` as configured (timeouts included).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A client from `config` with bounded timeouts and retries, so an
    /// unreachable endpoint fails within seconds instead of stalling a Lambda.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(4))
                    .operation_timeout(Duration::from_secs(10))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .build();
        Self::new(Client::from_conf(conf), table)
    }

    /// Credentials, region and endpoint from the environment (Lambda's role,
    /// `AWS_ENDPOINT_URL` for local servers).
    pub async fn from_env(table: &str) -> Result<Self, LedgerError> {
        if table.trim().is_empty() {
            return Err(LedgerError::Unavailable(
                "the ledger table name is empty: set the DynamoDB table name".into(),
            ));
        }
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self::from_sdk_config(&config, table))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// An UpdateItem on the item `pk`/`sk` of the ledger's table.
    fn update_item_of(&self, pk: &str, sk: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
    }

    /// A GetItem of the item `pk`/`sk` of the ledger's table.
    fn get_item_of(&self, pk: &str, sk: &str) -> GetItemFluentBuilder {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
    }

    /// A Query of the partition `pk` of the ledger's table.
    fn query_of(&self, pk: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
    }

    fn unavailable<E, R>(&self, op: &str, e: &SdkError<E, R>) -> LedgerError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        LedgerError::Unavailable(format!(
            "DynamoDB {op} on table {}: {}",
            self.table,
            DisplayErrorContext(e)
        ))
    }

    /// Whether a conditional write took place: `false` when its condition
    /// did not hold, which callers take as an answer (already there, taken,
    /// stale), not as a failure.
    fn written<O, E, R>(
        &self,
        op: &str,
        result: Result<O, SdkError<E, R>>,
    ) -> Result<bool, LedgerError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match result {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(self.unavailable(op, &e)),
        }
    }

    async fn query_all(&self, pk: &str) -> Result<Vec<Item>, LedgerError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .query_of(pk)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.unavailable("Query", &e))?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    async fn get_job(&self, run_id: &RunId, job_id: &JobId) -> Result<Option<Item>, LedgerError> {
        let out = self
            .get_item_of(&run_pk(run_id), &job_sk(job_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable("GetItem", &e))?;
        Ok(out.item)
    }

    /// Marks one job expected; `Some(was_final)` if this call added it.
    async fn expect_job(
        &self,
        run_id: &RunId,
        seq: usize,
        job: &ExpectedJob,
    ) -> Result<Option<bool>, LedgerError> {
        let spec = serde_json::to_string(job)
            .map_err(|e| LedgerError::Corrupt(format!("cannot encode job {}: {e}", job.job_id)))?;
        let result = self
            .update_item_of(&run_pk(run_id), &job_sk(&job.job_id))
            .update_expression("SET expected = :t, spec = :spec, seq = :seq")
            .condition_expression("attribute_not_exists(expected)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":spec", s(&spec))
            .expression_attribute_values(":seq", n(seq as i64))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(
                out.attributes
                    .as_ref()
                    .is_some_and(|old| flag(old, "is_final")),
            )),
            Err(e) if conditional_failed(&e) => Ok(None),
            Err(e) => Err(self.unavailable("UpdateItem (expect job)", &e)),
        }
    }

    async fn put_skipped(
        &self,
        run_id: &RunId,
        seq: usize,
        skipped: &SkippedApp,
    ) -> Result<(), LedgerError> {
        let json = serde_json::to_string(skipped).map_err(|e| {
            LedgerError::Corrupt(format!(
                "cannot encode skipped app {}: {e}",
                skipped.app.guid
            ))
        })?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&run_pk(run_id)))
            .item("sk", s(&format!("skip#{}", skipped.app.guid)))
            .item("skipped", s(&json))
            .item("seq", n(seq as i64))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        self.written("PutItem (skipped app)", result)?;
        Ok(())
    }
}

#[async_trait]
impl Ledger for DynamoLedger {
    async fn remember(&self, key: &str, ttl: Duration) -> Result<bool, LedgerError> {
        let now = Utc::now();
        let expires = state::expiry(now, ttl);
        // DynamoDB's TTL sweep works in seconds (and lags); reads compare milliseconds.
        let expires_s = expires.timestamp() + 1;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&format!("key#{key}")))
            .item("sk", s("key"))
            .item("expires_at", n(expires_s))
            .item("expires_ms", n(expires.timestamp_millis()))
            .condition_expression("attribute_not_exists(pk) OR expires_ms < :now")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .send()
            .await;
        self.written("PutItem (remember)", result)
    }

    async fn forget(&self, key: &str) -> Result<(), LedgerError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&format!("key#{key}")))
            .key("sk", s("key"))
            .send()
            .await
            .map_err(|e| self.unavailable("DeleteItem (forget)", &e))?;
        Ok(())
    }

    async fn put_run(&self, run: &RunRecord) -> Result<(), LedgerError> {
        let pk = run_pk(&run.run_id);
        let bare = RunRecord {
            expected: Vec::new(),
            skipped: Vec::new(),
            ..run.clone()
        };
        let record = serde_json::to_string(&bare)
            .map_err(|e| LedgerError::Corrupt(format!("cannot encode run {}: {e}", run.run_id)))?;
        // Creates the summary, or keeps the stored one; either way lists the
        // run under its stored creation time (idempotent, heals a crash
        // between the two writes).
        let stored = self
            .update_item_of(&pk, META)
            .update_expression(
                "SET #record = if_not_exists(#record, :record), expected = if_not_exists(expected, :zero), finished = if_not_exists(finished, :zero)",
            )
            .expression_attribute_names("#record", "record")
            .expression_attribute_values(":record", s(&record))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| self.unavailable("UpdateItem (run summary)", &e))?
            .attributes
            .unwrap_or_default();
        let stored: RunRecord = self.decode(
            &pk,
            META,
            text(&stored, "record").ok_or_else(|| self.corrupt(&pk, META, "run without record"))?,
        )?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(RUNS_PARTITION))
            .item("sk", s(&state::run_order_key(&stored)))
            .item("run_id", s(run.run_id.as_str()))
            .send()
            .await
            .map_err(|e| self.unavailable("PutItem (run listing)", &e))?;

        // Futures built first (not in a stream closure) so the trait's boxed
        // future stays `Send`.
        let jobs: Vec<_> = run
            .expected
            .iter()
            .enumerate()
            .map(|(seq, job)| self.expect_job(&run.run_id, seq, job))
            .collect();
        let added: Vec<Option<bool>> = futures::stream::iter(jobs)
            .buffered(PUT_CONCURRENCY)
            .try_collect()
            .await?;
        let skipped: Vec<_> = run
            .skipped
            .iter()
            .enumerate()
            .map(|(seq, skipped)| self.put_skipped(&run.run_id, seq, skipped))
            .collect();
        futures::stream::iter(skipped)
            .buffer_unordered(PUT_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;

        // Jobs that reported before they were expected count from now on.
        for (job, _) in run
            .expected
            .iter()
            .zip(&added)
            .filter(|(_, added)| **added == Some(true))
        {
            if self.count_once(&run.run_id, &job.job_id).await? {
                self.settle_job(&run.run_id, &job.job_id).await?;
            }
        }
        self.settle_expected(&run.run_id).await
    }

    async fn get_run(&self, run_id: &RunId) -> Result<Option<RunView>, LedgerError> {
        let items = self.query_all(&run_pk(run_id)).await?;
        self.assemble(run_id, items)
    }

    async fn list_runs(&self, limit: usize) -> Result<Vec<RunView>, LedgerError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let page = self
            .query_of(RUNS_PARTITION)
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| self.unavailable("Query (run listing)", &e))?;
        let mut ids = Vec::new();
        for item in page.items.unwrap_or_default() {
            let sk = text(&item, "sk").unwrap_or_default().to_string();
            let raw = text(&item, "run_id")
                .ok_or_else(|| self.corrupt(RUNS_PARTITION, &sk, "listing without run_id"))?;
            let id = RunId::parse(raw).map_err(|e| self.corrupt(RUNS_PARTITION, &sk, &e))?;
            ids.push(id);
        }
        let reads: Vec<_> = ids.iter().map(|id| self.get_run(id)).collect();
        let views: Vec<Option<RunView>> = futures::stream::iter(reads)
            .buffered(PUT_CONCURRENCY)
            .try_collect()
            .await?;
        ids.iter()
            .zip(views)
            .map(|(id, view)| {
                view.ok_or_else(|| self.corrupt(&run_pk(id), META, "run is listed but not stored"))
            })
            .collect()
    }

    async fn lease_job(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, LedgerError> {
        let now = Utc::now();
        let until = state::expiry(now, ttl).timestamp_millis();
        let result = self
            .update_item_of(&run_pk(run_id), &job_sk(job_id))
            .update_expression("SET lease_owner = :owner, lease_until_ms = :until")
            .condition_expression(
                "(attribute_not_exists(is_final) OR is_final = :f OR (expected = :t AND attribute_not_exists(settled))) AND (attribute_not_exists(lease_owner) OR lease_owner = :owner OR lease_until_ms <= :now)",
            )
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Lease::Acquired),
            Err(e) if conditional_failed(&e) => {
                // Final and settled, or held: read which. A final job
                // whose bookkeeping is unfinished is only held.
                let pk = run_pk(run_id);
                let sk = job_sk(job_id);
                let item = self.get_job(run_id, job_id).await?.unwrap_or_default();
                let settled = flag(&item, "settled") || !flag(&item, "expected");
                match self.job_state(&pk, &sk, &item)?.outcome {
                    Some(outcome) if flag(&item, "is_final") && settled => {
                        Ok(Lease::AlreadyFinal(outcome))
                    }
                    _ => Ok(Lease::HeldElsewhere),
                }
            }
            Err(e) => Err(self.unavailable("UpdateItem (lease job)", &e)),
        }
    }

    async fn release_job(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        owner: &str,
    ) -> Result<(), LedgerError> {
        let result = self
            .update_item_of(&run_pk(run_id), &job_sk(job_id))
            .update_expression("REMOVE lease_owner, lease_until_ms")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        self.written("UpdateItem (release job)", result)?;
        Ok(())
    }

    async fn record_outcome(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        outcome: &Outcome,
    ) -> Result<Recorded, LedgerError> {
        let json = serde_json::to_string(outcome)
            .map_err(|e| LedgerError::Corrupt(format!("cannot encode outcome of {job_id}: {e}")))?;
        let is_final = outcome.is_final();
        let mut update = self
            .update_item_of(&run_pk(run_id), &job_sk(job_id))
            .expression_attribute_values(":o", s(&json))
            .expression_attribute_values(":final", AttributeValue::Bool(is_final))
            .expression_attribute_values(":now", s(&rfc3339(Utc::now())))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        update = update.update_expression(
            "SET outcome = :o, is_final = :final, updated_at = :now ADD attempts :one",
        );
        if !is_final {
            // A stale non-final report never replaces a final outcome.
            update =
                update.condition_expression("attribute_not_exists(is_final) OR is_final = :final");
        }
        let job = match update.send().await {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if conditional_failed(&e) => {
                return Ok(Recorded {
                    completed_run: false,
                    finished: 0,
                });
            }
            Err(e) => return Err(self.unavailable("UpdateItem (record outcome)", &e)),
        };
        if !is_final || !flag(&job, "expected") {
            return Ok(Recorded {
                completed_run: false,
                finished: 0,
            });
        }
        // The job stays leasable (see `lease_job`) until it is settled, so if
        // any step below fails, the redelivery does it again.
        if !flag(&job, "counted") && !self.count_once(run_id, job_id).await? {
            return Ok(Recorded {
                completed_run: false,
                finished: 0,
            });
        }
        let (completed_run, finished) = self.complete_if_done(run_id).await?;
        self.settle_job(run_id, job_id).await?;
        Ok(Recorded {
            completed_run,
            finished,
        })
    }

    async fn set_slack_thread(&self, run_id: &RunId, ts: &str) -> Result<bool, LedgerError> {
        let result = self
            .update_item_of(&run_pk(run_id), META)
            .update_expression("SET slack_thread = :ts")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(slack_thread)")
            .expression_attribute_values(":ts", s(ts))
            .send()
            .await;
        self.written("UpdateItem (slack thread)", result)
    }

    async fn record_progress(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        progress: &Progress,
    ) -> Result<(), LedgerError> {
        self.put_progress(run_id, job_id, progress).await
    }

    async fn rollout(&self, run_id: &RunId) -> Result<Option<Rollout>, LedgerError> {
        self.get_rollout(run_id).await
    }

    async fn swap_rollout(
        &self,
        run_id: &RunId,
        read: u64,
        next: &Rollout,
    ) -> Result<bool, LedgerError> {
        self.put_rollout(run_id, read, next).await
    }
}
