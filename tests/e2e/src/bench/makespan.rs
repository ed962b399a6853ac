//! Figure 1 (restage makespan) and figure 2b (CF requests per restage).
//!
//! N apps with drawn staging and start-up times live in the simulator; the
//! real discovery plans the jobs and the real engine (`Engine::process_batch`:
//! the concurrency bound, one restage at a time per space, the ledger) runs
//! them against it, with every duration — the simulator's and the engine's
//! poll interval — scaled by the same factor. Afterwards the simulator says
//! how long each build and deployment took on the foundation's side; from
//! those the ideal lower bound for C restages at a time and the serial cf CLI
//! baseline are computed, so all three compare the same foundation work.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cf_sim::{AppSpec, AppTiming, CfSim, RecordedRequest, SimConfig};
use restager_shared::config::{ScopeSettings, WorkerSettings};
use restager_shared::discovery;
use restager_shared::domain::{Action, OutcomeKind};
use restager_shared::engine::{BatchItem, Deadline, Engine, Margins};
use restager_shared::ledger::{Ledger, MemoryLedger};
use restager_shared::notify::LogNotifier;
use restager_shared::queue::Delivery;
use serde::Serialize;
use serde_json::json;

use super::BenchError;
use super::foundation::{self, BUILDPACK, NEW_VERSION, OLD_VERSION};
use super::report::{Figure, Goal, Line};
use super::schedule::{self, Policy};
use super::workload::{self, AppWork, Distributions, TimeScale, round_up};

/// The cf CLI polls builds and deployments every 3 s (cf-api.md §1.1).
const CLI_POLL_SECS: f64 = 3.0;
/// Cloud Controller's deployment updater period (capi-release default, §1.6).
const CC_UPDATER_SECS: f64 = 5.0;
/// Requests the engine's state machine needs for one rolling restage besides
/// its polls (restage.rs, happy path): GET app; GET deployments by job label
/// (resume?); GET current droplet; GET STAGING builds and ACTIVE deployments
/// (someone else at work?); GET builds by job label; GET package; POST
/// build; GET app and ACTIVE deployments again before deploying; POST
/// deployment; GET droplet (the version it carries).
pub const ENGINE_FIXED_REQUESTS: f64 = 12.0;

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

#[derive(Debug, Clone)]
pub struct MakespanArgs {
    pub apps: usize,
    pub concurrency: usize,
    pub spaces: usize,
    pub seed: u64,
    pub scale: TimeScale,
    /// The engine's poll interval, modelled seconds.
    pub poll: f64,
    pub max_in_flight: u32,
}

/// The cf CLI's requests for one `cf restage --strategy rolling` (§1.1–1.4):
/// GET app by name, GET newest READY package, GET package (belongs to the
/// app?), POST build, a GET per 3 s of staging, POST deployment, a GET per
/// 3 s of rollout, GET processes, GET stats per process.
pub fn cli_requests(staging: f64, rollout: f64, processes: u32) -> f64 {
    3.0 + 1.0
        + (staging / CLI_POLL_SECS).ceil()
        + 1.0
        + (rollout / CLI_POLL_SECS).ceil()
        + 1.0
        + f64::from(processes)
}

/// One app's foundation-side times, modelled seconds.
#[derive(Debug, Clone, Serialize)]
struct Measured {
    space: String,
    staging: f64,
    rollout: f64,
}

impl Measured {
    fn work(&self) -> f64 {
        self.staging + self.rollout
    }
}

pub struct MakespanFigures {
    pub makespan: Figure,
    pub restage_cost: Figure,
}

pub async fn run(args: &MakespanArgs) -> Result<MakespanFigures, BenchError> {
    let started = Instant::now();
    let scale = args.scale;
    let work = workload::generate(args.apps, args.spaces, args.seed, &Distributions::default());
    let sim = CfSim::start(SimConfig {
        seed: args.seed,
        apps: 0,
        tick: scale.wall(CC_UPDATER_SECS),
        staging_duration: scale.wall(Distributions::default().staging_median),
        instance_startup: scale.wall(Distributions::default().startup_median),
        ..SimConfig::default()
    })
    .await
    .map_err(|e| BenchError::Setup(format!("simulator: {e}")))?;
    let guids = seed_apps(&sim, &work, scale)?;
    sim.install_buildpack(BUILDPACK, NEW_VERSION);

    let cf = foundation::client(&sim)?;
    let notice = foundation::release_notice()?;
    let plan = discovery::plan(&cf, &notice, Action::Restage, &ScopeSettings::default())
        .await
        .map_err(|e| BenchError::Setup(format!("discovery: {e}")))?;
    if plan.jobs.len() != args.apps {
        return Err(BenchError::Setup(format!(
            "discovery planned {} jobs for {} apps (skipped: {:?})",
            plan.jobs.len(),
            args.apps,
            plan.skipped.iter().take(3).collect::<Vec<_>>()
        )));
    }
    let ledger = Arc::new(MemoryLedger::new());
    let run = plan.into_run(chrono::Utc::now());
    ledger
        .put_run(&run.record)
        .await
        .map_err(|e| BenchError::Setup(format!("ledger: {e}")))?;

    let settings = WorkerSettings {
        max_concurrent_restages: args.concurrency,
        max_in_flight: args.max_in_flight,
        poll_interval: scale.wall(args.poll),
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
    if restaged != args.apps {
        let odd = report
            .items
            .iter()
            .find(|i| i.outcome.as_ref().map(|o| o.kind()) != Some(OutcomeKind::Restaged));
        return Err(BenchError::Run(format!(
            "{restaged} of {} apps restaged; first other result: {:?}",
            args.apps,
            odd.map(|i| (&i.outcome, &i.note))
        )));
    }

    let measured = measure(&sim, &guids, &work, scale)?;
    // The order the engine received the jobs in, for the schedule replays.
    let index: HashMap<&str, usize> = guids
        .iter()
        .enumerate()
        .map(|(i, g)| (g.as_str(), i))
        .collect();
    let submitted: Vec<schedule::Job<'_>> = run
        .jobs
        .iter()
        .filter_map(|j| index.get(j.app.guid.as_str()))
        .map(|&i| schedule::Job {
            space: measured[i].space.as_str(),
            secs: measured[i].work(),
        })
        .collect();
    let replay_fifo = schedule::makespan(&submitted, args.concurrency, Policy::Fifo);
    let replay_busiest = schedule::makespan(&submitted, args.concurrency, Policy::MostJobsLeft);
    let requests = sim.requests();
    let peak = sim.peak_active_restages();
    let peak_space = sim.peak_active_per_space();
    sim.shutdown().await;

    let makespan = scale.modelled(wall);
    let c = args.concurrency as f64;
    let sum_work: f64 = measured.iter().map(Measured::work).sum();
    let longest = measured.iter().map(Measured::work).fold(0.0, f64::max);
    let mut chains: HashMap<&str, f64> = HashMap::new();
    for m in &measured {
        *chains.entry(m.space.as_str()).or_default() += m.work();
    }
    let longest_chain = chains.values().copied().fold(0.0, f64::max);
    let bound = (sum_work / c).max(longest);
    let serial_cli: f64 = measured
        .iter()
        .map(|m| round_up(m.staging, CLI_POLL_SECS) + round_up(m.rollout, CLI_POLL_SECS))
        .sum();

    let settings_json = json!({
        "apps": args.apps,
        "concurrency": args.concurrency,
        "spaces": args.spaces,
        "seed": args.seed,
        "time_scale": scale,
        "poll_interval_modelled_s": args.poll,
        "cc_updater_tick_modelled_s": CC_UPDATER_SECS,
        "max_in_flight": args.max_in_flight,
        "distributions": Distributions::default(),
    });

    let mut fig = Figure::new(
        "restage_makespan",
        format!(
            "1. Restage makespan: {} apps, C = {}, poll {} s (modelled seconds; 1 s = {} ms)",
            args.apps, args.concurrency, args.poll, scale.ms_per_modelled_second
        ),
    );
    fig.settings = settings_json.clone();
    fig.line(
        Line::new("restager makespan", makespan, "s")
            .goal(Goal::RatioAtMost(1.05))
            .against("ideal bound max(work/C, longest)", bound),
    );
    fig.line(
        Line::new("restager makespan", makespan, "s")
            .against("serial `cf restage --strategy rolling`", serial_cli),
    );
    fig.line(Line::new(
        "speed-up over the serial CLI",
        serial_cli / makespan,
        "×",
    ));
    fig.line(
        Line::new(
            "replay: the engine's policy (busiest space first), zero overhead",
            replay_busiest,
            "s",
        )
        .against("ideal bound", bound),
    );
    fig.line(Line::new("restager makespan", makespan, "s").against(
        "replay of the engine's policy (so: client overhead)",
        replay_busiest,
    ));
    fig.line(
        Line::new(
            "replay: first come, first served, zero overhead",
            replay_fifo,
            "s",
        )
        .against("ideal bound", bound),
    );
    fig.line(Line::new(
        "foundation work (sum of restages)",
        sum_work,
        "s",
    ));
    fig.line(Line::new("longest single restage", longest, "s"));
    fig.line(Line::new(
        "longest one-space chain (serialized)",
        longest_chain,
        "s",
    ));
    fig.line(Line::new("peak restages at once (sim)", peak as f64, "apps").against("C", c));
    fig.line(Line::new(
        "peak restages in one space (sim)",
        peak_space as f64,
        "apps",
    ));
    if longest_chain > sum_work / c {
        fig.note(format!(
            "the busiest space's serialized work ({longest_chain:.0} s) exceeds work/C: one restage per space bounds the makespan; seed more spaces"
        ));
    }
    fig.note(format!(
        "the gap to the bound is the policy's (the replay: one restage per space leaves a serial tail) times the client's (a phase's end is seen on average half a poll, {:.0} s, late, twice per restage)",
        args.poll / 2.0
    ));
    fig.note("work = the simulator's own staging time + deployment time (updater ticks included), so restager's overhead is its polling, scheduling and request latency");
    fig.note("the CLI baseline rounds each phase up to its 3 s poll and ignores its request latency and typing time");
    fig.details = json!({
        "wall_clock_s": wall.as_secs_f64(),
        "mean_staging_s": mean(measured.iter().map(|m| m.staging)),
        "mean_rollout_s": mean(measured.iter().map(|m| m.rollout)),
        "drawn_mean_staging_s": mean(work.iter().map(|w| w.staging)),
        "drawn_mean_rollout_work_s": mean(work.iter().map(|w| w.rollout(args.max_in_flight))),
        "spaces_used": chains.len(),
        "client_retries": counts_after.retries - counts_before.retries,
    });
    fig.wall_secs = started.elapsed().as_secs_f64();

    let restage_cost = cost_figure(args, &measured, &requests, settings_json);
    Ok(MakespanFigures {
        makespan: fig,
        restage_cost,
    })
}

fn seed_apps(sim: &CfSim, work: &[AppWork], scale: TimeScale) -> Result<Vec<String>, BenchError> {
    work.iter()
        .map(|w| {
            let mut spec = AppSpec::new(w.name.clone());
            spec.org = w.org.clone();
            spec.space = w.space.clone();
            spec.instances = w.instances;
            spec.buildpack_version = Some(OLD_VERSION.to_owned());
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
            Ok(Measured {
                space: w.space.clone(),
                staging: scale.modelled(took(times.builds.first(), "build")?),
                rollout: scale.modelled(took(times.deployments.first(), "deployment")?),
            })
        })
        .collect()
}

/// A request the engine repeats while waiting: GET of one build or deployment.
fn is_poll(r: &RecordedRequest) -> bool {
    let rest = r
        .path
        .strip_prefix("/v3/builds/")
        .or_else(|| r.path.strip_prefix("/v3/deployments/"));
    r.method == "GET" && rest.is_some_and(|g| !g.is_empty() && !g.contains('/'))
}

fn cost_figure(
    args: &MakespanArgs,
    measured: &[Measured],
    requests: &[RecordedRequest],
    settings: serde_json::Value,
) -> Figure {
    let n = args.apps.max(1) as f64;
    let api: Vec<&RecordedRequest> = requests
        .iter()
        .filter(|r| r.path.starts_with("/v3"))
        .collect();
    let polls = api.iter().filter(|r| is_poll(r)).count() as f64;
    let fixed = api.len() as f64 - polls;
    let expected_polls: f64 = measured
        .iter()
        .map(|m| (m.staging / args.poll).ceil() + (m.rollout / args.poll).ceil())
        .sum();
    let cli: f64 = measured
        .iter()
        .map(|m| cli_requests(m.staging, m.rollout, 1))
        .sum();
    let mut by_kind: HashMap<String, usize> = HashMap::new();
    for r in &api {
        let shape = r
            .path
            .split('/')
            .map(|seg| if seg.len() >= 32 { "{guid}" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        *by_kind.entry(format!("{} {shape}", r.method)).or_default() += 1;
    }
    let mut by_kind: Vec<(String, usize)> = by_kind.into_iter().collect();
    by_kind.sort_by_key(|k| std::cmp::Reverse(k.1));

    let mut fig = Figure::new(
        "cf_requests_per_restage",
        format!(
            "2b. CF API requests per rolling restage (poll every {} s)",
            args.poll
        ),
    );
    fig.settings = settings;
    let per = api.len() as f64 / n;
    fig.line(
        Line::new("restager: requests per restage", per, "req")
            .goal(Goal::RatioAtMost(1.05))
            .against(
                "state-machine minimum + polls at the interval",
                ENGINE_FIXED_REQUESTS + expected_polls / n,
            ),
    );
    fig.line(
        Line::new("restager: requests per restage", per, "req")
            .against("cf CLI sequence, 3 s polls (cf-api.md §1)", cli / n),
    );
    fig.line(
        Line::new("restager: non-poll requests per restage", fixed / n, "req")
            .against("state-machine minimum", ENGINE_FIXED_REQUESTS),
    );
    fig.line(
        Line::new("restager: polls per restage", polls / n, "req").against(
            "one per poll interval of foundation time",
            expected_polls / n,
        ),
    );
    fig.note("token requests are not counted (one per process, cached); the CLI count leaves out its log-cache stream");
    fig.details = json!({ "requests_by_shape": by_kind, "total_v3_requests": api.len() });
    fig
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_sequence_counts_follow_the_reference() {
        // 3 lookups + POST build + 2 build polls + POST deployment + 1 poll + processes + 1 stats.
        assert_eq!(cli_requests(6.0, 3.0, 1), 10.0);
        assert_eq!(cli_requests(6.5, 3.0, 1), 11.0);
    }

    #[test]
    fn polls_are_single_resource_gets() {
        let r = |m: &str, p: &str| RecordedRequest {
            method: m.into(),
            path: p.into(),
            query: None,
            body: None,
            status: 200,
            received_at: std::time::Instant::now(),
            handling: std::time::Duration::ZERO,
        };
        assert!(is_poll(&r("GET", "/v3/builds/abc")));
        assert!(is_poll(&r("GET", "/v3/deployments/abc")));
        assert!(!is_poll(&r("GET", "/v3/builds")));
        assert!(!is_poll(&r("POST", "/v3/deployments/abc/actions/cancel")));
        assert!(!is_poll(&r("GET", "/v3/apps/abc")));
    }
}
