//! Maintenance windows on the simulator with a simulated clock: the test
//! says what time it is ("it is 10:00", "it is 02:00") and restager plans,
//! holds, releases and restages by that clock, while the simulator does
//! the real Cloud Controller work. Nothing here waits for a time of day.

use std::sync::Arc;
use std::time::Duration;

use cf_sim::SimConfig;
use restager_shared::config::{ScopeSettings, WindowSettings};
use restager_shared::domain::{Outcome, OutcomeKind};
use restager_shared::engine::{BatchItem, Disposition, Engine};
use restager_shared::ledger::Ledger;
use restager_shared::rollout;
use restager_shared::slack::messages::{Tally, summary_message};
use restager_shared::window::Windows;
use test_support::engine::{app, client_builds, client_deployments, delivery, margins, roomy};
use test_support::rollout::{Rig, at, scope};

/// Prod windows: every night 02:00-06:00 in Berlin.
const NIGHTLY: &str = "Mon-Sun 02:00-06:00 Europe/Berlin";

fn app_in(name: &str, org: &str, space: &str) -> cf_sim::AppSpec {
    let mut spec = app(name);
    spec.org = org.into();
    spec.space = space.into();
    spec
}

fn windowed(waves: &str, window: &str, min_release_age: Duration) -> ScopeSettings {
    ScopeSettings {
        windows: WindowSettings {
            windows: Windows::parse(window).expect("window"),
            cutoff: Duration::from_secs(30 * 60),
            min_release_age,
        },
        ..scope(waves, "2", Duration::ZERO)
    }
}

fn outcome_of<'a>(view: &'a restager_shared::ledger::RunView, guid: &str) -> Option<&'a Outcome> {
    view.jobs
        .iter()
        .find(|j| j.app.guid == guid)
        .and_then(|j| j.outcome.as_ref())
}

/// Fri 3 Dec 2021 10:00 in Berlin (CET, UTC+1): dev goes at once, prod is
/// held for the night's window and announced; an owner restages one prod
/// app at 01:00; at 02:00 four ticks at once release the held jobs once,
/// and the owner's app is "done by owner".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dev_goes_at_once_prod_waits_for_its_window_and_an_owners_restage_is_done_by_owner() {
    let rig = Rig::start(SimConfig::with_apps(0)).await;
    let sim = rig.sim();
    let dev = sim.add_app(app_in("dev-a", "acme", "dev"));
    let lab = sim.add_app(app_in("lab-a", "labs", "anything"));
    let prod = sim.add_app(app_in("prod-a", "acme", "prod"));
    let owned = sim.add_app(app_in("prod-b", "acme", "prod"));
    // A space annotation, and an org annotation that applies to its spaces.
    assert!(sim.set_space_annotation("acme", "dev", "restager.io/window", "always"));
    assert!(sim.set_org_annotation("labs", "restager.io/window", "always"));
    rig.clock.set(at("2021-12-03T09:00:00Z"));

    // Waves: dev first, the rest after. The window orders within them.
    let (plan, fanned) = rig
        .fan_out(&windowed("*/dev*;*", NIGHTLY, Duration::ZERO))
        .await;
    let run = plan.run_id.clone();
    let window_of = |guid: &str| {
        plan.jobs
            .iter()
            .find(|j| j.app.guid == guid)
            .and_then(|j| j.window.clone())
    };
    assert_eq!(window_of(&dev), None, "dev: at any time");
    assert_eq!(window_of(&lab), None, "the org's annotation");
    assert_eq!(window_of(&prod).as_deref(), Some(NIGHTLY));

    // The advance notice, at plan time: the prod apps, when, in Berlin's time.
    let advance = rig.notifier.advance();
    assert_eq!(advance.len(), 1, "one advance notice per run");
    let mut listed: Vec<(&str, &str)> = advance[0]
        .1
        .iter()
        .map(|u| (u.app.name.as_str(), u.when.as_str()))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("prod-a", "Sat 4 Dec 02:00 CET (Europe/Berlin)"),
            ("prod-b", "Sat 4 Dec 02:00 CET (Europe/Berlin)"),
        ]
    );
    assert_eq!(
        (fanned.queued, fanned.held),
        (1, 3),
        "the dev wave goes; the rest waits for it"
    );

    // 10:00: dev restages; the prod wave is released by the gate and held.
    let work = rig.work();
    let view = rig
        .wait_for(&run, "dev restaged and prod held", |v| {
            [&dev, &lab]
                .iter()
                .all(|g| outcome_of(v, g).map(Outcome::kind) == Some(OutcomeKind::Restaged))
                && [&prod, &owned]
                    .iter()
                    .all(|g| matches!(outcome_of(v, g), Some(Outcome::Held { .. })))
        })
        .await;
    work.stop().await;
    let held = outcome_of(&view, &prod).cloned();
    assert_eq!(
        held,
        Some(Outcome::Held {
            reason: "held: waits for its maintenance window, Sat 4 Dec 02:00 CET (Europe/Berlin)"
                .into(),
            until: Some(at("2021-12-04T01:00:00Z")),
        })
    );
    assert_eq!(
        client_builds(sim, &prod),
        0,
        "nothing of prod started at 10:00"
    );
    assert_eq!(client_builds(sim, &owned), 0);

    // 01:00: the owner restages prod-b themselves; the window is still shut.
    rig.clock.set(at("2021-12-04T00:00:00Z"));
    sim.human_push(&owned).expect("the owner's push");
    let early = rollout::tick(rig.ports(), rig.clock.now())
        .await
        .expect("tick");
    assert!(early.unheld.is_empty(), "{early:?}");

    // 02:00: four ticks at once; one releases the two held jobs.
    rig.clock.set(at("2021-12-04T01:00:00Z"));
    let queued_before = rig.queue.len();
    let ticks: Vec<_> = (0..4)
        .map(|_| rollout::tick(rig.ports(), rig.clock.now()))
        .collect();
    let reports = futures::future::join_all(ticks).await;
    let released: Vec<usize> = reports
        .iter()
        .map(|r| r.as_ref().expect("tick"))
        .flat_map(|r| r.unheld.iter().map(|(_, n)| *n))
        .collect();
    assert_eq!(released, vec![2], "released by one tick: {reports:?}");
    assert_eq!(
        rig.queue.len() - queued_before,
        2,
        "each held job queued once"
    );

    let work = rig.work();
    let view = rig
        .wait_for(&run, "the run to complete", |v| v.completed_at.is_some())
        .await;
    work.stop().await;
    assert_eq!(
        outcome_of(&view, &prod).map(Outcome::kind),
        Some(OutcomeKind::Restaged)
    );
    assert!(
        outcome_of(&view, &owned).is_some_and(Outcome::is_done_by_owner),
        "{:?}",
        outcome_of(&view, &owned)
    );
    assert_eq!(client_builds(sim, &prod), 1, "restaged exactly once");
    assert_eq!(client_deployments(sim, &prod), 1);
    assert_eq!(client_builds(sim, &owned), 0, "the owner's app untouched");
    let tally = Tally::of(&view);
    assert_eq!(
        (tally.restaged, tally.already_current, tally.done_by_owner),
        (3, 1, 1)
    );
    let summary = summary_message(&view, rig.clock.now());
    assert!(
        summary.text.contains("1 already current (1 done by owner)"),
        "{}",
        summary.text
    );
    let history = &view.rollout.as_ref().expect("rollout").history;
    assert_eq!(
        history
            .iter()
            .filter(|e| e.what.starts_with("queued 2 held job(s)"))
            .count(),
        1,
        "{history:?}"
    );
}

/// A job delivered after its window's cutoff (05:40, the cutoff 30 minutes
/// before 06:00) is held for the next night, not started.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_delivered_past_the_cutoff_waits_for_the_next_window() {
    let rig = Rig::start(SimConfig::with_apps(0)).await;
    let prod = rig.sim().add_app(app_in("prod-late", "acme", "prod"));
    // 03:00 in Berlin: open, so the job is queued.
    rig.clock.set(at("2021-12-04T02:00:00Z"));
    let (plan, fanned) = rig.fan_out(&windowed("", NIGHTLY, Duration::ZERO)).await;
    assert_eq!(fanned.queued, 1);
    // Delivered only at 05:40.
    rig.clock.set(at("2021-12-04T04:40:00Z"));
    let work = rig.work();
    let view = rig
        .wait_for(&plan.run_id, "the late job held", |v| {
            matches!(outcome_of(v, &prod), Some(Outcome::Held { .. }))
        })
        .await;
    work.stop().await;
    let Some(Outcome::Held { until, reason }) = outcome_of(&view, &prod) else {
        panic!("held");
    };
    assert_eq!(*until, Some(at("2021-12-05T01:00:00Z")), "{reason}");
    assert_eq!(client_builds(rig.sim(), &prod), 0);
}

/// A release younger than RESTAGER_MIN_RELEASE_AGE is planned and announced
/// at once and acted on only when it is that old.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_young_release_is_announced_at_once_and_restaged_once_it_is_old_enough() {
    let rig = Rig::start(SimConfig::with_apps(0)).await;
    let guid = rig.sim().add_app(app_in("shop", "acme", "prod"));
    let published = at("2021-12-03T08:00:00Z");
    rig.clock.set(at("2021-12-03T09:00:00Z"));
    let (plan, fanned) = rig
        .fan_out_released(
            &windowed("", "always", Duration::from_secs(3 * 24 * 3600)),
            Some(published),
        )
        .await;
    assert_eq!((fanned.queued, fanned.held), (0, 1));
    let advance = rig.notifier.advance();
    assert_eq!(advance[0].1[0].at, at("2021-12-06T08:00:00Z"));
    let view = rig.view(&plan.run_id).await;
    assert_eq!(view.record.released_at, Some(published));

    // A day later: still young.
    rig.clock.set(at("2021-12-04T09:00:00Z"));
    let report = rollout::tick(rig.ports(), rig.clock.now())
        .await
        .expect("tick");
    assert!(report.unheld.is_empty());
    rig.clock.set(at("2021-12-06T08:00:00Z"));
    let report = rollout::tick(rig.ports(), rig.clock.now())
        .await
        .expect("tick");
    assert_eq!(report.unheld.len(), 1);
    let work = rig.work();
    let view = rig
        .wait_for(&plan.run_id, "the restage", |v| v.completed_at.is_some())
        .await;
    work.stop().await;
    assert_eq!(
        outcome_of(&view, &guid).map(Outcome::kind),
        Some(OutcomeKind::Restaged)
    );
    assert!(
        rig.ledger
            .get_run(&plan.run_id)
            .await
            .expect("ledger")
            .is_some()
    );
}

/// The worker's side of the gate, one delivery at a time: a window opening
/// within a minute keeps the delivery on the queue for just that long, and
/// a window the job carries that does not read is never taken for "any time".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_waits_on_the_queue_for_an_opening_within_a_minute_and_refuses_an_unreadable_window()
 {
    let rig = Rig::start(SimConfig::with_apps(0)).await;
    let guid = rig.sim().add_app(app_in("prod-soon", "acme", "prod"));
    // 01:59:30 in Berlin: the window opens in 30 seconds, so the job is queued.
    rig.clock.set(at("2021-12-04T00:59:30Z"));
    let (_, fanned) = rig.fan_out(&windowed("", NIGHTLY, Duration::ZERO)).await;
    assert_eq!(fanned.queued, 1);
    let job = rig.queue.jobs().pop().expect("queued");
    let engine = Engine::new(
        rig.h.cf.clone(),
        rig.h.settings.clone(),
        rig.ledger.clone(),
        rig.notifier.clone(),
    )
    .with_margins(margins())
    .with_clock(rig.clock.clock());

    let report = engine
        .process_batch(
            vec![BatchItem::from(delivery("m1", 1, job.to_json()))],
            &roomy(),
        )
        .await;
    assert_eq!(
        report.items[0].disposition,
        Disposition::RetryAfter(Duration::from_secs(30))
    );
    assert_eq!(
        report.items[0].outcome, None,
        "nothing attempted, nothing held"
    );
    assert_eq!(client_builds(rig.sim(), &guid), 0);

    let mut garbled = job.clone();
    garbled.window = Some("Sat 02:00-06:00 Mars/Olympus".into());
    let report = engine
        .process_batch(
            vec![BatchItem::from(delivery("m2", 1, garbled.to_json()))],
            &roomy(),
        )
        .await;
    let Some(Outcome::Skipped { reason }) = &report.items[0].outcome else {
        panic!("{:?}", report.items[0]);
    };
    assert!(
        reason.contains("maintenance window cannot be read"),
        "{reason}"
    );
    assert!(reason.contains("Mars/Olympus"), "{reason}");
    assert_eq!(client_builds(rig.sim(), &guid), 0);
}

/// Annotations as the listing's `include` presents them: an org's apply to
/// its spaces; a window that does not read skips its apps with why (the
/// rest of the run goes on); a channel that is no channel id is a note.
#[tokio::test]
async fn a_bad_annotation_skips_its_apps_with_why_and_an_orgs_applies_to_its_spaces() {
    let rig = Rig::start(SimConfig::with_apps(0)).await;
    let sim = rig.sim();
    let bad = sim.add_app(app_in("bad-a", "acme", "weird"));
    let fine = sim.add_app(app_in("fine-a", "acme", "prod"));
    let org_wide = sim.add_app(app_in("org-a", "beta", "web"));
    assert!(sim.set_space_annotation("acme", "weird", "restager.io/window", "weekends"));
    assert!(sim.set_space_annotation("acme", "prod", "restager.io/slack-channel", "#prod"));
    assert!(sim.set_org_annotation("beta", "restager.io/window", "Sat 02:00-06:00 UTC"));
    assert!(sim.set_org_annotation("beta", "restager.io/slack-channel", "C0BETA00001"));

    let plan = restager_shared::discovery::plan(
        &rig.h.cf,
        &test_support::engine::notice(),
        restager_shared::domain::Action::Restage,
        &windowed("", "always", Duration::ZERO),
    )
    .await
    .expect("a bad annotation never fails the plan");

    let skipped = plan
        .skipped
        .iter()
        .find(|s| s.app.guid == bad)
        .expect("skipped");
    assert!(
        skipped.reason.starts_with(
            "the space annotation restager.io/window is not valid: `weekends` is not a window"
        ),
        "{}",
        skipped.reason
    );
    assert!(skipped.reason.contains("acme/weird"), "{}", skipped.reason);
    let job = |guid: &str| {
        plan.jobs
            .iter()
            .find(|j| j.app.guid == guid)
            .expect("planned")
    };
    assert_eq!(
        (
            job(&fine).window.as_deref(),
            job(&fine).slack_channel.as_deref()
        ),
        (None, None)
    );
    assert_eq!(
        (
            job(&org_wide).window.as_deref(),
            job(&org_wide).slack_channel.as_deref()
        ),
        (Some("Sat 02:00-06:00 UTC"), Some("C0BETA00001"))
    );
    assert!(
        plan.notes.iter().any(|n| n.starts_with(
            "space acme/prod has restager.io/slack-channel=`#prod`, which is not a Slack channel id"
        )),
        "{:?}",
        plan.notes
    );
}

/// The notice route keeps a notice's `released_at`: the run records it and,
/// with RESTAGER_MIN_RELEASE_AGE, holds every job until the release is that
/// old, which the 202 answer says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notice_routes_released_at_holds_a_young_release_until_it_is_old_enough() {
    use restager_shared::config::{IntakeSettings, Secret};
    use restager_shared::signature::standard_webhooks;
    use restager_shared::webhook::{Router, RouterDeps};

    const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let rig = Rig::start(SimConfig::with_apps(0)).await;
    rig.sim().add_app(app_in("shop", "acme", "prod"));
    let received = at("2021-12-03T09:00:00Z");
    let router = Router::new(RouterDeps {
        intake: IntakeSettings {
            notice_secrets: vec![Secret::new(SECRET)],
            scope: windowed("", "always", Duration::from_secs(3 * 24 * 3600)),
            ..IntakeSettings::default()
        },
        cf: rig.h.cf.clone(),
        queue: rig.queue.clone(),
        ledger: rig.ledger.clone(),
        notifier: rig.notifier.clone(),
        slack_actions: None,
    })
    .with_clock(Arc::new(move || std::time::SystemTime::from(received)));
    let body = format!(
        r#"{{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"{}","released_at":"2021-12-03T08:00:00Z"}}"#,
        test_support::engine::TARGET
    )
    .into_bytes();
    let headers = standard_webhooks::signed_headers(
        &[Secret::new(SECRET)],
        "msg_1",
        received.timestamp(),
        &body,
    )
    .expect("sign");
    let mut request =
        http::Request::post("/webhooks/notice").header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = router
        .handle(request.body(bytes::Bytes::from(body)).expect("request"))
        .await;
    let answer: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
    assert_eq!(response.status(), 202, "{answer}");
    assert_eq!(
        (answer["queued"].as_u64(), answer["held"].as_u64()),
        (Some(0), Some(1)),
        "{answer}"
    );
    let run =
        restager_shared::domain::RunId::for_release(&test_support::engine::notice().release_key());
    let view = rig.view(&run).await;
    assert_eq!(view.record.released_at, Some(at("2021-12-03T08:00:00Z")));
    assert_eq!(
        view.rollout.expect("rollout").not_before,
        Some(at("2021-12-06T08:00:00Z")),
        "three days after the release, not after the notice"
    );
    assert!(rig.queue.is_empty());
}
