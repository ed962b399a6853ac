//! The local runner's loop: pulls jobs, restages them against the
//! simulator, completes or hands back each delivery, and stops on shutdown.

use std::sync::Arc;
use std::time::Duration;

use restager_shared::engine::Engine;
use restager_shared::engine::runner::{RunnerOptions, RunnerStats, run};
use restager_shared::ledger::Ledger;
use test_support::engine::*;
use tokio::sync::watch;

/// Runs `engine` over `queue` until `done` holds, then signals shutdown; the
/// runner must stop `within` that, or the test fails saying `what`.
async fn run_until(
    engine: &Engine,
    queue: &RecordingSource,
    options: RunnerOptions,
    within: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> RunnerStats {
    let (stop, stopped) = watch::channel(false);
    let trigger = async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send_replace(true);
    };
    let (stats, ()) = tokio::time::timeout(within, async {
        tokio::join!(run(engine, queue, stopped, options), trigger)
    })
    .await
    .expect(what);
    stats
}

#[tokio::test]
async fn the_runner_restages_what_it_pulls_and_stops_on_shutdown() {
    let h = start().await;
    let guids: Vec<String> = (0..4)
        .map(|i| {
            let mut spec = app(&format!("local-{i}"));
            spec.space = format!("s{}", i % 2);
            h.sim.add_app(spec)
        })
        .collect();
    let ledger = Arc::new(FaultyLedger::default());
    let jobs = h.planned(&ledger, &guids).await;
    let queue = Arc::new(RecordingSource::default());
    for (i, j) in jobs.iter().enumerate() {
        queue.push(delivery(&format!("m{i}"), 1, j.to_json()));
    }
    queue.push(delivery("junk", 1, "nope".into()));
    let engine = h.engine(ledger, Arc::new(RecordingNotifier::default()));
    let options = RunnerOptions {
        receive_wait: Duration::from_millis(10),
        error_pause: Duration::from_millis(10),
    };

    let stats = run_until(
        &engine,
        &queue,
        options,
        Duration::from_secs(20),
        "the runner stops on shutdown",
        || queue.completed().len() >= 4,
    )
    .await;

    assert_eq!(stats.completed, 4);
    assert_eq!(stats.retried, 1, "the poison message is handed back");
    assert_eq!(queue.retried()[0].0.message_id, "junk");
    for g in &guids {
        assert_eq!(client_deployments(&h.sim, g), 1);
        assert_eq!(h.version_of(g).as_deref(), Some(TARGET));
    }
}

#[tokio::test]
async fn shutdown_mid_restage_hands_the_job_back_for_resumption() {
    let h = start().await;
    let guid = h.sim.add_app(app("interrupted"));
    let ledger = Arc::new(FaultyLedger::default());
    let jobs = h.planned(&ledger, std::slice::from_ref(&guid)).await;
    let queue = Arc::new(RecordingSource::default());
    queue.push(delivery("m0", 1, jobs[0].to_json()));
    h.sim.set_tick(Duration::ZERO); // the deployment stays ACTIVE
    let engine = h.engine(ledger, Arc::new(RecordingNotifier::default()));
    let stats = run_until(
        &engine,
        &queue,
        RunnerOptions::default(),
        Duration::from_secs(10),
        "shutdown is prompt",
        || client_deployments(&h.sim, &guid) > 0,
    )
    .await;

    assert_eq!(stats.retried, 1);
    assert_eq!(stats.completed, 0);
    let deployments = h.sim.deployments_for(&guid);
    assert_eq!(deployments.len(), 1);
    assert_eq!(
        deployments[0].status_value, "ACTIVE",
        "left running, resumable by label"
    );
}

/// A SIGTERM hand-back is not an attempt: a job on its last allowed receive
/// that is interrupted by shutdown goes back on the queue (not failed, not
/// recorded, not announced), and the next start's delivery, whose receive
/// count is past the limit, still restages it.
#[tokio::test]
async fn a_shutdown_hand_back_is_not_counted_as_an_attempt() {
    let h = start().await;
    let guid = h.sim.add_app(app("interrupted-at-the-limit"));
    let ledger = Arc::new(FaultyLedger::default());
    let jobs = h.planned(&ledger, std::slice::from_ref(&guid)).await;
    let limit = h.settings.max_attempts;
    let queue = Arc::new(RecordingSource::default());
    queue.push(delivery("m0", limit, jobs[0].to_json()));
    h.sim.set_tick(Duration::ZERO); // the deployment stays ACTIVE until the restart
    let notifier = Arc::new(RecordingNotifier::default());
    let engine = h.engine(ledger.clone(), notifier.clone());
    let stats = run_until(
        &engine,
        &queue,
        RunnerOptions::default(),
        Duration::from_secs(30),
        "shutdown is prompt",
        || client_deployments(&h.sim, &guid) > 0,
    )
    .await;
    assert_eq!((stats.retried, stats.completed), (1, 0));
    assert_eq!(
        queue
            .retried()
            .into_iter()
            .map(|(d, delay)| (d.message_id, delay))
            .collect::<Vec<_>>(),
        vec![("m0".to_string(), Duration::ZERO)],
        "handed back for the next start at once"
    );
    let view = ledger
        .get_run(&jobs[0].run_id)
        .await
        .expect("ledger")
        .expect("run");
    assert_eq!(view.jobs[0].attempts, 0, "{view:?}");
    assert_eq!(view.jobs[0].outcome, None, "nothing recorded: {view:?}");
    assert!(notifier.finished().is_empty(), "{:?}", notifier.finished());

    // The restart: receive count now past the limit, yet no attempt failed.
    queue.push(delivery("m0", limit + 1, jobs[0].to_json()));
    let engine = h.engine(ledger.clone(), notifier.clone());
    run_until(
        &engine,
        &queue,
        RunnerOptions::default(),
        Duration::from_secs(60),
        "the resumed job finishes",
        || {
            h.sim.tick(); // the updater moves the resumed deployment on
            !queue.completed().is_empty()
        },
    )
    .await;
    let view = ledger
        .get_run(&jobs[0].run_id)
        .await
        .expect("ledger")
        .expect("run");
    assert!(
        matches!(
            view.jobs[0].outcome,
            Some(restager_shared::domain::Outcome::Restaged { .. })
        ),
        "{view:?}"
    );
    assert_eq!(client_deployments(&h.sim, &guid), 1, "resumed, not redone");
}
