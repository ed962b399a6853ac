//! A restage's progress, written to the ledger as it goes, so the run's
//! live view (`restager status`, the admin API, the run page) says which
//! app is staging, deploying or verifying, with its build and deployment.

use chrono::{DateTime, Utc};

use crate::domain::RestageJob;
use crate::engine::ProgressSink;
use crate::ledger::{Ledger, Phase, Progress};

pub(super) struct LedgerProgress<'a> {
    pub ledger: &'a dyn Ledger,
    pub job: &'a RestageJob,
    /// When this delivery started on the job; the ledger keeps the first.
    pub started_at: DateTime<Utc>,
}

#[async_trait::async_trait]
impl ProgressSink for LedgerProgress<'_> {
    async fn reached(&self, phase: Phase, build_guid: Option<&str>, deployment_guid: Option<&str>) {
        let report = Progress {
            phase,
            started_at: self.started_at,
            at: Utc::now(),
            build_guid: build_guid.map(str::to_string),
            deployment_guid: deployment_guid.map(str::to_string),
        };
        if let Err(e) = self
            .ledger
            .record_progress(&self.job.run_id, &self.job.job_id, &report)
            .await
        {
            // Only the live view misses it; the restage goes on.
            tracing::debug!(job = %self.job.job_id, error = %e, "could not record the restage's progress");
        }
    }
}
