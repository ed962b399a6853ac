//! `bench`: restager's figures, each with its anchor, ratio and goal.
//!
//! ```text
//! cargo run --release -p e2e --bin bench            # every figure, issue defaults
//! cargo run --release -p e2e --bin bench -- --only verify --verify-iterations 1000
//! ```
//!
//! Prints every figure and writes `<out>/<figure>.json` (default
//! `target/bench/`). Exit code 0 when all figures were produced (goals missed
//! are reported, not fatal), 1 when a figure could not be measured.

#[path = "../bench/mod.rs"]
mod bench;

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use bench::report::Figure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    /// 1. restage makespan (also yields 2b, CF requests per restage)
    Makespan,
    /// 2a. CF requests per app for discovery
    Discovery,
    /// 3a. signature check of a 10 KB notice
    Verify,
    /// 3b. fan-out throughput into SQS (moto)
    Fanout,
    /// 4. binary sizes, cold start, worker peak RSS
    Lambda,
}

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "restager's benchmark: makespan, CF API cost, webhook, cold start"
)]
struct Args {
    /// Figures to produce (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Which>,
    /// Directory for the JSON files (default: <workspace>/target/bench).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed for the foundation and the per-app timings.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Iterations per signature scheme.
    #[arg(long, default_value_t = 20_000)]
    verify_iterations: usize,
    /// Apps restaged in the makespan run.
    #[arg(long, default_value_t = 1000)]
    apps: usize,
    /// Restages at once (RESTAGER_MAX_CONCURRENT_RESTAGES).
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Spaces the makespan apps are spread over (each with a space quota that holds one or two restages).
    #[arg(long, default_value_t = 250)]
    spaces: usize,
    /// Restages at once in one space where its quota holds them (RESTAGER_MAX_PER_SPACE).
    #[arg(long, default_value_t = 2)]
    max_per_space: usize,
    /// How far each app's history is from its restage now: the shape of a log-normal error.
    #[arg(long, default_value_t = 0.1)]
    history_sigma: f64,
    /// Skip the second makespan run that polls on the fixed beat (halves the figure's time).
    #[arg(long)]
    no_fixed_poll_run: bool,
    /// Wall-clock milliseconds per modelled second.
    #[arg(long, default_value_t = 5.0)]
    ms_per_second: f64,
    /// Modelled seconds Cloud Controller takes to answer each request in the
    /// makespan run (the simulator waits that long before taking a request up).
    #[arg(long, default_value_t = 0.0)]
    cc_latency: f64,
    /// Poll rollouts on the engine's plan alone, not aimed at the updater's ticks (RESTAGER_CC_UPDATER_PERIOD=0s).
    #[arg(long)]
    no_updater_aim: bool,
    /// The engine's poll interval in modelled seconds (RESTAGER_POLL_INTERVAL; default 10 s).
    #[arg(long, default_value_t = 10.0)]
    poll: f64,
    /// Apps in the foundation for the discovery cost (its goal).
    #[arg(long, default_value_t = 10_000)]
    discovery_apps: usize,
    /// A larger foundation for discovery's cost and time, and the webhook's peak RSS (0: skip).
    #[arg(long, default_value_t = 50_000)]
    discovery_large_apps: usize,
    /// Apps fanned out into SQS.
    #[arg(long, default_value_t = 10_000)]
    fanout_apps: usize,
    /// Rounds of plain loop → webhook → adapter for the fan-out figure (its ratio is their median).
    #[arg(long, default_value_t = 5)]
    fanout_rounds: usize,
    /// Use the release binaries already in target/release instead of building them.
    #[arg(long)]
    no_build: bool,
    /// Time the webhook and worker binaries in this directory instead (implies --no-build).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Process starts timed per function.
    #[arg(long, default_value_t = 10)]
    cold_start_runs: usize,
    /// Restages handed to the worker at once for its peak RSS.
    #[arg(long, default_value_t = 50)]
    restages: usize,
    /// Rolling deployment max_in_flight (RESTAGER_MAX_IN_FLIGHT).
    #[arg(long, default_value_t = 1)]
    max_in_flight: u32,
}

/// The workspace root (this crate lives in tests/e2e).
fn workspace() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(|p| p.parent())
        .map_or_else(|| manifest.join("../.."), PathBuf::from)
}

fn default_out() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("bench")
}

/// The figures produced so far, each printed and written to `out` as it
/// comes, and whether any could not be measured or written.
struct Emitted {
    out: PathBuf,
    figures: Vec<Figure>,
    failed: bool,
}

impl Emitted {
    fn result(&mut self, result: Result<Figure, impl Display>) {
        match result {
            Ok(fig) => self.figure(fig),
            Err(e) => self.failure(e),
        }
    }

    fn figure(&mut self, fig: Figure) {
        print!("{}", fig.render());
        match fig.write_json(&self.out) {
            Ok(path) => println!("   -> {}", path.display()),
            Err(e) => self.failure(e),
        }
        self.figures.push(fig);
    }

    fn failure(&mut self, e: impl Display) {
        eprintln!("bench: {e}");
        self.failed = true;
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let out = args.out.clone().unwrap_or_else(default_out);
    let wants = |w: Which| args.only.is_empty() || args.only.contains(&w);
    let mut emitted = Emitted {
        out,
        figures: Vec::new(),
        failed: false,
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };

    if wants(Which::Makespan) {
        let margs = bench::makespan::MakespanArgs {
            apps: args.apps,
            concurrency: args.concurrency,
            spaces: args.spaces,
            seed: args.seed,
            scale: bench::workload::TimeScale {
                ms_per_modelled_second: args.ms_per_second,
            },
            poll: args.poll,
            max_in_flight: args.max_in_flight,
            max_per_space: args.max_per_space,
            history_sigma: args.history_sigma,
            fixed_poll_run: !args.no_fixed_poll_run,
            cc_latency: args.cc_latency,
            aim_at_updater: !args.no_updater_aim,
        };
        match runtime.block_on(bench::makespan::run(&margs)) {
            Ok(figs) => {
                emitted.figure(figs.makespan);
                emitted.figure(figs.restage_cost);
            }
            Err(e) => emitted.failure(e),
        }
    }
    if wants(Which::Discovery) {
        let sizes: Vec<usize> = [args.discovery_apps, args.discovery_large_apps]
            .into_iter()
            .filter(|n| *n > 0)
            .collect();
        emitted.result(runtime.block_on(bench::discovery::run(&sizes, args.seed)));
    }
    if wants(Which::Verify) {
        emitted.result(bench::verify::run(args.verify_iterations));
    }

    if wants(Which::Fanout) {
        let fargs = bench::fanout::FanoutArgs {
            apps: args.fanout_apps,
            spaces: args.spaces,
            seed: args.seed,
            rounds: args.fanout_rounds,
        };
        emitted.result(runtime.block_on(bench::fanout::run(&fargs)));
    }
    if wants(Which::Lambda) {
        let largs = bench::lambda::LambdaArgs {
            workspace: workspace(),
            build: !args.no_build && args.bin_dir.is_none(),
            bin_dir: args.bin_dir.clone(),
            cold_start_runs: args.cold_start_runs,
            restages: args.restages,
            seed: args.seed,
            webhook_apps: args.discovery_large_apps,
        };
        emitted.result(runtime.block_on(bench::lambda::run(&largs)));
    }

    let missed: Vec<&str> = emitted
        .figures
        .iter()
        .filter(|f| !f.goals_met())
        .map(|f| f.name.as_str())
        .collect();
    if !missed.is_empty() {
        println!("goals not met in: {}", missed.join(", "));
    }
    if emitted.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
