//! Stable identifiers. Both are derived from their inputs (UUID v5), so a
//! retried webhook or a redelivered message computes the same ids and every
//! store can deduplicate on them.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2d1e_8a5b_4c2f_9d3e_0b7a_5e4f_1c20);

/// One rollout: everything one notice (or one sweep) asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

/// One app's part of a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl RunId {
    /// The run for a release: the same release key always gives the same run.
    pub fn for_release(release_key: &str) -> Self {
        Self(Uuid::new_v5(&NAMESPACE, release_key.as_bytes()).to_string())
    }

    /// Accepts an id typed by an operator (`restager status RUN`) or read back from storage.
    pub fn parse(raw: &str) -> Result<Self, String> {
        Uuid::parse_str(raw.trim())
            .map(|u| Self(u.to_string()))
            .map_err(|_| format!("`{raw}` is not a run id (expected a UUID)"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl JobId {
    /// The job for an app within a run.
    pub fn for_app(run: &RunId, app_guid: &str) -> Self {
        let name = format!("{}/{}", run.0, app_guid);
        Self(Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string())
    }

    /// The job for an operator's `attempt`-th retry of this job (Slack "Retry
    /// failed"). It must differ from the failed job's id, or queue dedup and
    /// the ledger's "already final" check would drop it; it is stable so a
    /// double click queues the same retry twice, which dedup then absorbs.
    pub fn retry(&self, attempt: u32) -> Self {
        let name = format!("{}/retry/{attempt}", self.0);
        Self(Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string())
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Uuid::parse_str(raw.trim())
            .map(|u| Self(u.to_string()))
            .map_err(|_| format!("`{raw}` is not a job id (expected a UUID)"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let run = RunId::for_release("buildpack:ruby_buildpack:1.10.29");
        assert_eq!(run, RunId::for_release("buildpack:ruby_buildpack:1.10.29"));
        assert_ne!(run, RunId::for_release("buildpack:ruby_buildpack:1.10.30"));
        assert_eq!(JobId::for_app(&run, "a"), JobId::for_app(&run, "a"));
        assert_ne!(JobId::for_app(&run, "a"), JobId::for_app(&run, "b"));
        assert_eq!(RunId::parse(run.as_str()), Ok(run));
    }
}
