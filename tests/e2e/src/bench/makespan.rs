//! Figure 1 (restage makespan) and figure 2b (CF requests per restage).
//!
//! N apps with drawn staging and start-up times, memory, history and quotas
//! live in the simulator; the real discovery plans the jobs (with their
//! hints) and the real engine restages them (`restage_run`). Afterwards the
//! simulator says how long each build and deployment took on the
//! foundation's side; from those come the ideal lower bound for C restages
//! at a time, the serial cf CLI baseline, and replays of the same work
//! without any client overhead under each scheduling policy (`schedule`),
//! which split the gap to the bound into the policy's levers and the
//! client's. A second run polls on the fixed beat
//! (`RESTAGER_PREDICTED_POLLING=false`, the same order and allowances), so
//! the polling lever is measured, not modelled, and so is what it saves in
//! requests.

use std::collections::HashMap;
use std::time::Instant;

use cf_sim::RecordedRequest;
use serde_json::json;

use super::BenchError;
use super::report::{Figure, Goal, Line};
use super::restage_run::{self, CC_UPDATER_SECS, Measured, RunResult, RunSpec};
use super::schedule::{self, Policy};
use super::workload::{self, Distributions, TimeScale, round_up};

/// The cf CLI polls builds and deployments every 3 s (cf-api.md §1.1).
const CLI_POLL_SECS: f64 = 3.0;
/// Requests the engine's state machine needs for one rolling restage besides
/// its polls (restage.rs, happy path): GET app; GET deployments by job label
/// (resume?); GET current droplet; GET STAGING builds and ACTIVE deployments
/// (someone else at work?); GET builds by job label; GET package; POST
/// build; GET app and ACTIVE deployments again before deploying; POST
/// deployment; GET droplet (the version it carries).
pub const ENGINE_FIXED_REQUESTS: f64 = 12.0;
/// Today's requests per restage at the 10 s poll, before predicted polling
/// (README, code at 19dceb2): what issue #17 allows at most.
const REQUESTS_BEFORE: f64 = 32.4;

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
    /// RESTAGER_MAX_PER_SPACE.
    pub max_per_space: usize,
    /// How far each app's history is off this run's times (log-normal shape).
    pub history_sigma: f64,
    /// Also run with polling on the fixed beat, to measure that lever.
    pub fixed_poll_run: bool,
    /// Modelled seconds Cloud Controller takes to answer a request.
    pub cc_latency: f64,
    /// Aim predicted rollouts' polls just after the updater's ticks
    /// (`RESTAGER_CC_UPDATER_PERIOD` set to the simulator's period).
    pub aim_at_updater: bool,
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

pub struct MakespanFigures {
    pub makespan: Figure,
    pub restage_cost: Figure,
}

/// The replays of one run's measured work.
struct Replays {
    fifo: f64,
    one_per_space: f64,
    with_allowances: f64,
    engine: f64,
    /// The engine's policy on what each restage really held its slot for
    /// (its work plus its own requests and polling lag), handovers free.
    engine_on_held: f64,
}

fn replays(result: &RunResult, concurrency: usize) -> Replays {
    let jobs_for = |allowances: bool, held: bool| -> Vec<schedule::Job<'_>> {
        result
            .submitted
            .iter()
            .map(|s| {
                let m = &result.measured[s.app];
                schedule::Job {
                    space: m.space.as_str(),
                    secs: if held {
                        m.held.unwrap_or_else(|| m.work())
                    } else {
                        m.work()
                    },
                    expected: s.expected,
                    allowance: if allowances { s.allowance } else { 1 },
                }
            })
            .collect()
    };
    let (one, many) = (jobs_for(false, false), jobs_for(true, false));
    Replays {
        fifo: schedule::makespan(&one, concurrency, Policy::Fifo),
        one_per_space: schedule::makespan(&one, concurrency, Policy::MostJobsLeft),
        with_allowances: schedule::makespan(&many, concurrency, Policy::MostJobsLeft),
        engine: schedule::makespan(&many, concurrency, Policy::LongestChain),
        engine_on_held: schedule::makespan(
            &jobs_for(true, true),
            concurrency,
            Policy::LongestChain,
        ),
    }
}

pub async fn run(args: &MakespanArgs) -> Result<MakespanFigures, BenchError> {
    let started = Instant::now();
    let dist = Distributions {
        history_sigma: args.history_sigma,
        ..Distributions::default()
    };
    let work = workload::generate(args.apps, args.spaces, args.seed, &dist);
    let spec = RunSpec {
        concurrency: args.concurrency,
        seed: args.seed,
        scale: args.scale,
        poll: args.poll,
        max_in_flight: args.max_in_flight,
        max_per_space: args.max_per_space,
        predicted_polling: true,
        aim_at_updater: args.aim_at_updater,
        cc_latency: args.cc_latency,
    };
    let main = restage_run::run(&spec, &work).await?;
    let fixed = if args.fixed_poll_run {
        let spec = RunSpec {
            predicted_polling: false,
            ..spec.clone()
        };
        Some(restage_run::run(&spec, &work).await?)
    } else {
        None
    };

    let c = args.concurrency as f64;
    let measured = &main.measured;
    let sum_work: f64 = measured.iter().map(Measured::work).sum();
    let longest = measured.iter().map(Measured::work).fold(0.0, f64::max);
    let mut chains: HashMap<&str, f64> = HashMap::new();
    for m in measured {
        *chains.entry(m.space.as_str()).or_default() += m.work();
    }
    let longest_chain = chains.values().copied().fold(0.0, f64::max);
    let bound = (sum_work / c).max(longest);
    let serial_cli: f64 = measured
        .iter()
        .map(|m| round_up(m.staging, CLI_POLL_SECS) + round_up(m.rollout, CLI_POLL_SECS))
        .sum();
    let r = replays(&main, args.concurrency);
    let makespan = main.makespan;

    let settings_json = json!({
        "apps": args.apps,
        "concurrency": args.concurrency,
        "spaces": args.spaces,
        "seed": args.seed,
        "time_scale": args.scale,
        "poll_interval_modelled_s": args.poll,
        "cc_updater_tick_modelled_s": CC_UPDATER_SECS,
        "max_in_flight": args.max_in_flight,
        "max_per_space": args.max_per_space,
        "distributions": dist,
        "fixed_poll_run": args.fixed_poll_run,
        "cc_latency_modelled_s": args.cc_latency,
        "aim_at_updater": args.aim_at_updater,
    });

    let mut fig = Figure::new(
        "restage_makespan",
        format!(
            "1. Restage makespan: {} apps, C = {}, poll {} s, CC answering in {} s (modelled seconds; 1 s = {} ms)",
            args.apps,
            args.concurrency,
            args.poll,
            args.cc_latency,
            args.scale.ms_per_modelled_second
        ),
    );
    fig.settings = settings_json.clone();
    fig.line(
        Line::new("restager makespan", makespan, "s")
            .goal(Goal::RatioAtMost(if args.poll <= 3.0 {
                1.03
            } else {
                1.05
            }))
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
            "replay: one restage per space, busiest space first (the policy before quotas)",
            r.one_per_space,
            "s",
        )
        .against("ideal bound", bound),
    );
    fig.line(
        Line::new(
            "replay: + quota-aware allowances, busiest space first",
            r.with_allowances,
            "s",
        )
        .against("ideal bound", bound),
    );
    fig.line(
        Line::new(
            "replay: + longest chain first = the engine's policy (policy gap)",
            r.engine,
            "s",
        )
        .against("ideal bound", bound),
    );
    fig.line(
        Line::new(
            "restager makespan, predicted polling (polling gap)",
            makespan,
            "s",
        )
        .against("replay of the engine's policy", r.engine),
    );
    if let Some(fixed) = &fixed {
        let fr = replays(fixed, args.concurrency);
        fig.line(
            Line::new(
                "restager makespan, polling on the fixed beat (polling gap before)",
                fixed.makespan,
                "s",
            )
            .against("replay of the engine's policy, that run's work", fr.engine),
        );
    }
    fig.line(
        Line::new(
            "replay: first come, first served, one per space",
            r.fifo,
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
    fig.line(Line::new("peak restages at once (sim)", main.peak as f64, "apps").against("C", c));
    fig.line(
        Line::new(
            "peak restages in one space (sim)",
            main.peak_space as f64,
            "apps",
        )
        .against("RESTAGER_MAX_PER_SPACE", args.max_per_space as f64),
    );
    let allowed_two = main.submitted.iter().filter(|s| s.allowance >= 2).count();
    fig.line(Line::new(
        "jobs whose space's quota allowed two at once",
        allowed_two as f64,
        "jobs",
    ));
    fig.line(Line::new(
        "quota refusals while restaging (sim, 422)",
        main.quota_refusals as f64,
        "req",
    ));
    fig.line(
        Line::new(
            "a build's end seen after (mean, predicted polling)",
            main.lags.staging_s,
            "s",
        )
        .against("half the poll interval", args.poll / 2.0),
    );
    fig.line(
        Line::new(
            "a deployment's end seen after (mean, predicted polling)",
            main.lags.rollout_s,
            "s",
        )
        .against("half the poll interval", args.poll / 2.0),
    );
    let lags = &main.lags;
    for (what, value, unit) in [
        (
            "a restage's first request to its build (mean)",
            lags.before_build_s,
            "s",
        ),
        (
            "a build's end seen to its deployment (mean)",
            lags.before_deploy_s,
            "s",
        ),
        (
            "slots busy: first request to deployment's end seen, share of C × makespan",
            lags.slots_busy,
            "",
        ),
        (
            "slots idle after the last restage started, share of C × makespan",
            lags.tail_idle,
            "",
        ),
        (
            "a freed slot to the next restage's first request (median)",
            lags.handover_median_s,
            "s",
        ),
        (
            "a freed slot to the next restage's first request (mean, space waits included)",
            lags.handover_mean_s,
            "s",
        ),
    ] {
        fig.line(Line::new(what, value, unit));
    }
    fig.line(
        Line::new("restager makespan (handovers and order)", makespan, "s").against(
            "replay of the engine's policy on what each restage held its slot for",
            r.engine_on_held,
        ),
    );
    if let Some(f) = &fixed {
        fig.line(Line::new(
            "a build's / deployment's end seen after (mean, fixed beat)",
            (f.lags.staging_s + f.lags.rollout_s) / 2.0,
            "s",
        ));
    }
    fig.note(format!(
        "quotas: {} spaces hold two rollouts at once, {} one; {} orgs' quotas bind before their spaces'",
        main.quotas.spaces_fit_two, main.quotas.spaces_fit_one, main.quotas.orgs_binding
    ));
    fig.note(format!(
        "history: each app's last staging and start-up are this run's off by a log-normal error of shape {} (seeded); {} of {} jobs had a staging time to poll by",
        args.history_sigma,
        main.with_history,
        args.apps
    ));
    fig.note("the replays run the measured work with zero client overhead: each policy line's ratio to the bound is what that policy costs; the makespan's ratio to the engine's replay is what polling and request latency cost");
    fig.note("work = the simulator's own staging time + deployment time (updater ticks included), so restager's overhead is its polling, scheduling and request latency");
    fig.note("the CLI baseline rounds each phase up to its 3 s poll and ignores its request latency and typing time");
    fig.note(format!(
        "Cloud Controller takes {} modelled s to answer each request (--cc-latency: the network and its own work); this machine's own round trip (about 1 to 2 ms of wall time on 2 busy cores) comes on top, {} modelled s per ms at this time scale",
        args.cc_latency,
        1.0 / args.scale.ms_per_modelled_second
    ));
    fig.details = json!({
        "wall_clock_s": main.wall.as_secs_f64(),
        "fixed_poll_wall_clock_s": fixed.as_ref().map(|f| f.wall.as_secs_f64()),
        "mean_staging_s": mean(measured.iter().map(|m| m.staging)),
        "mean_rollout_s": mean(measured.iter().map(|m| m.rollout)),
        "drawn_mean_staging_s": mean(work.iter().map(|w| w.staging)),
        "drawn_mean_rollout_work_s": mean(work.iter().map(|w| w.rollout(args.max_in_flight))),
        "spaces_used": chains.len(),
        "client_retries": main.client_retries,
        "discovery_requests": main.discovery_requests,
        "quotas": main.quotas,
        "lags": main.lags,
        "fixed_poll_lags": fixed.as_ref().map(|f| f.lags),
    });
    fig.wall_secs = started.elapsed().as_secs_f64();

    let restage_cost = cost_figure(args, &main, fixed.as_ref(), settings_json);
    Ok(MakespanFigures {
        makespan: fig,
        restage_cost,
    })
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
    main: &RunResult,
    fixed: Option<&RunResult>,
    settings: serde_json::Value,
) -> Figure {
    let n = args.apps.max(1) as f64;
    let api = |requests: &[RecordedRequest]| -> (f64, f64) {
        let api: Vec<&RecordedRequest> = requests
            .iter()
            .filter(|r| r.path.starts_with("/v3"))
            .collect();
        let polls = api.iter().filter(|r| is_poll(r)).count() as f64;
        (api.len() as f64, polls)
    };
    let (total, polls) = api(&main.requests);
    let fixed_requests = total - polls;
    let expected_polls: f64 = main
        .measured
        .iter()
        .map(|m| (m.staging / args.poll).ceil() + (m.rollout / args.poll).ceil())
        .sum();
    let cli: f64 = main
        .measured
        .iter()
        .map(|m| cli_requests(m.staging, m.rollout, 1))
        .sum();
    let mut by_kind: HashMap<String, usize> = HashMap::new();
    for r in main.requests.iter().filter(|r| r.path.starts_with("/v3")) {
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
    let per = total / n;
    match fixed {
        Some(f) => {
            let (f_total, f_polls) = api(&f.requests);
            fig.line(
                Line::new("restager: requests per restage", per, "req")
                    .goal(Goal::RatioAtMost(1.0))
                    .against("the same run polling on the fixed beat", f_total / n),
            );
            fig.line(
                Line::new("restager: polls per restage", polls / n, "req")
                    .against("the same run polling on the fixed beat", f_polls / n),
            );
        }
        None => fig.line(
            Line::new("restager: polls per restage", polls / n, "req").against(
                "one per poll interval of foundation time",
                expected_polls / n,
            ),
        ),
    }
    if (args.poll - 10.0).abs() < f64::EPSILON {
        fig.line(
            Line::new("restager: requests per restage", per, "req").against(
                "before predicted polling (README, poll 10 s)",
                REQUESTS_BEFORE,
            ),
        );
    }
    fig.line(
        Line::new("restager: requests per restage", per, "req").against(
            "state-machine minimum + polls at the interval",
            ENGINE_FIXED_REQUESTS + expected_polls / n,
        ),
    );
    fig.line(
        Line::new("restager: requests per restage", per, "req")
            .against("cf CLI sequence, 3 s polls (cf-api.md §1)", cli / n),
    );
    fig.line(
        Line::new(
            "restager: non-poll requests per restage",
            fixed_requests / n,
            "req",
        )
        .against("state-machine minimum", ENGINE_FIXED_REQUESTS),
    );
    fig.line(
        Line::new(
            "discovery's requests per app, hints included (not per restage)",
            main.discovery_requests as f64 / n,
            "req",
        )
        .against("a lookup per app", 1.0),
    );
    fig.note("token requests are not counted (one per process, cached); the CLI count leaves out its log-cache stream");
    fig.details = json!({ "requests_by_shape": by_kind, "total_v3_requests": total });
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
