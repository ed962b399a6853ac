//! The one list of metric names. `restager serve` exposes every one of them on
//! `GET /metrics`; those marked `emf: true` are also written by the Lambda
//! functions as CloudWatch Embedded Metric Format lines, in the namespace
//! [`NAMESPACE`], with the labels as dimensions. `infra/check_template.py`
//! reads this file (each `name:` / `emf:` / `labels:` below) to check that
//! every alarm and dashboard widget of `infra/template.yaml` names a metric
//! the Lambda functions emit, with exactly its dimensions: keep one
//! `Metric { … }` per metric, with literal values.
//!
//! Label values are bounded sets (outcome kinds, Cloud Controller endpoint
//! kinds, HTTP statuses, fixed reasons); never an app, space, org, run or
//! secret.

/// The CloudWatch namespace of the EMF lines.
pub const NAMESPACE: &str = "Restager";

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The unit CloudWatch is told (Prometheus carries it in the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
}

impl Unit {
    /// The EMF `Unit` value.
    pub fn emf(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One metric: its name, kind, labels and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Unit,
    /// Written by the Lambda functions as EMF (else `restager serve` only:
    /// the gauges read from the ledger and the queue when scraped).
    pub emf: bool,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

pub const RESTAGES: Metric = Metric {
    name: "restager_restages_total",
    kind: Kind::Counter,
    unit: Unit::Count,
    emf: true,
    labels: &["outcome"],
    help: "Restage outcomes recorded in the ledger, by outcome (deferrals and transient failures count each time)",
};

pub const JOBS_NOW: Metric = Metric {
    name: "restager_jobs",
    kind: Kind::Gauge,
    unit: Unit::Count,
    emf: false,
    labels: &["phase"],
    help: "Jobs of unfinished runs by phase now (queued, held, staging, deploying, verifying), read from the ledger when scraped",
};

pub const RUNS: Metric = Metric {
    name: "restager_runs",
    kind: Kind::Gauge,
    unit: Unit::Count,
    emf: false,
    labels: &["state"],
    help: "Runs among the newest in the ledger by state, read from the ledger when scraped",
};

pub const RUNS_HALTED: Metric = Metric {
    name: "restager_runs_halted_total",
    kind: Kind::Counter,
    unit: Unit::Count,
    emf: true,
    labels: &[],
    help: "Runs halted by their error budget",
};

pub const WAVES_RELEASED: Metric = Metric {
    name: "restager_waves_released_total",
    kind: Kind::Counter,
    unit: Unit::Count,
    emf: true,
    labels: &[],
    help: "Waves of a run released to the queue",
};

pub const JOBS_HELD: Metric = Metric {
    name: "restager_jobs_held_total",
    kind: Kind::Counter,
    unit: Unit::Count,
    emf: true,
    labels: &[],
    help: "Jobs put on hold in the ledger (a paused or halted run, a wave not yet released, a maintenance window not yet open)",
};

pub const QUEUE_DEPTH: Metric = Metric {
    name: "restager_queue_depth",
    kind: Kind::Gauge,
    unit: Unit::Count,
    emf: false,
    labels: &[],
    help: "Jobs on the queue (visible or being worked on), where the queue can say without an extra request",
};

pub const CC_REQUESTS: Metric = Metric {
    name: "restager_cc_requests_total",
    kind: Kind::Counter,
    unit: Unit::Count,
    emf: true,
    labels: &["endpoint", "method", "status"],
    help: "Cloud Controller and UAA requests sent, by endpoint kind, method and HTTP status (`error` when no answer came)",
};

pub const CC_REQUEST_SECONDS: Metric = Metric {
    name: "restager_cc_request_duration_seconds",
    kind: Kind::Histogram,
    unit: Unit::Seconds,
    emf: true,
    labels: &["endpoint"],
    help: "How long Cloud Controller and UAA took to answer one request, by endpoint kind",
};

pub const CC_RETRIES: Metric = Metric {
    name: "restager_cc_retries_total",
    kind: Kind::Counter,
    unit: Unit::Count,
    emf: true,
    labels: &["reason"],
    help: "Cloud Controller requests sent again, by reason (transport, gateway, rate_limited, reauthenticate)",
};

pub const CC_RATE_LIMIT_WAITS: Metric = Metric {
    name: "restager_cc_rate_limit_waits_total",
    kind: Kind::Counter,
    unit: Unit::Count,
    emf: true,
    labels: &[],
    help: "Waits for Retry-After after Cloud Controller answered 429",
};

pub const SLACK_CALLS: Metric = Metric {
    name: "restager_slack_calls_total",
    kind: Kind::Counter,
    unit: Unit::Count,
    emf: true,
    labels: &["method", "result"],
    help: "Slack Web API calls by method and result (ok, rate_limited, refused, unavailable, transport, malformed)",
};

pub const NOTICES: Metric = Metric {
    name: "restager_notices_total",
    kind: Kind::Counter,
    unit: Unit::Count,
    emf: true,
    labels: &["route", "result", "reason"],
    help: "Release notices received, by route, result (accepted, ignored, rejected) and reason",
};

/// Every metric, once.
pub const ALL: &[Metric] = &[
    RESTAGES,
    JOBS_NOW,
    RUNS,
    RUNS_HALTED,
    WAVES_RELEASED,
    JOBS_HELD,
    QUEUE_DEPTH,
    CC_REQUESTS,
    CC_REQUEST_SECONDS,
    CC_RETRIES,
    CC_RATE_LIMIT_WAITS,
    SLACK_CALLS,
    NOTICES,
];

/// The bucket bounds of [`CC_REQUEST_SECONDS`] (Prometheus).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The metric named `name`.
pub fn find(name: &str) -> Option<&'static Metric> {
    ALL.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_metric_is_listed_once_with_prometheus_names() {
        let names: BTreeSet<&str> = ALL.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), ALL.len(), "a name is listed twice");
        // infra/check_template.py reads the `name:` lines: each must be in ALL.
        let source = include_str!("names.rs");
        let declared = source
            .lines()
            .filter(|l| l.trim_start().starts_with("name: \"restager_"))
            .count();
        assert_eq!(declared, ALL.len(), "a Metric is declared but not in ALL");
        for m in ALL {
            assert!(
                m.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                m.name
            );
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "counters and only counters end in _total: {}",
                m.name
            );
            assert!(!m.help.contains('}'), "check_template.py reads up to `}}`");
        }
    }
}
