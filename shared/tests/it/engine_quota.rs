//! Quota-aware space concurrency against the simulator's quotas (which
//! follow Cloud Controller's checks, see cf-sim's `quota`): a space whose
//! quota holds two rolling restages gets two at once and never a refusal;
//! when usage moves after discovery read it, the refusal defers the job and
//! the space's allowance drops for the rest of the run.
//!
//! Phases last seconds on the simulator so that two restages the engine
//! starts together overlap whatever the machine's load: what is asserted is
//! what happened (which requests, which outcomes), not how fast.

use std::sync::Arc;
use std::time::Duration;

use cf_sim::{AppTiming, QuotaLimits};
use restager_shared::config::ScopeSettings;
use restager_shared::discovery;
use restager_shared::domain::{Action, Outcome};
use restager_shared::engine::{BatchItem, Deadline, Disposition, Engine};
use restager_shared::ledger::Ledger;
use test_support::engine::*;

const STAGING: Duration = Duration::from_secs(1);
/// Longer than staging: a job started when another was refused would
/// reach its deployment while the first still rolls.
const STARTUP: Duration = Duration::from_secs(2);

/// Three 512 M one-instance apps to restage in `org`/`prod`, and one more
/// that only takes up room; the space's quota leaves room for two rollouts
/// (2 × 512 M) and half of a third.
async fn crowded_space(h: &Harness) -> (Vec<String>, String) {
    let mk = |name: &str| {
        let mut spec = app(name);
        spec.org = "org".into();
        spec.space = "prod".into();
        spec.instances = 1;
        spec.memory_mb = 512;
        h.sim.add_app(spec)
    };
    let apps: Vec<String> = ["a", "b", "c"].iter().map(|n| mk(n)).collect();
    let mut idle = app("idle");
    idle.org = "org".into();
    idle.space = "prod".into();
    idle.instances = 1;
    idle.memory_mb = 512;
    idle.buildpack = "go_buildpack".into();
    let idle = h.sim.add_app(idle);
    for a in &apps {
        h.sim
            .set_app_timing(
                a,
                AppTiming {
                    staging: STAGING,
                    instance_startup: STARTUP,
                },
            )
            .expect("timing");
    }
    let used = h.sim.space_usage("org", "prod").expect("usage").memory_mb;
    assert_eq!(used, 4 * 512);
    h.sim
        .set_space_quota(
            "org",
            "prod",
            QuotaLimits {
                memory_mb: Some(used + 2 * 512 + 256),
                instances: None,
            },
        )
        .expect("quota");
    (apps, idle)
}

/// The jobs as discovery plans them (with their hints), recorded in `ledger`.
async fn plan(h: &Harness, ledger: &FaultyLedger) -> Vec<BatchItem> {
    let plan = discovery::plan(&h.cf, &notice(), Action::Restage, &ScopeSettings::default())
        .await
        .expect("plan");
    assert_eq!(plan.jobs.len(), 3, "{:?}", plan.skipped);
    for job in &plan.jobs {
        assert_eq!(job.schedule.space_allowance, Some(2), "{:?}", job.schedule);
    }
    let run = plan.into_run(chrono::Utc::now());
    ledger.put_run(&run.record).await.expect("run stored");
    run.jobs
        .iter()
        .enumerate()
        .map(|(i, j)| BatchItem::from(delivery(&format!("m{i}"), 1, j.to_json())))
        .collect()
}

fn engine(h: &Harness, ledger: &Arc<FaultyLedger>) -> Engine {
    let mut settings = h.settings.clone();
    // Room for the one-second phases; the deadline is far.
    settings.staging_timeout = Duration::from_secs(60);
    settings.deploy_timeout = Duration::from_secs(60);
    Engine::new(
        h.cf.clone(),
        settings,
        ledger.clone(),
        Arc::new(RecordingNotifier::default()),
    )
    .with_margins(margins())
}

fn quota_refusals(h: &Harness) -> Vec<cf_sim::RecordedRequest> {
    h.sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.status == 422)
        .collect()
}

#[tokio::test]
async fn a_space_whose_quota_holds_two_restages_gets_two_and_no_refusal() {
    let h = start().await;
    let (apps, _) = crowded_space(&h).await;
    let ledger = Arc::new(FaultyLedger::default());
    let items = plan(&h, &ledger).await;
    h.sim.reset_peaks();
    h.sim.clear_requests();

    let report = engine(&h, &ledger)
        .process_batch(items, &Deadline::unbounded(margins()))
        .await;

    for item in &report.items {
        assert!(
            matches!(item.outcome, Some(Outcome::Restaged { .. })),
            "{item:?}"
        );
    }
    assert_eq!(h.sim.peak_active_per_space(), 2, "two at once, not three");
    assert!(quota_refusals(&h).is_empty(), "{:?}", quota_refusals(&h));
    for a in &apps {
        assert_eq!(client_deployments(&h.sim, a), 1);
    }
}

#[tokio::test]
async fn usage_that_moved_since_discovery_defers_one_and_lowers_the_allowance() {
    let h = start().await;
    let (apps, idle) = crowded_space(&h).await;
    let ledger = Arc::new(FaultyLedger::default());
    let items = plan(&h, &ledger).await;
    // After discovery read the space, another team scales up: one rollout's
    // room is gone, and the space now holds one restage at a time.
    h.sim.human_scale(&idle, 2).expect("scale");
    h.sim.reset_peaks();
    h.sim.clear_requests();

    let report = engine(&h, &ledger)
        .process_batch(items, &Deadline::unbounded(margins()))
        .await;

    let refusals = quota_refusals(&h);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].path, "/v3/deployments");
    let deferred: Vec<_> = report
        .items
        .iter()
        .filter(|i| matches!(i.outcome, Some(Outcome::Deferred { .. })))
        .collect();
    assert_eq!(deferred.len(), 1, "{report:?}");
    assert!(matches!(
        deferred[0].disposition,
        Disposition::RetryAfter(_)
    ));
    assert!(
        deferred[0]
            .outcome
            .as_ref()
            .and_then(Outcome::reason)
            .is_some_and(|r| r.contains("space_quota_exceeded")),
        "{deferred:?}"
    );
    // The third job waited for the first to finish (had it started when the
    // second was refused, its deployment would have met the first's
    // rollout and been refused too): the allowance dropped to 1.
    let restaged = report
        .items
        .iter()
        .filter(|i| matches!(i.outcome, Some(Outcome::Restaged { .. })))
        .count();
    assert_eq!(restaged, 2);
    let deployed: usize = apps.iter().map(|a| client_deployments(&h.sim, a)).sum();
    assert_eq!(deployed, 2, "the refused one made no deployment");
}
