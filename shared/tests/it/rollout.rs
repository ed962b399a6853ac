//! Safe rollout on the simulator: waves in order with their soak, a label
//! overriding a pattern, the error budget halting a run, pause/resume/abort,
//! and a crash during a wave's soak rolled back. Timings are asserted from
//! the simulator's request log (what Cloud Controller saw), never from how
//! fast this machine is.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cf_sim::{Fault, FaultRule, SimConfig, StagingFailure};
use restager_shared::domain::{Outcome, OutcomeKind};
use restager_shared::ledger::{JobRecord, Ledger, RunState, RunView};
use restager_shared::notify::RolloutNews;
use restager_shared::rollout::{self, Command};
use test_support::engine::{app, client_builds};
use test_support::rollout::{Rig, scope};

use crate::slack::{SIGNING_SECRET, click, now_secs, signed_headers};

fn is_halted(view: &RunView) -> bool {
    matches!(
        view.rollout.as_ref().map(|r| &r.state),
        Some(RunState::Halted { .. })
    )
}

/// The job of app `guid` in `view`.
fn job_of<'a>(view: &'a RunView, guid: &str) -> &'a JobRecord {
    view.jobs
        .iter()
        .find(|j| j.app.guid == guid)
        .unwrap_or_else(|| panic!("no job for {guid}"))
}

fn app_in(name: &str, org: &str, space: &str) -> cf_sim::AppSpec {
    let mut spec = app(name);
    spec.org = org.into();
    spec.space = space.into();
    spec
}

/// When each app's first build was asked for, by app guid.
fn first_build_at(rig: &Rig) -> HashMap<String, Instant> {
    let sim = rig.sim();
    let package_app: HashMap<String, String> = sim
        .apps()
        .iter()
        .flat_map(|a| {
            sim.builds_for(&a.guid)
                .into_iter()
                .map(move |b| (b.package, a.guid.clone()))
        })
        .collect();
    let mut first = HashMap::new();
    for r in sim.requests() {
        if r.method != "POST" || r.path != "/v3/builds" {
            continue;
        }
        let package = r
            .body
            .as_ref()
            .and_then(|b| b.pointer("/package/guid"))
            .and_then(|g| g.as_str());
        if let Some(app) = package.and_then(|p| package_app.get(p)) {
            first.entry(app.clone()).or_insert(r.received_at);
        }
    }
    first
}

/// The last request about any deployment of these apps: when their
/// restages were last looked at, i.e. finished.
fn last_deployment_request(rig: &Rig, apps: &[&str]) -> Instant {
    let deployments: Vec<String> = apps
        .iter()
        .flat_map(|a| rig.sim().deployments_for(a))
        .map(|d| format!("/v3/deployments/{}", d.guid))
        .collect();
    rig.sim()
        .requests()
        .into_iter()
        .filter(|r| deployments.iter().any(|d| r.path.starts_with(d.as_str())))
        .map(|r| r.received_at)
        .max()
        .expect("the wave's deployments were polled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_waves_go_in_order_each_after_the_previous_soak_and_a_label_overrides_a_pattern() {
    let rig = Rig::start(SimConfig::with_apps(0)).await;
    let sim = rig.sim();
    let dev = [
        sim.add_app(app_in("dev-a", "acme", "dev")),
        sim.add_app(app_in("dev-b", "beta", "dev")),
    ];
    let staging = [
        sim.add_app(app_in("stg-a", "acme", "staging")),
        sim.add_app(app_in("stg-b", "beta", "staging")),
    ];
    let prod = [
        sim.add_app(app_in("prod-a", "acme", "prod")),
        sim.add_app(app_in("prod-b", "beta", "prod")),
    ];
    // Its name says prod, its label says it goes with the first wave.
    let canary = sim.add_app(app_in("canary", "acme", "prod-canary"));
    assert!(sim.set_space_label("acme", "prod-canary", "restager.io/wave", "1"));
    let soak = Duration::from_millis(400);

    let (plan, fanned) = rig.fan_out(&scope("*/dev*;*/staging*;*", "2", soak)).await;

    let waves: Vec<(usize, &str, usize)> = plan
        .waves
        .iter()
        .map(|w| (w.wave, w.name.as_str(), w.jobs))
        .collect();
    assert_eq!(
        waves,
        vec![(1, "*/dev*", 3), (2, "*/staging*", 2), (3, "*", 2)]
    );
    assert!(
        plan.waves[0]
            .spaces
            .contains(&"acme/prod-canary".to_string())
    );
    assert_eq!(
        (fanned.queued, fanned.held),
        (3, 4),
        "only the first wave is queued"
    );

    let work = rig.work();
    let view = rig
        .wait_for(&plan.run_id, "the run to complete", |v| {
            v.completed_at.is_some()
        })
        .await;
    work.stop().await;

    assert!(
        view.jobs
            .iter()
            .all(|j| j.outcome.as_ref().map(Outcome::kind) == Some(OutcomeKind::Restaged)),
        "{:?}",
        view.jobs
    );
    let first = first_build_at(&rig);
    let wave1: Vec<&str> = dev
        .iter()
        .map(String::as_str)
        .chain([canary.as_str()])
        .collect();
    let wave2: Vec<&str> = staging.iter().map(String::as_str).collect();
    let wave3: Vec<&str> = prod.iter().map(String::as_str).collect();
    for (before, after, name) in [(&wave1, &wave2, "staging"), (&wave2, &wave3, "prod")] {
        let finished = last_deployment_request(&rig, before);
        for app in after.iter() {
            let started = first[*app];
            assert!(
                started >= finished + soak,
                "a {name} build started {:?} after the previous wave finished, before the {soak:?} soak",
                started.saturating_duration_since(finished)
            );
        }
    }
    let rollout = view.rollout.expect("rollout");
    assert!(rollout.waves.iter().all(|w| w.released_at.is_some()));
    let released: Vec<&RolloutNews> = Vec::new();
    let news = rig.notifier.news();
    let waves_told = news
        .iter()
        .filter(|n| matches!(n, RolloutNews::WaveReleased { .. }))
        .count();
    assert_eq!(
        waves_told, 2,
        "waves 2 and 3 were each released once: {news:?} {released:?}"
    );
    for guid in dev.iter().chain(&staging).chain(&prod) {
        assert_eq!(client_builds(sim, guid), 1, "one build per app");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wave_that_ends_over_budget_stops_the_run_before_the_next_wave() {
    let mut rig = Rig::start(SimConfig::with_apps(0)).await;
    rig.h.settings.max_concurrent_restages = 1;
    let sim = rig.sim();
    let broken: Vec<String> = (0..2)
        .map(|i| sim.add_app(app_in(&format!("dev-{i}"), "acme", "dev")))
        .collect();
    let fine = sim.add_app(app_in("dev-ok", "acme", "dev2"));
    let prod = sim.add_app(app_in("prod-a", "acme", "prod"));
    for guid in &broken {
        sim.set_fault(FaultRule::app(
            guid,
            Fault::StagingFails(StagingFailure::NoAppDetected),
        ));
    }

    let (plan, _) = rig.fan_out(&scope("*/dev*;*", "1", Duration::ZERO)).await;
    let work = rig.work();
    let view = rig
        .wait_for(&plan.run_id, "the run to halt", |v| {
            is_halted(v)
                && v.jobs
                    .iter()
                    .filter(|j| j.app.space_name != "prod")
                    .all(|j| j.outcome.is_some())
        })
        .await;
    // Give a wrongly released wave every chance to show itself.
    tokio::time::sleep(Duration::from_millis(300)).await;
    work.stop().await;

    let Some(RunState::Halted { reason, .. }) = view.rollout.as_ref().map(|r| &r.state) else {
        panic!("halted");
    };
    assert_eq!(reason, "run halted after 2 failures (budget 1)");
    assert_eq!(client_builds(sim, &prod), 0, "the next wave never started");
    let _ = fine;
    let prod_job = job_of(&view, &prod);
    assert_eq!(prod_job.outcome, None, "held in the ledger, never queued");
    assert!(
        rig.notifier
            .news()
            .iter()
            .any(|n| matches!(n, RolloutNews::Halted { failures, .. } if failures.len() == 2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spent_budget_halts_the_run_resume_carries_on_and_abort_records_the_rest() {
    let mut rig = Rig::start(SimConfig::with_apps(0)).await;
    // One at a time: the budget is spent by the third failure exactly.
    rig.h.settings.max_concurrent_restages = 1;
    let sim = rig.sim();
    let failing: Vec<String> = (0..5)
        .map(|i| {
            let guid = sim.add_app(app_in(&format!("app-{i}"), "acme", &format!("space-{i}")));
            sim.set_fault(FaultRule::app(
                &guid,
                Fault::StagingFails(StagingFailure::NoAppDetected),
            ));
            guid
        })
        .collect();
    let healthy: Vec<String> = (0..3)
        .map(|i| sim.add_app(app_in(&format!("ok-{i}"), "acme", &format!("ok-{i}"))))
        .collect();

    let (plan, _) = rig.fan_out(&scope("", "2", Duration::ZERO)).await;
    let run = plan.run_id.clone();
    let work = rig.work();
    let halted = rig
        .wait_for(&run, "the halt and every delivery seen", |v| {
            is_halted(v) && v.jobs.iter().all(|j| j.outcome.is_some())
        })
        .await;
    let failures = halted.failures();
    assert_eq!(
        failures, 3,
        "exactly the failure that spent the budget, no more"
    );
    let builds_at_halt: usize = sim.apps().iter().map(|a| client_builds(sim, &a.guid)).sum();
    let held: Vec<_> = halted
        .jobs
        .iter()
        .filter(|j| matches!(j.outcome, Some(Outcome::Held { .. })))
        .collect();
    assert_eq!(
        held.len(),
        8 - builds_at_halt,
        "every job not started is held"
    );
    for job in &held {
        assert_eq!(
            job.outcome.as_ref().and_then(Outcome::reason),
            Some("held: run halted after 3 failures (budget 2)")
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let builds_later: usize = sim.apps().iter().map(|a| client_builds(sim, &a.guid)).sum();
    assert_eq!(
        builds_later, builds_at_halt,
        "no build starts after the halt"
    );

    // Pausing a halted run is refused; resuming it carries on.
    let refused = rollout::apply(
        rig.ports(),
        &run,
        Command::Pause,
        "alice",
        chrono::Utc::now(),
    )
    .await;
    assert!(refused.is_err());
    let resumed = rollout::apply(
        rig.ports(),
        &run,
        Command::Resume,
        "alice",
        chrono::Utc::now(),
    )
    .await
    .expect("resume");
    assert_eq!(resumed.requeued, held.len());
    assert_eq!(resumed.state, "running");
    let again = rig
        .wait_for(&run, "the resumed run to halt again or finish", |v| {
            v.completed_at.is_some()
                || (is_halted(v)
                    && !v
                        .jobs
                        .iter()
                        .any(|j| matches!(j.outcome, None | Some(Outcome::Deferred { .. }))))
                    && v.failures() > 3
        })
        .await;
    let rollout_now = again.rollout.clone().expect("rollout");
    assert_eq!(
        rollout_now.forgiven, 3,
        "resume re-armed the budget from the failures so far"
    );
    assert!(again.failures() <= 5);

    // Whatever is left, abort records it as skipped by who asked.
    if again.completed_at.is_none() {
        let aborted = rollout::apply(rig.ports(), &run, Command::Abort, "bob", chrono::Utc::now())
            .await
            .expect("abort");
        assert!(aborted.skipped > 0);
        let done = rig
            .wait_for(&run, "completion after abort", |v| v.completed_at.is_some())
            .await;
        assert!(done
            .jobs
            .iter()
            .filter(|j| matches!(&j.outcome, Some(Outcome::Skipped { reason }) if reason == "aborted by bob"))
            .count()
            >= aborted.skipped.min(1));
    }
    work.stop().await;
    let view = rig.view(&run).await;
    let history: Vec<(&str, &str)> = view
        .rollout
        .as_ref()
        .expect("rollout")
        .history
        .iter()
        .map(|e| (e.by.as_str(), e.what.as_str()))
        .collect();
    assert!(history.contains(&("alice", "resume")), "{history:?}");
    assert!(
        history
            .iter()
            .any(|(by, what)| *by == "restager" && what.starts_with("run halted after 3")),
        "{history:?}"
    );
    for guid in &healthy {
        let job = view.jobs.iter().find(|j| &j.app.guid == guid).expect("job");
        assert!(
            job.outcome.as_ref().is_some_and(Outcome::is_final),
            "{job:?}"
        );
    }
    let _ = failing;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_holds_new_work_and_abort_ends_the_run_with_every_job_skipped_by_who_asked() {
    let mut rig = Rig::start(SimConfig::with_apps(0)).await;
    rig.h.settings.max_concurrent_restages = 1;
    let sim = rig.sim();
    for i in 0..4 {
        sim.add_app(app_in(&format!("app-{i}"), "acme", &format!("s-{i}")));
    }
    let (plan, _) = rig.fan_out(&scope("", "10%", Duration::ZERO)).await;
    let run = plan.run_id.clone();
    let paused = rollout::apply(
        rig.ports(),
        &run,
        Command::Pause,
        "carol",
        chrono::Utc::now(),
    )
    .await
    .expect("pause");
    assert_eq!(paused.state, "paused");
    let work = rig.work();
    let view = rig
        .wait_for(&run, "every job held", |v| {
            v.jobs
                .iter()
                .all(|j| matches!(j.outcome, Some(Outcome::Held { .. })))
        })
        .await;
    assert!(
        view.jobs
            .iter()
            .all(|j| j.outcome.as_ref().and_then(Outcome::reason)
                == Some("held: run paused by carol"))
    );
    let builds: usize = sim.apps().iter().map(|a| client_builds(sim, &a.guid)).sum();
    assert_eq!(builds, 0, "nothing starts while paused");

    let aborted = rollout::apply(
        rig.ports(),
        &run,
        Command::Abort,
        "dave",
        chrono::Utc::now(),
    )
    .await
    .expect("abort");
    assert_eq!(aborted.skipped, 4);
    let done = rig
        .wait_for(&run, "the aborted run to complete", |v| {
            v.completed_at.is_some()
        })
        .await;
    work.stop().await;
    assert!(done.jobs.iter().all(|j| j.outcome
        == Some(Outcome::Skipped {
            reason: "aborted by dave".into()
        })));
    assert_eq!(
        rig.notifier.completed(),
        vec![run.clone()],
        "completion told once"
    );
    let err = rollout::apply(
        rig.ports(),
        &run,
        Command::Resume,
        "erin",
        chrono::Utc::now(),
    )
    .await;
    assert!(
        err.expect_err("finished")
            .to_string()
            .contains("has finished")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_app_that_crashes_during_its_waves_soak_is_rolled_back_and_counts_against_the_budget() {
    let rig = Rig::start(SimConfig::with_apps(0)).await;
    let sim = rig.sim();
    let dev = sim.add_app(app_in("dev-a", "acme", "dev"));
    let previous = sim
        .app(&dev)
        .and_then(|a| a.current_droplet)
        .expect("droplet");
    let prod = sim.add_app(app_in("prod-a", "acme", "prod"));
    // Healthy through verification (off here), crashing well inside the soak.
    sim.set_fault(FaultRule::app(
        &dev,
        Fault::CrashAfterDeploy {
            after: Duration::from_millis(100),
        },
    ));

    let (plan, _) = rig
        .fan_out(&scope("*/dev*;*", "0", Duration::from_secs(2)))
        .await;
    let work = rig.work();
    let view = rig
        .wait_for(&plan.run_id, "the soak to find the crash", |v| {
            v.jobs
                .iter()
                .any(|j| matches!(j.outcome, Some(Outcome::RolledBack { .. })))
                && is_halted(v)
        })
        .await;
    work.stop().await;
    let job = job_of(&view, &dev);
    let Some(Outcome::RolledBack {
        reason,
        deployment_guid,
    }) = &job.outcome
    else {
        panic!("{job:?}");
    };
    assert!(reason.contains("soak"), "{reason}");
    assert!(reason.contains(&previous), "{reason}");
    let rollback = sim
        .deployments_for(&dev)
        .into_iter()
        .find(|d| &d.guid == deployment_guid)
        .expect("the rollback deployment exists");
    assert_eq!(rollback.droplet, previous);
    assert_eq!(
        client_builds(sim, &prod),
        0,
        "the budget (0) stopped the run before prod"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gate_releases_a_wave_once_however_many_ask_at_once() {
    let rig = Rig::start(SimConfig::with_apps(0)).await;
    let sim = rig.sim();
    let dev = sim.add_app(app_in("dev-a", "acme", "dev"));
    for i in 0..3 {
        sim.add_app(app_in(&format!("prod-{i}"), "acme", "prod"));
    }
    let (plan, _) = rig.fan_out(&scope("*/dev*;*", "1", Duration::ZERO)).await;
    let run = plan.run_id.clone();
    let dev_job = rig
        .queue
        .jobs()
        .into_iter()
        .find(|j| j.app.guid == dev)
        .expect("queued");
    rig.ledger
        .record_outcome(&run, &dev_job.job_id, &Outcome::AlreadyCurrent)
        .await
        .expect("record");
    let queued_before = rig.queue.len();
    let asks: Vec<_> = (0..8)
        .map(|_| rollout::advance(rig.ports(), &run, chrono::Utc::now()))
        .collect();
    let results = futures::future::join_all(asks).await;
    let released = results
        .iter()
        .filter(|r| matches!(r, Ok(rollout::Advance::Released { wave: 1, jobs: 3 })))
        .count();
    assert_eq!(released, 1, "{results:?}");
    assert_eq!(
        rig.queue.len() - queued_before,
        3,
        "each job of wave 2 queued once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_slack_resume_button_resumes_a_halted_run_on_behalf_of_who_clicked() {
    let mut rig = Rig::start(SimConfig::with_apps(0)).await;
    rig.h.settings.max_concurrent_restages = 1;
    let sim = rig.sim();
    let broken = sim.add_app(app_in("broken", "acme", "a"));
    sim.set_fault(FaultRule::app(
        &broken,
        Fault::StagingFails(StagingFailure::NoAppDetected),
    ));
    let later: Vec<String> = (0..2)
        .map(|i| sim.add_app(app_in(&format!("later-{i}"), "acme", &format!("b{i}"))))
        .collect();
    let (plan, _) = rig.fan_out(&scope("", "0", Duration::ZERO)).await;
    let run = plan.run_id.clone();
    let work = rig.work();
    rig.wait_for(&run, "the halt", |v| {
        is_halted(v) && v.jobs.iter().all(|j| j.outcome.is_some())
    })
    .await;

    let actions = restager_shared::slack::SlackActions::new(
        vec![restager_shared::config::Secret::new(SIGNING_SECRET)],
        rig.ledger.clone(),
        rig.queue.clone(),
    )
    .with_run_controls(rig.h.cf.clone(), rig.notifier.clone(), 1);
    let body = click("restager_resume_run", &run, "1700000000.000111");
    let response = actions
        .handle_action(
            &signed_headers(&body, now_secs()),
            &body,
            std::time::SystemTime::now(),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(response.body.contains("resumed by"), "{}", response.body);

    let done = rig
        .wait_for(&run, "the resumed run to finish", |v| {
            v.completed_at.is_some()
        })
        .await;
    work.stop().await;
    for guid in &later {
        let job = done.jobs.iter().find(|j| &j.app.guid == guid).expect("job");
        assert_eq!(
            job.outcome.as_ref().map(Outcome::kind),
            Some(OutcomeKind::Restaged),
            "{job:?}"
        );
    }
    let history = &done.rollout.as_ref().expect("rollout").history;
    let resume = history
        .iter()
        .find(|e| e.what == "resume")
        .expect("resume recorded");
    assert_ne!(
        resume.by, "restager",
        "the Slack user is recorded: {history:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_during_verification_counts_against_the_budget_and_halts_the_run() {
    let mut rig = Rig::start(SimConfig::with_apps(0)).await;
    rig.h.settings.max_concurrent_restages = 1;
    // Long enough that the crash lands inside the window on any machine.
    rig.h.settings.verify_for = Duration::from_secs(3);
    let sim = rig.sim();
    let crashy = sim.add_app(app_in("crashy", "acme", "a"));
    let later = sim.add_app(app_in("later", "acme", "b"));
    sim.set_fault(FaultRule::app(
        &crashy,
        Fault::CrashAfterDeploy {
            after: Duration::from_millis(200),
        },
    ));
    // `later` goes in a second wave, which the halt must keep from starting.
    let (plan, _) = rig.fan_out(&scope("acme/a;*", "0", Duration::ZERO)).await;
    let work = rig.work();
    let view = rig
        .wait_for(&plan.run_id, "the halt after the rollback", is_halted)
        .await;
    work.stop().await;
    let job = job_of(&view, &crashy);
    assert!(
        matches!(job.outcome, Some(Outcome::RolledBack { .. })),
        "{job:?}"
    );
    assert_eq!(view.failures(), 1, "a rollback is a failure for the budget");
    let held = job_of(&view, &later);
    assert_eq!(
        held.outcome, None,
        "its wave stays held in the ledger: {held:?}"
    );
    assert!(
        view.rollout
            .as_ref()
            .is_some_and(|r| r.waves[1].released_at.is_none())
    );
    assert_eq!(client_builds(sim, &later), 0);
}
