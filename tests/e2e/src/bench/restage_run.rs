//! One measured restage of the makespan workload: a simulator seeded with
//! the apps (their timings, memory, history and quotas), the real discovery
//! planning them, and the real engine (`Engine::process_batch`) restaging
//! them all in one process; afterwards the simulator's own record of each
//! build and deployment.
//!
//! Time is scaled: the simulator, the engine's poll interval and the jobs'
//! hints all run at `scale` (discovery reads the seeded history in CC's
//! whole seconds, as modelled seconds, and the hints are scaled to the
//! engine's clock here, as the poll interval is).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cf_sim::{AppSpec, AppTiming, CfSim, PastRestage, RecordedRequest, SimConfig};
use restager_shared::config::{CapacitySettings, ScopeSettings, WorkerSettings};
use restager_shared::discovery;
use restager_shared::domain::{Action, OutcomeKind, RestageJob};
use restager_shared::engine::{BatchItem, Deadline, Engine, Margins};
use restager_shared::ledger::{Ledger, MemoryLedger};
use restager_shared::notify::LogNotifier;
use restager_shared::queue::Delivery;
use serde::Serialize;

use super::BenchError;
use super::foundation::{self, BUILDPACK, NEW_VERSION, OLD_VERSION};
use super::quotas;
use super::workload::{AppWork, Distributions, TimeScale};

/// Cloud Controller's deployment updater period (capi-release default, cf-api.md §1.6).
pub const CC_UPDATER_SECS: f64 = 5.0;

/// The engine's staging and deploy timeouts are not part of the model: the
/// figure only counts when every app restages, so a timeout that fires is a
/// broken run, never a measurement. Scaled down with the rest of time they
/// become a race with the machine's load (at 2 ms a modelled second the 10
/// minute deploy timeout is 1.2 s of wall time, and a loaded machine cancelled
/// a healthy deployment), so they never go below this wall-clock floor.
const TIMEOUT_FLOOR: Duration = Duration::from_secs(600);

fn safety_net(scaled: Duration) -> Duration {
    scaled.max(TIMEOUT_FLOOR)
}

/// What one run is asked to do.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub concurrency: usize,
    pub seed: u64,
    pub scale: TimeScale,
    /// The poll interval, modelled seconds.
    pub poll: f64,
    pub max_in_flight: u32,
    pub max_per_space: usize,
    /// Poll by the jobs' expected times; `false` polls on the fixed beat
    /// (`RESTAGER_PREDICTED_POLLING=false`), ordering and allowances as they are.
    pub predicted_polling: bool,
    /// Aim predicted rollouts' polls just after the updater's ticks.
    pub aim_at_updater: bool,
    /// Modelled seconds each Cloud Controller request waits before it is
    /// answered (`SimConfig::response_latency`).
    pub cc_latency: f64,
}

/// One app's foundation-side times, modelled seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub space: String,
    pub staging: f64,
    pub rollout: f64,
    /// From the restage's first request to the poll that saw its deployment
    /// end (what the restage held its slot for, less the handovers); set
    /// once the request log is read.
    #[serde(skip)]
    pub held: Option<f64>,
    #[serde(skip)]
    build: cf_sim::PhaseTimes,
    #[serde(skip)]
    deployment: cf_sim::PhaseTimes,
}

/// How late the engine saw phases end, from the simulator's request log.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Lags {
    /// Mean modelled seconds from a build's STAGED to the poll that saw it.
    pub staging_s: f64,
    /// The same for a deployment's FINALIZED.
    pub rollout_s: f64,
    /// Mean GETs of one build / deployment.
    pub staging_polls: f64,
    pub rollout_polls: f64,
    /// Mean modelled seconds from the restage's first request (GET of the
    /// app) to CC creating its build: the checks before staging.
    pub before_build_s: f64,
    /// From the poll that saw STAGED to CC creating the deployment: the
    /// re-checks before deploying.
    pub before_deploy_s: f64,
    /// Share of C × makespan during which a restage was between its first
    /// request and the poll that saw its deployment end (the rest is slots
    /// handing over to the next job, and the end of the run).
    pub slots_busy: f64,
    /// A freed slot to the next restage's first request, modelled seconds:
    /// the k-th start after the first C against the (k − C)-th end seen
    /// (median and mean; the mean includes waits for a space's allowance).
    pub handover_median_s: f64,
    pub handover_mean_s: f64,
    /// Share of C × makespan idle after the last restage started (the
    /// tail, which no handover can shorten).
    pub tail_idle: f64,
}

impl Measured {
    pub fn work(&self) -> f64 {
        self.staging + self.rollout
    }
}

/// One job as the engine saw it: its app (an index into the workload), its
/// expected work (modelled seconds, from its hints) and its allowance.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub app: usize,
    pub expected: Option<f64>,
    pub allowance: usize,
}

pub struct RunResult {
    /// Modelled seconds from the batch's start to its last outcome.
    pub makespan: f64,
    pub wall: Duration,
    /// Per app of the workload, in its order.
    pub measured: Vec<Measured>,
    /// In the order the engine received them.
    pub submitted: Vec<Submitted>,
    /// Cloud Controller requests while restaging (discovery not included).
    pub requests: Vec<RecordedRequest>,
    pub discovery_requests: u64,
    pub peak: usize,
    pub peak_space: usize,
    pub client_retries: u64,
    pub quotas: quotas::Applied,
    /// 422s for quota while restaging (none, when the allowances hold).
    pub quota_refusals: usize,
    /// Jobs with a staging time to poll by.
    pub with_history: usize,
    pub lags: Lags,
}

pub async fn run(spec: &RunSpec, work: &[AppWork]) -> Result<RunResult, BenchError> {
    let scale = spec.scale;
    let sim = CfSim::start(SimConfig {
        seed: spec.seed,
        apps: 0,
        tick: scale.wall(CC_UPDATER_SECS),
        staging_duration: scale.wall(Distributions::default().staging_median),
        instance_startup: scale.wall(Distributions::default().startup_median),
        response_latency: scale.wall(spec.cc_latency),
        ..SimConfig::default()
    })
    .await
    .map_err(|e| BenchError::Setup(format!("simulator: {e}")))?;
    let guids = seed_apps(&sim, work, scale, spec.max_in_flight)?;
    let applied = quotas::apply(&sim, work, spec.max_in_flight, spec.seed)?;
    sim.install_buildpack(BUILDPACK, NEW_VERSION);

    let cf = foundation::client(&sim)?;
    let notice = foundation::release_notice()?;
    let scope = ScopeSettings {
        capacity: CapacitySettings {
            max_per_space: spec.max_per_space,
            max_in_flight: spec.max_in_flight,
        },
        ..ScopeSettings::default()
    };
    let plan = discovery::plan(&cf, &notice, Action::Restage, &scope)
        .await
        .map_err(|e| BenchError::Setup(format!("discovery: {e}")))?;
    if plan.jobs.len() != work.len() {
        return Err(BenchError::Setup(format!(
            "discovery planned {} jobs for {} apps (skipped: {:?})",
            plan.jobs.len(),
            work.len(),
            plan.skipped.iter().take(3).collect::<Vec<_>>()
        )));
    }
    let discovery_requests = plan.cf_requests;
    let ledger = Arc::new(MemoryLedger::new());
    let mut run = plan.into_run(chrono::Utc::now());
    ledger
        .put_run(&run.record)
        .await
        .map_err(|e| BenchError::Setup(format!("ledger: {e}")))?;
    let index: HashMap<&str, usize> = guids
        .iter()
        .enumerate()
        .map(|(i, g)| (g.as_str(), i))
        .collect();
    let mut submitted = Vec::with_capacity(run.jobs.len());
    let mut with_history = 0;
    for job in &mut run.jobs {
        let app = index
            .get(job.app.guid.as_str())
            .copied()
            .ok_or_else(|| BenchError::Run(format!("job for an unknown app {}", job.app.name)))?;
        let expected = job
            .schedule
            .work(spec.max_in_flight)
            .map(|d| d.as_secs_f64());
        with_history += usize::from(job.schedule.staging_ms.is_some());
        scale_hints(job, scale);
        submitted.push(Submitted {
            app,
            expected,
            allowance: CapacitySettings {
                max_per_space: spec.max_per_space,
                max_in_flight: spec.max_in_flight,
            }
            .cap(job.schedule.space_allowance),
        });
    }

    let settings = WorkerSettings {
        max_concurrent_restages: spec.concurrency,
        max_in_flight: spec.max_in_flight,
        max_per_space: spec.max_per_space,
        predicted_polling: spec.predicted_polling,
        updater_period: if spec.aim_at_updater {
            scale.wall(CC_UPDATER_SECS)
        } else {
            Duration::ZERO
        },
        poll_interval: scale.wall(spec.poll),
        staging_timeout: safety_net(scale.wall(15.0 * 60.0)),
        deploy_timeout: safety_net(scale.wall(10.0 * 60.0)),
        // The figure is staging plus rollout, the work the ideal bound counts;
        // verification after DEPLOYED is a fixed wait per app on top.
        verify_for: Duration::ZERO,
        ..WorkerSettings::default()
    };
    let margins = Margins::for_settings(&settings);
    let engine = Engine::new(cf.clone(), settings, ledger, Arc::new(LogNotifier));
    let items: Vec<BatchItem> = run
        .jobs
        .iter()
        .enumerate()
        .map(|(i, job)| {
            BatchItem::from(Delivery {
                message_id: format!("m-{i}"),
                receipt: format!("r-{i}"),
                body: job.to_json(),
                receive_count: 1,
            })
        })
        .collect();

    sim.clear_requests();
    sim.reset_peaks();
    let counts_before = cf.request_counts();
    // One moment on both clocks, to place the request log's instants on
    // the simulator's wall-clock timestamps.
    let anchor = (Instant::now(), chrono::Utc::now());
    let t0 = Instant::now();
    let report = engine
        .process_batch(items, &Deadline::unbounded(margins))
        .await;
    let wall = t0.elapsed();
    let counts_after = cf.request_counts();

    let restaged = report
        .items
        .iter()
        .filter(|i| i.outcome.as_ref().map(|o| o.kind()) == Some(OutcomeKind::Restaged))
        .count();
    if restaged != work.len() {
        let odd = report
            .items
            .iter()
            .find(|i| i.outcome.as_ref().map(|o| o.kind()) != Some(OutcomeKind::Restaged));
        return Err(BenchError::Run(format!(
            "{restaged} of {} apps restaged; first other result: {:?}",
            work.len(),
            odd.map(|i| (&i.outcome, &i.note))
        )));
    }
    let mut measured = measure(&sim, &guids, work, scale)?;
    let requests = sim.requests();
    let timeline = Timeline::new(&requests, anchor);
    let mut lags = lags(&measured, &timeline, scale);
    lags.add_overheads(&guids, &mut measured, &timeline, scale, spec.concurrency);
    let slot_seconds = (spec.concurrency as f64 * scale.modelled(wall)).max(1e-9);
    lags.slots_busy /= slot_seconds;
    lags.tail_idle /= slot_seconds;
    let quota_refusals = requests
        .iter()
        .filter(|r| r.status == 422 && r.method == "POST")
        .filter(|r| r.path == "/v3/builds" || r.path == "/v3/deployments")
        .count();
    let result = RunResult {
        makespan: scale.modelled(wall),
        wall,
        measured,
        submitted,
        requests,
        discovery_requests,
        peak: sim.peak_active_restages(),
        peak_space: sim.peak_active_per_space(),
        client_retries: counts_after.retries - counts_before.retries,
        quotas: applied,
        quota_refusals,
        with_history,
        lags,
    };
    sim.shutdown().await;
    Ok(result)
}

/// The hints are in CC's (modelled) time; the engine runs on the scaled clock.
fn scale_hints(job: &mut RestageJob, scale: TimeScale) {
    let wall = |ms: u64| {
        let d = scale.wall(ms as f64 / 1000.0);
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    };
    job.schedule.staging_ms = job.schedule.staging_ms.map(wall);
    job.schedule.step_ms = job.schedule.step_ms.map(wall);
}

fn seed_apps(
    sim: &CfSim,
    work: &[AppWork],
    scale: TimeScale,
    max_in_flight: u32,
) -> Result<Vec<String>, BenchError> {
    work.iter()
        .map(|w| {
            let mut spec = AppSpec::new(w.name.clone());
            spec.org = w.org.clone();
            spec.space = w.space.clone();
            spec.instances = w.instances;
            spec.memory_mb = w.memory_mb;
            spec.buildpack_version = Some(OLD_VERSION.to_owned());
            // The last rollout: one start-up per step plus on average half
            // an updater period before the step is seen, as CC times it.
            let steps = f64::from(w.instances.div_ceil(max_in_flight.max(1)).max(1));
            spec.history = Some(PastRestage {
                staging: Duration::from_secs_f64(w.past_staging.round()),
                rollout: Duration::from_secs_f64(
                    (steps * (w.past_startup + CC_UPDATER_SECS / 2.0)).round(),
                ),
                max_in_flight,
            });
            let guid = sim.add_app(spec);
            sim.set_app_timing(
                &guid,
                AppTiming {
                    staging: scale.wall(w.staging),
                    instance_startup: scale.wall(w.startup),
                },
            )
            .map_err(|e| BenchError::Setup(e.to_string()))?;
            Ok(guid)
        })
        .collect()
}

fn measure(
    sim: &CfSim,
    guids: &[String],
    work: &[AppWork],
    scale: TimeScale,
) -> Result<Vec<Measured>, BenchError> {
    guids
        .iter()
        .zip(work)
        .map(|(guid, w)| {
            let times = sim
                .restage_times(guid)
                .ok_or_else(|| BenchError::Run(format!("app {} vanished", w.name)))?;
            let took = |p: Option<&cf_sim::PhaseTimes>, what: &str| {
                p.and_then(cf_sim::PhaseTimes::took).ok_or_else(|| {
                    BenchError::Run(format!(
                        "app {}: no settled {what} in the simulator",
                        w.name
                    ))
                })
            };
            if times.builds.len() != 1 || times.deployments.len() != 1 {
                return Err(BenchError::Run(format!(
                    "app {}: {} builds and {} deployments, expected one each",
                    w.name,
                    times.builds.len(),
                    times.deployments.len()
                )));
            }
            let (Some(build), Some(deployment)) = (times.builds.first(), times.deployments.first())
            else {
                return Err(BenchError::Run(format!("app {}: no phases", w.name)));
            };
            Ok(Measured {
                space: w.space.clone(),
                staging: scale.modelled(took(Some(build), "build")?),
                rollout: scale.modelled(took(Some(deployment), "deployment")?),
                held: None,
                build: build.clone(),
                deployment: deployment.clone(),
            })
        })
        .collect()
}

type At = chrono::DateTime<chrono::Utc>;

/// The request log on the simulator's clock: each app's first GET of
/// itself, and every GET of one build or deployment (its polls).
struct Timeline<'a> {
    first: HashMap<&'a str, At>,
    polls: HashMap<&'a str, Vec<At>>,
}

impl<'a> Timeline<'a> {
    fn new(requests: &'a [RecordedRequest], anchor: (Instant, At)) -> Self {
        let at = |r: &RecordedRequest| {
            let since = r.received_at.saturating_duration_since(anchor.0);
            anchor.1 + chrono::Duration::from_std(since).unwrap_or_default()
        };
        let mut first = HashMap::new();
        let mut polls: HashMap<&str, Vec<At>> = HashMap::new();
        for r in requests.iter().filter(|r| r.method == "GET") {
            let single = |prefix: &str| r.path.strip_prefix(prefix).filter(|g| !g.contains('/'));
            if let Some(app) = single("/v3/apps/") {
                first.entry(app).or_insert_with(|| at(r));
            }
            if let Some(g) = single("/v3/builds/").or_else(|| single("/v3/deployments/")) {
                polls.entry(g).or_default().push(at(r));
            }
        }
        Self { first, polls }
    }

    /// When the engine saw `p` end: its last poll (the engine stops there;
    /// one that arrived just before CC stamped the end saw it at once).
    fn seen(&self, p: &cf_sim::PhaseTimes) -> Option<At> {
        self.polls.get(p.guid.as_str())?.iter().max().copied()
    }
}

/// For every build and deployment, how long after it settled the poll
/// that saw it came, and how many GETs it had.
fn lags(measured: &[Measured], timeline: &Timeline<'_>, scale: TimeScale) -> Lags {
    let phase = |p: &cf_sim::PhaseTimes| -> Option<(f64, usize)> {
        let late = (timeline.seen(p)? - p.settled?)
            .to_std()
            .unwrap_or_default();
        Some((
            scale.modelled(late),
            timeline.polls.get(p.guid.as_str())?.len(),
        ))
    };
    let mean_of = |f: &dyn Fn(&Measured) -> Option<(f64, usize)>| {
        let got: Vec<(f64, usize)> = measured.iter().filter_map(f).collect();
        let n = got.len().max(1) as f64;
        (
            got.iter().map(|g| g.0).sum::<f64>() / n,
            got.iter().map(|g| g.1 as f64).sum::<f64>() / n,
        )
    };
    let (staging_s, staging_polls) = mean_of(&|m| phase(&m.build));
    let (rollout_s, rollout_polls) = mean_of(&|m| phase(&m.deployment));
    Lags {
        staging_s,
        rollout_s,
        staging_polls,
        rollout_polls,
        ..Lags::default()
    }
}

impl Lags {
    /// The client's share of each restage besides polling: what happens
    /// between its first request and the build, and between the build's end
    /// being seen and the deployment. `slots_busy` is left as a sum of
    /// modelled seconds for the caller to divide, and so is `tail_idle`.
    fn add_overheads(
        &mut self,
        guids: &[String],
        measured: &mut [Measured],
        timeline: &Timeline<'_>,
        scale: TimeScale,
        concurrency: usize,
    ) {
        let first = &timeline.first;
        let seen = |p: &cf_sim::PhaseTimes| timeline.seen(p);
        let secs = |from: At, to: At| {
            (to - from)
                .to_std()
                .map(|d| scale.modelled(d))
                .unwrap_or(0.0)
        };
        let (mut before_build, mut before_deploy, mut busy, mut n) = (0.0, 0.0, 0.0, 0usize);
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for (guid, m) in guids.iter().zip(measured.iter_mut()) {
            let (Some(start), Some(staged), Some(ended)) = (
                first.get(guid.as_str()).copied(),
                seen(&m.build),
                seen(&m.deployment),
            ) else {
                continue;
            };
            before_build += secs(start, m.build.created);
            before_deploy += secs(staged, m.deployment.created);
            busy += secs(start, ended);
            m.held = Some(secs(start, ended));
            starts.push(start);
            ends.push(ended);
            n += 1;
        }
        let n = n.max(1) as f64;
        self.before_build_s = before_build / n;
        self.before_deploy_s = before_deploy / n;
        self.slots_busy = busy;
        starts.sort();
        ends.sort();
        let mut handovers: Vec<f64> = starts
            .iter()
            .skip(concurrency)
            .zip(&ends)
            .map(|(&start, &freed)| secs(freed, start))
            .collect();
        handovers.sort_by(f64::total_cmp);
        self.handover_median_s = super::stats::percentile(&handovers, 50.0).unwrap_or(0.0);
        self.handover_mean_s = handovers.iter().sum::<f64>() / (handovers.len().max(1) as f64);
        if let (Some(&last_start), Some(&last_end)) = (starts.last(), ends.last()) {
            // Each slot's idle after the last start: the run's end less its
            // own last end (at most C slots; the others ended before).
            let tail: f64 = ends
                .iter()
                .rev()
                .take(concurrency)
                .map(|&e| secs(e.max(last_start), last_end))
                .sum();
            self.tail_idle = tail;
        }
    }
}
