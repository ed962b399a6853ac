//! Figure 2a: what discovery costs Cloud Controller. A seeded 10,000-app
//! foundation (the simulator's realistic mix: several buildpacks and
//! stacks, stopped, docker and opted-out apps), a new ruby_buildpack
//! installed, and the real `discovery::plan` counted from the simulator's
//! request log.

use std::collections::BTreeMap;
use std::time::Instant;

use cf_sim::{CfSim, SimConfig};
use restager_shared::config::ScopeSettings;
use restager_shared::discovery;
use restager_shared::domain::Action;
use serde_json::json;

use super::BenchError;
use super::foundation::{self, BUILDPACK, NEW_VERSION};
use super::report::{Figure, Goal, Line};

pub async fn run(apps: usize, seed: u64) -> Result<Figure, BenchError> {
    let started = Instant::now();
    let sim = CfSim::start(SimConfig {
        seed,
        ..SimConfig::with_apps(apps)
    })
    .await
    .map_err(|e| BenchError::Setup(format!("simulator: {e}")))?;
    sim.install_buildpack(BUILDPACK, NEW_VERSION);
    let cf = foundation::client(&sim)?;
    let notice = foundation::release_notice()?;
    sim.clear_requests();
    let t0 = Instant::now();
    let plan = discovery::plan(&cf, &notice, Action::Restage, &ScopeSettings::default())
        .await
        .map_err(|e| BenchError::Run(format!("discovery: {e}")))?;
    let took = t0.elapsed();
    let requests = sim.requests();
    sim.shutdown().await;

    let mut by_path: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        *by_path
            .entry(format!("{} {}", r.method, r.path))
            .or_default() += 1;
    }
    let total = requests.len() as f64;
    let n = apps.max(1) as f64;
    let per_app = total / n;
    let mut fig = Figure::new(
        "discovery_requests",
        format!("2a. Discovery cost at {apps} apps (ruby_buildpack {NEW_VERSION} released)"),
    );
    fig.settings = json!({ "apps": apps, "seed": seed, "per_page": cf.options().per_page,
        "droplet_guid_batch": cf.options().guid_batch_size });
    fig.line(
        Line::new("CF requests per app in the foundation", per_app, "req")
            .goal(Goal::ValueBelow(0.05))
            .against("a lookup per app (1 request each)", 1.0),
    );
    fig.line(Line::new(
        "CF requests in all (token and root included)",
        total,
        "req",
    ));
    fig.line(Line::new(
        "plan's own count (CfClient counters)",
        plan.cf_requests as f64,
        "req",
    ));
    fig.line(Line::new("jobs planned", plan.jobs.len() as f64, "apps"));
    fig.line(Line::new(
        "apps skipped with a reason",
        plan.skipped.len() as f64,
        "apps",
    ));
    fig.line(
        Line::new("discovery wall time", took.as_secs_f64() * 1000.0, "ms")
            .against("GitHub's 10 s delivery timeout", 10_000.0),
    );
    fig.note("loopback simulator: the wall time shows restager's own work, not a real Cloud Controller's latency");
    fig.details = json!({ "requests_by_path": by_path });
    fig.wall_secs = started.elapsed().as_secs_f64();
    Ok(fig)
}
