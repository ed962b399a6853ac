//! Each app's current state in a run. After an operator's "Retry failed" a
//! run holds several jobs for one app (the failed one and its retries); only
//! the newest retry generation speaks for the app.

use std::collections::HashMap;

use crate::domain::{Outcome, OutcomeKind};
use crate::ledger::{ExpectedJob, JobRecord, RunView};

/// One app's newest job in a run.
#[derive(Debug, Clone, Copy)]
pub struct LatestJob<'a> {
    pub job: &'a JobRecord,
    /// The run's expectation for this job, when the record has one.
    pub expected: Option<&'a ExpectedJob>,
}

impl LatestJob<'_> {
    pub fn retry(&self) -> u32 {
        self.expected.map_or(0, |e| e.retry)
    }

    /// A final failure: nothing will retry it unless an operator does.
    pub fn is_final_failure(&self) -> bool {
        matches!(
            &self.job.outcome,
            Some(o @ Outcome::Failed { .. }) if o.is_final()
        ) || matches!(&self.job.outcome, Some(Outcome::RolledBack { .. }))
    }

    /// `None` while the app has no outcome yet.
    pub fn kind(&self) -> Option<OutcomeKind> {
        self.job.outcome.as_ref().map(Outcome::kind)
    }
}

/// Every app's newest job, in the order the run lists its jobs.
pub fn latest_jobs(view: &RunView) -> Vec<LatestJob<'_>> {
    let expected: HashMap<_, _> = view
        .record
        .expected
        .iter()
        .map(|e| (&e.job_id, e))
        .collect();
    let mut order: Vec<&str> = Vec::new();
    let mut best: HashMap<&str, LatestJob<'_>> = HashMap::new();
    for job in &view.jobs {
        let candidate = LatestJob {
            job,
            expected: expected.get(&job.job_id).copied(),
        };
        match best.get(job.app.guid.as_str()) {
            // Equal generations cannot normally happen; the later row wins.
            Some(current) if current.retry() > candidate.retry() => {}
            Some(_) => {
                best.insert(&job.app.guid, candidate);
            }
            None => {
                order.push(&job.app.guid);
                best.insert(&job.app.guid, candidate);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|guid| best.remove(guid))
        .collect()
}
