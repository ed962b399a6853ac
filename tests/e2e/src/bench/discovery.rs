//! Figure 2a: what discovery costs Cloud Controller, and how long it takes,
//! at each foundation size asked for (10,000 and 50,000 apps by default).
//! A seeded foundation (the simulator's realistic mix: several buildpacks
//! and stacks, stopped, docker and opted-out apps), a new ruby_buildpack
//! installed, and the real `discovery::plan` (its scheduling hints
//! included) counted from the simulator's request log.

use std::collections::BTreeMap;
use std::time::Instant;

use restager_shared::config::ScopeSettings;
use restager_shared::discovery;
use restager_shared::domain::Action;
use serde_json::json;

use super::BenchError;
use super::fanout::covered;
use super::foundation::{self, NEW_VERSION};
use super::report::{Figure, Goal, Line};

/// Paths the scheduling hints read (the rest is the plan itself).
const HINT_PATHS: [&str; 6] = [
    "/v3/space_quotas",
    "/v3/organization_quotas",
    "/v3/processes",
    "/v3/builds",
    "/v3/deployments",
    "/v3/apps?organization_guids",
];

struct Measured {
    apps: usize,
    requests: usize,
    hint_requests: usize,
    jobs: usize,
    skipped: usize,
    wall_ms: f64,
    sim_ms: f64,
    by_path: BTreeMap<String, usize>,
}

async fn measure(apps: usize, seed: u64) -> Result<Measured, BenchError> {
    let sim = foundation::released_sim(apps, seed).await?;
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
    let mut hint_requests = 0;
    for r in &requests {
        *by_path
            .entry(format!("{} {}", r.method, r.path))
            .or_default() += 1;
        let with_query = match &r.query {
            Some(q) => format!("{}?{q}", r.path),
            None => r.path.clone(),
        };
        if HINT_PATHS.iter().any(|p| with_query.starts_with(p)) {
            hint_requests += 1;
        }
    }
    Ok(Measured {
        apps,
        requests: requests.len(),
        hint_requests,
        jobs: plan.jobs.len(),
        skipped: plan.skipped.len(),
        wall_ms: took.as_secs_f64() * 1000.0,
        sim_ms: covered(
            requests
                .iter()
                .map(|r| (r.received_at, r.handling))
                .collect(),
        )
        .as_secs_f64()
            * 1000.0,
        by_path,
    })
}

/// One figure for every size in `sizes` (the first carries the goal).
pub async fn run(sizes: &[usize], seed: u64) -> Result<Figure, BenchError> {
    let started = Instant::now();
    let mut all = Vec::new();
    for &apps in sizes {
        all.push(measure(apps, seed).await?);
    }
    let names: Vec<String> = sizes.iter().map(|n| n.to_string()).collect();
    let mut fig = Figure::new(
        "discovery_requests",
        format!(
            "2a. Discovery cost at {} apps (ruby_buildpack {NEW_VERSION} released)",
            names.join(" and ")
        ),
    );
    let options = restager_shared::cf::CfClientOptions::default();
    fig.settings = json!({ "apps": sizes, "seed": seed, "per_page": options.per_page,
        "guid_batch_size": options.guid_batch_size });
    for (i, m) in all.iter().enumerate() {
        let n = m.apps.max(1) as f64;
        let at = format!("{} apps", m.apps);
        let mut per_app = Line::new(
            format!("{at}: CF requests per app"),
            m.requests as f64 / n,
            "req",
        )
        .against("a lookup per app (1 request each)", 1.0);
        if i == 0 {
            per_app = per_app.goal(Goal::ValueBelow(0.05));
        }
        fig.line(per_app);
        fig.line(
            Line::new(
                format!("{at}: of which the scheduling hints (history, quotas, usage)"),
                m.hint_requests as f64,
                "req",
            )
            .against("all discovery requests", m.requests as f64),
        );
        fig.line(Line::new(
            format!("{at}: CF requests in all (token and root included)"),
            m.requests as f64,
            "req",
        ));
        fig.line(Line::new(
            format!("{at}: jobs planned"),
            m.jobs as f64,
            "apps",
        ));
        fig.line(Line::new(
            format!("{at}: apps skipped with a reason"),
            m.skipped as f64,
            "apps",
        ));
        fig.line(
            Line::new(format!("{at}: discovery wall time"), m.wall_ms, "ms")
                .against("GitHub's 10 s delivery timeout", 10_000.0),
        );
        fig.line(
            Line::new(
                format!("{at}: of which the simulator was answering"),
                m.sim_ms,
                "ms",
            )
            .against("discovery wall time", m.wall_ms),
        );
    }
    fig.note("loopback simulator: the wall time is restager's own work plus the simulator's answers (shown apart), not a real Cloud Controller's latency");
    fig.note(
        "the webhook process's peak RSS for one notice over the largest foundation is in figure 4",
    );
    fig.details = json!({
        "requests_by_path": all.iter().map(|m| (m.apps.to_string(), m.by_path.clone())).collect::<BTreeMap<_, _>>(),
    });
    fig.wall_secs = started.elapsed().as_secs_f64();
    Ok(fig)
}
