//! How the ledger's records are laid out in DynamoDB items, and read back.
//!
//! Key schema (table: `pk` S HASH, `sk` S RANGE, TTL attribute `expires_at`,
//! no secondary index):
//!
//! | item            | pk             | sk                          | attributes |
//! |-----------------|----------------|-----------------------------|------------|
//! | remembered key  | `key#<key>`    | `key`                       | `expires_at` (N, epoch s, for DynamoDB's TTL sweep), `expires_ms` (N, what reads compare) |
//! | run summary     | `run#<run id>` | `meta`                      | `record` (S, RunRecord JSON without expected/skipped), `expected` (N), `finished` (N), `completed_at` (S), `slack_thread` (S) |
//! | job             | `run#<run id>` | `job#<job id>`              | `spec` (S, ExpectedJob JSON), `seq` (N), `expected` (BOOL), `outcome` (S, Outcome JSON), `is_final`, `counted`, `settled` (BOOL), `attempts` (N), `updated_at` (S), `lease_owner` (S), `lease_until_ms` (N) |
//! | skipped app     | `run#<run id>` | `skip#<app guid>`           | `skipped` (S, SkippedApp JSON), `seq` (N) |
//! | rollout         | `run#<run id>` | `rollout`                   | `rollout` (S, Rollout JSON), `version` (N, what a swap compares) |
//! | run listing     | `runs`         | `<created_at>#<run id>`     | `run_id` (S) |
//!
//! Jobs and skipped apps are items of their own because a run of thousands of
//! apps would not fit DynamoDB's 400 KB item limit. Runs are listed newest
//! first by querying the single `runs` partition backwards (fine for the few
//! runs a day this tool makes).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::DynamoLedger;
use crate::domain::{JobId, Outcome, RunId};
use crate::ledger::state::{self, JobState, LeaseState, RunMeta};
use crate::ledger::{ExpectedJob, LedgerError, Rollout, RunRecord, RunView, SkippedApp};

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) const RUNS_PARTITION: &str = "runs";
pub(super) const META: &str = "meta";
pub(super) const ROLLOUT: &str = "rollout";

impl DynamoLedger {
    pub(super) fn corrupt(&self, pk: &str, sk: &str, what: &str) -> LedgerError {
        LedgerError::Corrupt(format!(
            "DynamoDB table {} item {pk}/{sk}: {what}",
            self.table
        ))
    }

    /// Reads a run's items into its view; `None` when the summary is missing.
    pub(super) fn assemble(
        &self,
        run_id: &RunId,
        items: Vec<Item>,
    ) -> Result<Option<RunView>, LedgerError> {
        let pk = run_pk(run_id);
        let mut meta_item = None;
        let mut expected: Vec<(i64, ExpectedJob)> = Vec::new();
        let mut skipped: Vec<(i64, SkippedApp)> = Vec::new();
        let mut jobs: HashMap<JobId, JobState> = HashMap::new();
        let mut rollout = None;
        for item in items {
            let sk = text(&item, "sk").unwrap_or_default().to_string();
            if sk == META {
                meta_item = Some(item);
            } else if sk == ROLLOUT {
                rollout = Some(self.rollout_of(&pk, &item)?);
            } else if sk.starts_with("job#") {
                let job = self.job_state(&pk, &sk, &item)?;
                if job.expected {
                    let raw = text(&item, "spec")
                        .ok_or_else(|| self.corrupt(&pk, &sk, "expected job without spec"))?;
                    let spec: ExpectedJob = self.decode(&pk, &sk, raw)?;
                    expected.push((number(&item, "seq").unwrap_or(0), spec.clone()));
                    jobs.insert(spec.job_id, job);
                }
            } else if sk.starts_with("skip#") {
                let raw = text(&item, "skipped")
                    .ok_or_else(|| self.corrupt(&pk, &sk, "skipped app without data"))?;
                skipped.push((
                    number(&item, "seq").unwrap_or(0),
                    self.decode(&pk, &sk, raw)?,
                ));
            }
        }
        let Some(meta_item) = meta_item else {
            return Ok(None);
        };
        let raw = text(&meta_item, "record")
            .ok_or_else(|| self.corrupt(&pk, META, "run without record"))?;
        let mut record: RunRecord = self.decode(&pk, META, raw)?;
        expected.sort_by(|a, b| (a.0, &a.1.job_id).cmp(&(b.0, &b.1.job_id)));
        skipped.sort_by(|a, b| (a.0, &a.1.app.guid).cmp(&(b.0, &b.1.app.guid)));
        record.expected = expected.into_iter().map(|(_, e)| e).collect();
        record.skipped = skipped.into_iter().map(|(_, s)| s).collect();
        let completed_at = match text(&meta_item, "completed_at") {
            Some(raw) => Some(
                DateTime::parse_from_rfc3339(raw)
                    .map_err(|e| self.corrupt(&pk, META, &format!("bad completed_at: {e}")))?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
        let meta = RunMeta {
            record,
            finished: number(&meta_item, "finished").unwrap_or(0).max(0) as usize,
            completed_at,
            slack_thread: text(&meta_item, "slack_thread").map(str::to_string),
            rollout,
        };
        Ok(Some(state::view(meta, |job| jobs.get(job).cloned())))
    }

    /// The rollout record stored in `item`.
    pub(super) fn rollout_of(&self, pk: &str, item: &Item) -> Result<Rollout, LedgerError> {
        let raw = text(item, "rollout")
            .ok_or_else(|| self.corrupt(pk, ROLLOUT, "rollout without data"))?;
        self.decode(pk, ROLLOUT, raw)
    }

    pub(super) fn job_state(
        &self,
        pk: &str,
        sk: &str,
        item: &Item,
    ) -> Result<JobState, LedgerError> {
        let outcome = match text(item, "outcome") {
            Some(raw) => Some(self.decode::<Outcome>(pk, sk, raw)?),
            None => None,
        };
        let updated_at = match text(item, "updated_at") {
            Some(raw) => Some(
                DateTime::parse_from_rfc3339(raw)
                    .map_err(|e| self.corrupt(pk, sk, &format!("bad updated_at: {e}")))?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
        let lease = match (text(item, "lease_owner"), number(item, "lease_until_ms")) {
            (Some(owner), Some(until)) => Some(LeaseState {
                owner: owner.to_string(),
                expires_at: DateTime::from_timestamp_millis(until)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            }),
            _ => None,
        };
        let progress = match text(item, "progress") {
            Some(raw) => Some(self.decode(pk, sk, raw)?),
            None => None,
        };
        Ok(JobState {
            progress,
            expected: flag(item, "expected"),
            outcome,
            attempts: number(item, "attempts")
                .unwrap_or(0)
                .clamp(0, u32::MAX as i64) as u32,
            updated_at,
            lease,
        })
    }

    pub(super) fn decode<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
        raw: &str,
    ) -> Result<T, LedgerError> {
        serde_json::from_str(raw)
            .map_err(|e| self.corrupt(pk, sk, &format!("unreadable JSON: {e}")))
    }
}

pub(super) fn run_pk(run_id: &RunId) -> String {
    format!("run#{run_id}")
}

pub(super) fn job_sk(job_id: &JobId) -> String {
    format!("job#{job_id}")
}

pub(super) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(super) fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|raw| raw.parse().ok())
}

pub(super) fn flag(item: &Item, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(super) fn conditional_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}
