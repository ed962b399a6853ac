//! The local runner's loop: pulls jobs, restages them against the
//! simulator, completes or hands back each delivery, and stops on shutdown.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use restager_shared::domain::Action;
use restager_shared::engine::Engine;
use restager_shared::engine::runner::{RunnerOptions, run};
use restager_shared::ledger::Ledger;
use restager_shared::queue::{Delivery, JobSource, QueueError};
use test_support::engine::*;
use tokio::sync::watch;

/// A queue of ready deliveries that remembers how each was settled.
#[derive(Default)]
struct Queue {
    ready: Mutex<VecDeque<Delivery>>,
    completed: Mutex<Vec<String>>,
    retried: Mutex<Vec<(String, Duration)>>,
}

#[async_trait]
impl JobSource for Queue {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let batch: Vec<Delivery> = {
            let mut ready = self.ready.lock().expect("lock");
            let n = max.min(ready.len());
            ready.drain(..n).collect()
        };
        if batch.is_empty() {
            tokio::time::sleep(wait).await;
        }
        Ok(batch)
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.completed
            .lock()
            .expect("lock")
            .push(delivery.message_id.clone());
        Ok(())
    }

    async fn retry_later(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        self.retried
            .lock()
            .expect("lock")
            .push((delivery.message_id.clone(), delay));
        Ok(())
    }
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
    let jobs: Vec<_> = guids
        .iter()
        .map(|g| job_for(&h.sim, g, Action::Restage))
        .collect();
    let ledger = Arc::new(FaultyLedger::default());
    ledger
        .put_run(&run_record(&jobs))
        .await
        .expect("run stored");
    let queue = Arc::new(Queue::default());
    for (i, j) in jobs.iter().enumerate() {
        queue
            .ready
            .lock()
            .expect("lock")
            .push_back(delivery(&format!("m{i}"), 1, j.to_json()));
    }
    queue
        .ready
        .lock()
        .expect("lock")
        .push_back(delivery("junk", 1, "nope".into()));
    let engine = Engine::new(
        h.cf.clone(),
        h.settings.clone(),
        ledger,
        Arc::new(RecordingNotifier::default()),
    )
    .with_margins(margins());
    let (stop, stopped) = watch::channel(false);
    let options = RunnerOptions {
        receive_wait: Duration::from_millis(10),
        error_pause: Duration::from_millis(10),
    };

    let runner = {
        let queue = queue.clone();
        async move { run(&engine, queue.as_ref(), stopped, options).await }
    };
    let watcher = async {
        while queue.completed.lock().expect("lock").len() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send_replace(true);
    };
    let (stats, ()) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(runner, watcher)
    })
    .await
    .expect("the runner stops on shutdown");

    assert_eq!(stats.completed, 4);
    assert_eq!(stats.retried, 1, "the poison message is handed back");
    assert_eq!(queue.retried.lock().expect("lock")[0].0, "junk");
    for g in &guids {
        assert_eq!(client_deployments(&h.sim, g), 1);
        assert_eq!(
            h.sim.app(g).expect("app").current_version(BUILDPACK),
            Some(TARGET)
        );
    }
}

#[tokio::test]
async fn shutdown_mid_restage_hands_the_job_back_for_resumption() {
    let h = start().await;
    let guid = h.sim.add_app(app("interrupted"));
    let jobs = vec![job_for(&h.sim, &guid, Action::Restage)];
    let ledger = Arc::new(FaultyLedger::default());
    ledger
        .put_run(&run_record(&jobs))
        .await
        .expect("run stored");
    let queue = Arc::new(Queue::default());
    queue
        .ready
        .lock()
        .expect("lock")
        .push_back(delivery("m0", 1, jobs[0].to_json()));
    h.sim.set_tick(Duration::ZERO); // the deployment stays ACTIVE
    let engine = Engine::new(
        h.cf.clone(),
        h.settings.clone(),
        ledger,
        Arc::new(RecordingNotifier::default()),
    )
    .with_margins(margins());
    let (stop, stopped) = watch::channel(false);

    let runner = {
        let queue = queue.clone();
        async move { run(&engine, queue.as_ref(), stopped, RunnerOptions::default()).await }
    };
    let trigger = async {
        while client_deployments(&h.sim, &guid) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send_replace(true);
    };
    let (stats, ()) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(runner, trigger)
    })
    .await
    .expect("shutdown is prompt");

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
    let jobs = vec![job_for(&h.sim, &guid, Action::Restage)];
    let ledger = Arc::new(FaultyLedger::default());
    ledger
        .put_run(&run_record(&jobs))
        .await
        .expect("run stored");
    let limit = h.settings.max_attempts;
    let queue = Arc::new(Queue::default());
    queue
        .ready
        .lock()
        .expect("lock")
        .push_back(delivery("m0", limit, jobs[0].to_json()));
    h.sim.set_tick(Duration::ZERO); // the deployment stays ACTIVE until the restart
    let notifier = Arc::new(RecordingNotifier::default());
    let engine = Engine::new(
        h.cf.clone(),
        h.settings.clone(),
        ledger.clone(),
        notifier.clone(),
    )
    .with_margins(margins());
    let (stop, stopped) = watch::channel(false);
    let runner = {
        let queue = queue.clone();
        async move { run(&engine, queue.as_ref(), stopped, RunnerOptions::default()).await }
    };
    let trigger = async {
        while client_deployments(&h.sim, &guid) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send_replace(true);
    };
    let (stats, ()) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(runner, trigger)
    })
    .await
    .expect("shutdown is prompt");
    assert_eq!((stats.retried, stats.completed), (1, 0));
    assert_eq!(
        queue.retried.lock().expect("lock").clone(),
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
    queue
        .ready
        .lock()
        .expect("lock")
        .push_back(delivery("m0", limit + 1, jobs[0].to_json()));
    let engine = Engine::new(
        h.cf.clone(),
        h.settings.clone(),
        ledger.clone(),
        notifier.clone(),
    )
    .with_margins(margins());
    let (stop, stopped) = watch::channel(false);
    let runner = {
        let queue = queue.clone();
        async move { run(&engine, queue.as_ref(), stopped, RunnerOptions::default()).await }
    };
    let trigger = async {
        while queue.completed.lock().expect("lock").is_empty() {
            h.sim.tick(); // the updater moves the resumed deployment on
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send_replace(true);
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(runner, trigger)
    })
    .await
    .expect("the resumed job finishes");
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
