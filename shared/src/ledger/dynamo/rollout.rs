//! The run's rollout record (one item, swapped by its `version`) and each
//! job's progress attribute.

use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoLedger;
use super::item::{ROLLOUT, job_sk, n, run_pk, s, text};
use crate::domain::{JobId, RunId};
use crate::ledger::{LedgerError, Progress, Rollout};

impl DynamoLedger {
    pub(super) async fn put_progress(
        &self,
        run_id: &RunId,
        job_id: &JobId,
        progress: &Progress,
    ) -> Result<(), LedgerError> {
        // The start and guids already stored stay: read, merge, write the
        // job's `progress` attribute unless the job went final meanwhile.
        let stored = match self.get_job(run_id, job_id).await? {
            Some(item) => {
                text(&item, "progress").and_then(|raw| serde_json::from_str::<Progress>(raw).ok())
            }
            None => None,
        };
        let merged = progress.clone().after(stored.as_ref());
        let json = serde_json::to_string(&merged).map_err(|e| {
            LedgerError::Corrupt(format!("cannot encode the progress of {job_id}: {e}"))
        })?;
        let result = self
            .update_item_of(&run_pk(run_id), &job_sk(job_id))
            .update_expression("SET progress = :p")
            .condition_expression("attribute_not_exists(is_final) OR is_final = :f")
            .expression_attribute_values(":p", s(&json))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .send()
            .await;
        self.written("UpdateItem (progress)", result)?;
        Ok(())
    }

    pub(super) async fn get_rollout(&self, run_id: &RunId) -> Result<Option<Rollout>, LedgerError> {
        let pk = run_pk(run_id);
        let item = self
            .get_item_of(&pk, ROLLOUT)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable("GetItem (rollout)", &e))?
            .item;
        match item {
            Some(item) => Ok(Some(self.rollout_of(&pk, &item)?)),
            None => Ok(None),
        }
    }

    pub(super) async fn put_rollout(
        &self,
        run_id: &RunId,
        read: u64,
        next: &Rollout,
    ) -> Result<bool, LedgerError> {
        if next.version <= read {
            return Ok(false);
        }
        let json = serde_json::to_string(next).map_err(|e| {
            LedgerError::Corrupt(format!("cannot encode the rollout of {run_id}: {e}"))
        })?;
        let version = |v: u64| n(i64::try_from(v).unwrap_or(i64::MAX));
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&run_pk(run_id)))
            .item("sk", s(ROLLOUT))
            .item("rollout", s(&json))
            .item("version", version(next.version));
        put = if read == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :read")
                .expression_attribute_values(":read", version(read))
        };
        self.written("PutItem (rollout)", put.send().await)
    }
}
