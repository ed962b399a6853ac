//! The labels that tie CF builds and deployments to the job that made them,
//! so a redelivered job finds its own work instead of starting more.

use std::collections::BTreeMap;

use crate::domain::RestageJob;

/// Label key carrying the job id on builds and deployments restager creates.
pub const JOB_LABEL: &str = "restager.io/job";
/// Label key carrying the run id (for operators filtering by rollout).
pub const RUN_LABEL: &str = "restager.io/run";
/// Label on a deployment restager made to put the previous droplet back;
/// its value is the guid of the deployment whose droplet crashed. A
/// redelivered job that finds it follows the rollback instead of verifying
/// (or rolling back) again.
pub const ROLLBACK_LABEL: &str = "restager.io/rollback-of";
/// Annotation on that deployment, and on a canary restager canceled because
/// it crashed: why it was rolled back, for the report (and, on the canary,
/// so a redelivery reports the cancel instead of verifying again).
pub const ROLLBACK_REASON: &str = "restager.io/rollback-reason";

/// A CF label value: at most 63 characters of `[A-Za-z0-9._-]`, starting and
/// ending with an alphanumeric. Other characters become `-`, and the ends are
/// trimmed; an id that is a UUID passes through unchanged.
pub fn label_value(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Labels for everything created on behalf of `job`.
pub fn job_labels(job: &RestageJob) -> BTreeMap<String, String> {
    BTreeMap::from([
        (JOB_LABEL.to_string(), label_value(job.job_id.as_str())),
        (RUN_LABEL.to_string(), label_value(job.run_id.as_str())),
    ])
}

/// The `label_selector` finding this job's builds and deployments.
pub fn job_selector(job: &RestageJob) -> String {
    format!("{JOB_LABEL}={}", label_value(job.job_id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_cf_label_rules() {
        assert_eq!(
            label_value("6f1c2d1e-8a5b-4c2f-9d3e-0b7a5e4f1c20"),
            "6f1c2d1e-8a5b-4c2f-9d3e-0b7a5e4f1c20"
        );
        assert_eq!(label_value("-a b/c_"), "a-b-c");
        let long = label_value(&"x".repeat(100));
        assert_eq!(long.len(), 63);
        assert_eq!(label_value("--"), "");
    }
}
