//! What restager counts, named once in [`names`] and recorded through the
//! `metrics` facade by the functions below. Which exporter sees the values is
//! the binary's choice: `restager serve` renders them for Prometheus
//! (`GET /metrics`), the Lambda functions write them as CloudWatch Embedded
//! Metric Format lines at the end of each invocation ([`emf`]). Without an
//! installed recorder (unit tests, the other commands) recording does nothing.
//!
//! Who records what:
//!
//! | function | called by |
//! |---|---|
//! | [`outcome_recorded`] | the engine, once the ledger took a job's outcome |
//! | [`cc_request`], [`cc_retry`], [`cc_rate_limit_wait`] | the Cloud Controller client (`cf/request.rs`) |
//! | [`slack_call`] | the Slack client (`slack/api.rs`) |
//! | [`notice`] | the webhook router, per request to a notice route |
//! | [`run_halted`], [`wave_released`], [`jobs_held`] | the safe-rollout core (waves, error budget, holds) |
//! | [`set_jobs`], [`set_runs`], [`set_queue_depth`] | `restager serve` when scraped (from the ledger and the queue) |

pub mod emf;
pub mod names;

use std::time::Duration;

use crate::domain::Outcome;

/// A job's outcome was recorded in the ledger: `restager_restages_total{outcome}`.
pub fn outcome_recorded(outcome: &Outcome) {
    let kind = label_of(&outcome.kind());
    ::metrics::counter!(names::RESTAGES.name, "outcome" => kind).increment(1);
}

/// A run's error budget was spent and the run halted: `restager_runs_halted_total`.
pub fn run_halted() {
    ::metrics::counter!(names::RUNS_HALTED.name).increment(1);
}

/// A wave of a run was released to the queue: `restager_waves_released_total`.
pub fn wave_released() {
    ::metrics::counter!(names::WAVES_RELEASED.name).increment(1);
}

/// `n` jobs were put on hold in the ledger: `restager_jobs_held_total`.
pub fn jobs_held(n: u64) {
    ::metrics::counter!(names::JOBS_HELD.name).increment(n);
}

/// One Cloud Controller or UAA request answered (`status`) or not (`None`:
/// a transport error), after `elapsed`. `endpoint` is a kind such as `apps`
/// or `uaa_token`, never a path with guids.
pub fn cc_request(endpoint: &'static str, method: &str, status: Option<u16>, elapsed: Duration) {
    let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
    ::metrics::counter!(names::CC_REQUESTS.name,
        "endpoint" => endpoint, "method" => method.to_string(), "status" => status)
    .increment(1);
    ::metrics::histogram!(names::CC_REQUEST_SECONDS.name, "endpoint" => endpoint)
        .record(elapsed.as_secs_f64());
}

/// Why a Cloud Controller request was sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// Connect error, reset or timeout.
    Transport,
    /// 502, 503 or 504.
    Gateway,
    /// 429, after `Retry-After`.
    RateLimited,
    /// 401: a new token, once.
    Reauthenticate,
}

impl RetryReason {
    fn label(self) -> &'static str {
        match self {
            RetryReason::Transport => "transport",
            RetryReason::Gateway => "gateway",
            RetryReason::RateLimited => "rate_limited",
            RetryReason::Reauthenticate => "reauthenticate",
        }
    }
}

/// A request is sent again: `restager_cc_retries_total{reason}`.
pub fn cc_retry(reason: RetryReason) {
    ::metrics::counter!(names::CC_RETRIES.name, "reason" => reason.label()).increment(1);
}

/// restager waits out a 429's `Retry-After`: `restager_cc_rate_limit_waits_total`.
pub fn cc_rate_limit_wait() {
    ::metrics::counter!(names::CC_RATE_LIMIT_WAITS.name).increment(1);
}

/// One Slack Web API call and how it ended (`ok` or the error's kind).
pub fn slack_call(method: &'static str, result: &'static str) {
    ::metrics::counter!(names::SLACK_CALLS.name, "method" => method, "result" => result)
        .increment(1);
}

/// What became of a request to a notice route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeResult {
    Accepted,
    Ignored,
    Rejected,
}

impl NoticeResult {
    fn label(self) -> &'static str {
        match self {
            NoticeResult::Accepted => "accepted",
            NoticeResult::Ignored => "ignored",
            NoticeResult::Rejected => "rejected",
        }
    }
}

/// A request to a notice route was answered: `restager_notices_total{route, result, reason}`.
pub fn notice(route: &'static str, result: NoticeResult, reason: &'static str) {
    ::metrics::counter!(names::NOTICES.name,
        "route" => route, "result" => result.label(), "reason" => reason)
    .increment(1);
}

/// Jobs of unfinished runs in `phase` now: `restager_jobs{phase}`.
pub fn set_jobs(phase: &'static str, n: usize) {
    ::metrics::gauge!(names::JOBS_NOW.name, "phase" => phase).set(n as f64);
}

/// Runs in `state` now: `restager_runs{state}`.
pub fn set_runs(state: &'static str, n: usize) {
    ::metrics::gauge!(names::RUNS.name, "state" => state).set(n as f64);
}

/// Jobs on the queue now: `restager_queue_depth`.
pub fn set_queue_depth(n: usize) {
    ::metrics::gauge!(names::QUEUE_DEPTH.name).set(n as f64);
}

/// The snake_case name serde gives a label enum (`rolled_back`), so a new
/// variant is labelled without a second list to keep in step.
fn label_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OutcomeKind;

    #[test]
    fn outcome_labels_are_the_ledger_names() {
        assert_eq!(label_of(&OutcomeKind::RolledBack), "rolled_back");
        assert_eq!(label_of(&OutcomeKind::AlreadyCurrent), "already_current");
    }
}
