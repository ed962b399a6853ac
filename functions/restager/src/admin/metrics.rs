//! `GET /metrics`: every metric of `restager_shared::metrics::names` in the
//! Prometheus text format. The counters and the latency histogram are
//! recorded as things happen; the gauges of what is going on now (runs by
//! state, jobs of unfinished runs by phase, the queue's depth) are read from
//! the ledger and the queue when scraped, so they are right across restarts.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{Response, StatusCode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use restager_shared::metrics::{self as m, names};

use super::{AdminApi, reply};
use crate::runs::model::{PHASE_DONE, PHASE_SKIPPED, RunDetail, RunSummary};

/// Runs a scrape reads from the ledger (the newest).
const SCRAPE_RUNS: usize = 200;

/// Every state a run can be in, so each has a series (zero included).
const STATES: &[&str] = &["running", "paused", "halted", "aborted", "completed"];
/// Every phase of an unfinished job.
const PHASES: &[&str] = &["queued", "held", "staging", "deploying", "verifying"];

/// The installed Prometheus recorder.
#[derive(Clone)]
pub struct Prometheus {
    handle: PrometheusHandle,
}

static INSTALLED: OnceLock<Option<Prometheus>> = OnceLock::new();

/// Installs the Prometheus recorder behind the `metrics` facade, once per
/// process; `None` when another recorder was installed first.
pub fn install() -> Option<Prometheus> {
    INSTALLED
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::CC_REQUEST_SECONDS.name.to_string()),
                    names::LATENCY_BUCKETS,
                )
                .inspect_err(|e| tracing::warn!(error = %e, "bad histogram buckets"))
                .ok()?;
            let handle = builder
                .install_recorder()
                .inspect_err(|e| tracing::warn!(error = %e, "no /metrics: a metrics recorder is already installed"))
                .ok()?;
            for metric in names::ALL {
                let help = metric.help;
                match metric.kind {
                    names::Kind::Counter => ::metrics::describe_counter!(metric.name, help),
                    names::Kind::Gauge => ::metrics::describe_gauge!(metric.name, help),
                    names::Kind::Histogram => ::metrics::describe_histogram!(metric.name, help),
                }
            }
            Some(Prometheus { handle })
        })
        .clone()
}

pub async fn scrape(api: &AdminApi) -> Response<Bytes> {
    let Some(prometheus) = &api.prometheus else {
        return reply::error(
            StatusCode::NOT_FOUND,
            "metrics are off in this process (another metrics recorder was installed)",
        );
    };
    refresh_gauges(api).await;
    prometheus.handle.run_upkeep();
    reply::prometheus(prometheus.handle.render())
}

/// Runs by state and unfinished jobs by phase from the ledger, the queue's
/// depth from the queue. A ledger that cannot be read leaves the last values.
async fn refresh_gauges(api: &AdminApi) {
    match api.ledger.list_runs(SCRAPE_RUNS).await {
        Ok(views) => {
            let mut states: BTreeMap<&str, usize> = STATES.iter().map(|s| (*s, 0)).collect();
            let mut phases: BTreeMap<&str, usize> = PHASES.iter().map(|p| (*p, 0)).collect();
            for view in &views {
                let summary = RunSummary::of(view);
                if let Some(n) = states.get_mut(summary.state.as_str()) {
                    *n += 1;
                }
                if summary.is_live() {
                    for app in RunDetail::of(view).apps {
                        if app.phase == PHASE_DONE || app.phase == PHASE_SKIPPED {
                            continue;
                        }
                        if let Some(n) = phases.get_mut(app.phase.as_str()) {
                            *n += 1;
                        }
                    }
                }
            }
            for (state, n) in states {
                m::set_runs(state, n);
            }
            for (phase, n) in phases {
                m::set_jobs(phase, n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the runs from the ledger"),
    }
    if let Some(depth) = api.queue.depth().await {
        m::set_queue_depth(depth);
    }
}
