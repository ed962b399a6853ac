//! The Lambda functions' metrics as CloudWatch Embedded Metric Format (EMF)
//! lines on stdout, which CloudWatch Logs turns into metrics: no extra API
//! call and no extra latency. [`install`] puts an [`EmfRecorder`] behind the
//! `metrics` facade once per container; [`flush`] writes what was recorded
//! since the last flush at the end of each invocation.
//!
//! One JSON line per set of label values (CloudWatch takes dimension values
//! from the line's root, so two values of one label need two lines); an
//! invocation that recorded nothing writes nothing. Each line:
//!
//! ```json
//! {"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"Restager",
//!   "Dimensions":[["outcome"]],"Metrics":[{"Name":"restager_restages_total","Unit":"Count"}]}]},
//!  "function":"worker","outcome":"failed","restager_restages_total":2}
//! ```
//!
//! - `Dimensions` is one set: the metric's labels, sorted (`[[]]` for a
//!   metric without labels); the label values are root members.
//! - Counters are the increase since the last flush; gauges their value;
//!   histograms the observed values as an array (at most 100 per line, more
//!   go to further lines).
//! - `function` (`webhook`, `worker`, `sweep`) is a root member, not a
//!   dimension, so an alarm needs no function name.
//! - Only metrics marked `emf: true` in [`names`](super::names) are written.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use serde_json::{Map, Value, json};

use super::names::{self, NAMESPACE};

/// At most this many values of one metric in one line (the EMF limit).
const MAX_VALUES: usize = 100;

/// Keeps what was recorded until the next [`EmfRecorder::documents`].
#[derive(Clone)]
pub struct EmfRecorder {
    registry: Arc<Registry<Key, AtomicStorage>>,
}

impl Default for EmfRecorder {
    fn default() -> Self {
        Self {
            registry: Arc::new(Registry::atomic()),
        }
    }
}

impl std::fmt::Debug for EmfRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmfRecorder").finish_non_exhaustive()
    }
}

impl Recorder for EmfRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry
            .get_or_create_histogram(key, |h| Histogram::from_arc(Arc::clone(h)))
    }
}

/// The values of one metric in one line.
enum Values {
    One(f64),
    Many(Vec<f64>),
}

/// One line's worth: the metrics sharing a set of label values.
#[derive(Default)]
struct Group {
    metrics: Vec<(&'static names::Metric, Values)>,
}

impl EmfRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// What was recorded since the last call, as EMF documents stamped `at`,
    /// each naming `function`. Counters restart from zero.
    pub fn documents(&self, function: &str, at: SystemTime) -> Vec<Value> {
        let mut groups: BTreeMap<Vec<(String, String)>, Group> = BTreeMap::new();
        let emitted = |key: &Key| names::find(key.name()).filter(|m| m.emf);
        self.registry.visit_counters(|key, counter| {
            let Some(metric) = emitted(key) else { return };
            let delta = counter.swap(0, Ordering::AcqRel);
            if delta > 0 {
                groups
                    .entry(labels(key))
                    .or_default()
                    .metrics
                    .push((metric, Values::One(delta as f64)));
            }
        });
        self.registry.visit_gauges(|key, gauge| {
            let Some(metric) = emitted(key) else { return };
            let value = f64::from_bits(gauge.load(Ordering::Acquire));
            groups
                .entry(labels(key))
                .or_default()
                .metrics
                .push((metric, Values::One(value)));
        });
        self.registry.visit_histograms(|key, histogram| {
            let Some(metric) = emitted(key) else { return };
            let mut values = Vec::new();
            histogram.clear_with(|chunk| values.extend_from_slice(chunk));
            if !values.is_empty() {
                groups
                    .entry(labels(key))
                    .or_default()
                    .metrics
                    .push((metric, Values::Many(values)));
            }
        });
        let timestamp = at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut out = Vec::new();
        for (labels, group) in groups {
            out.extend(group_documents(function, timestamp, &labels, group));
        }
        out
    }
}

/// A key's labels, sorted by name.
fn labels(key: &Key) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = key
        .labels()
        .map(|l| (l.key().to_string(), l.value().to_string()))
        .collect();
    labels.sort();
    labels
}

/// The lines of one group: the first with every metric, further ones for
/// histogram values past [`MAX_VALUES`].
fn group_documents(
    function: &str,
    timestamp: u64,
    labels: &[(String, String)],
    group: Group,
) -> Vec<Value> {
    let mut lines: Vec<Vec<(&'static names::Metric, Value)>> = vec![Vec::new()];
    for (metric, values) in group.metrics {
        match values {
            Values::One(v) => lines[0].push((metric, json!(v))),
            Values::Many(all) => {
                for (i, chunk) in all.chunks(MAX_VALUES).enumerate() {
                    if lines.len() <= i {
                        lines.push(Vec::new());
                    }
                    lines[i].push((metric, json!(chunk)));
                }
            }
        }
    }
    let dimensions: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
    lines
        .into_iter()
        .filter(|metrics| !metrics.is_empty())
        .map(|metrics| {
            let definitions: Vec<Value> = metrics
                .iter()
                .map(|(m, _)| json!({ "Name": m.name, "Unit": m.unit.emf() }))
                .collect();
            let mut root = Map::new();
            root.insert(
                "_aws".into(),
                json!({
                    "Timestamp": timestamp,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [dimensions],
                        "Metrics": definitions,
                    }],
                }),
            );
            root.insert("function".into(), json!(function));
            for (k, v) in labels {
                root.insert(k.clone(), json!(v));
            }
            for (m, v) in metrics {
                root.insert(m.name.into(), v);
            }
            Value::Object(root)
        })
        .collect()
}

/// Where [`flush`] writes: stdout on Lambda, a buffer in tests.
#[derive(Debug, Clone, Default)]
pub enum Sink {
    #[default]
    Stdout,
    Lines(Arc<Mutex<Vec<String>>>),
}

impl Sink {
    /// A sink that keeps the lines, and the lines it keeps.
    pub fn buffer() -> (Self, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        (Sink::Lines(Arc::clone(&lines)), lines)
    }

    fn write(&self, lines: &[String]) {
        match self {
            Sink::Stdout => {
                // One write per line, so no other output splits a line.
                let mut out = std::io::stdout().lock();
                for line in lines {
                    if let Err(e) = writeln!(out, "{line}") {
                        tracing::warn!(error = %e, "could not write the metrics line");
                    }
                }
                let _ = out.flush();
            }
            Sink::Lines(buffer) => {
                if let Ok(mut buffer) = buffer.lock() {
                    buffer.extend(lines.iter().cloned());
                }
            }
        }
    }
}

static INSTALLED: OnceLock<Option<EmfRecorder>> = OnceLock::new();

/// Installs the EMF recorder behind the `metrics` facade (once per process;
/// later calls do nothing). `false` when another recorder was there first,
/// in which case [`flush`] writes nothing.
pub fn install() -> bool {
    INSTALLED
        .get_or_init(|| {
            let recorder = EmfRecorder::new();
            match metrics::set_global_recorder(recorder.clone()) {
                Ok(()) => Some(recorder),
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed; no EMF lines");
                    None
                }
            }
        })
        .is_some()
}

/// Writes what was recorded since the last flush, as `function`'s lines.
pub fn flush(function: &str, sink: &Sink) {
    let Some(Some(recorder)) = INSTALLED.get() else {
        return;
    };
    let lines: Vec<String> = recorder
        .documents(function, SystemTime::now())
        .iter()
        .map(Value::to_string)
        .collect();
    if !lines.is_empty() {
        sink.write(&lines);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::Outcome;

    fn recorded(record: impl FnOnce()) -> Vec<Value> {
        let recorder = EmfRecorder::new();
        metrics::with_local_recorder(&recorder, record);
        recorder.documents("worker", UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    }

    fn line_with<'a>(docs: &'a [Value], metric: &str) -> &'a Value {
        docs.iter()
            .find(|d| d.get(metric).is_some())
            .unwrap_or_else(|| panic!("no line has {metric}: {docs:?}"))
    }

    #[test]
    fn one_line_per_label_set_with_its_dimensions_and_deltas() {
        let failed = Outcome::Failed {
            reason: "x".into(),
            permanent: true,
        };
        let docs = recorded(|| {
            crate::metrics::outcome_recorded(&failed);
            crate::metrics::outcome_recorded(&failed);
            crate::metrics::outcome_recorded(&Outcome::AlreadyCurrent);
            crate::metrics::run_halted();
        });
        assert_eq!(docs.len(), 3, "{docs:?}");
        let failed_line = docs
            .iter()
            .find(|d| d["outcome"] == "failed")
            .expect("a line for failed");
        assert_eq!(failed_line["restager_restages_total"], 2.0);
        assert_eq!(failed_line["function"], "worker");
        let directive = &failed_line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Restager");
        assert_eq!(directive["Dimensions"], json!([["outcome"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "restager_restages_total", "Unit": "Count"}])
        );
        assert_eq!(failed_line["_aws"]["Timestamp"], 1_767_225_600_000u64);
        let halted = line_with(&docs, "restager_runs_halted_total");
        assert_eq!(
            halted["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }

    #[test]
    fn counters_restart_and_histograms_are_arrays_of_at_most_100() {
        let recorder = EmfRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..150 {
                crate::metrics::cc_request("apps", "GET", Some(200), Duration::from_millis(20));
            }
        });
        let docs = recorder.documents("worker", SystemTime::now());
        let first = docs
            .iter()
            .find(|d| d.get("restager_cc_requests_total").is_some())
            .expect("the requests line");
        assert_eq!(first["restager_cc_requests_total"], 150.0);
        assert_eq!(first["status"], "200");
        let values: usize = docs
            .iter()
            .filter_map(|d| d.get("restager_cc_request_duration_seconds"))
            .map(|v| v.as_array().expect("an array").len())
            .sum();
        assert_eq!(values, 150);
        assert!(docs.iter().all(|d| {
            d.get("restager_cc_request_duration_seconds")
                .is_none_or(|v| v.as_array().is_some_and(|a| a.len() <= MAX_VALUES))
        }));
        assert!(
            recorder.documents("worker", SystemTime::now()).is_empty(),
            "a second flush has nothing new"
        );
    }

    #[test]
    fn serve_only_metrics_are_not_written() {
        let docs = recorded(|| crate::metrics::set_runs("running", 3));
        assert!(docs.is_empty(), "{docs:?}");
    }
}
