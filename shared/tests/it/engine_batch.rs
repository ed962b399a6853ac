//! `Engine::process_batch` against the simulator: the concurrency bound and
//! one-per-space rule as the simulator saw them, duplicate deliveries,
//! resuming after a deadline, poison messages, giving up, FIFO groups.

use std::sync::Arc;
use std::time::Duration;

use cf_sim::{Fault, FaultRule};
use restager_shared::domain::{Outcome, RestageJob};
use restager_shared::engine::{BatchItem, Deadline, Disposition, Engine};
use test_support::engine::*;

fn engine(h: &Harness, ledger: &Arc<FaultyLedger>, notifier: &Arc<RecordingNotifier>) -> Engine {
    h.engine(ledger.clone(), notifier.clone())
        .with_retry_backoff(Duration::from_secs(30), Duration::from_secs(900))
}

fn items(jobs: &[RestageJob], receive_count: u32) -> Vec<BatchItem> {
    jobs.iter()
        .enumerate()
        .map(|(i, j)| BatchItem::from(delivery(&format!("m{i}"), receive_count, j.to_json())))
        .collect()
}

#[tokio::test]
async fn two_hundred_jobs_stay_within_ten_at_once_and_one_per_space() {
    let h = start().await;
    let guids: Vec<String> = (0..200)
        .map(|i| {
            let mut spec = app(&format!("app-{i}"));
            spec.space = format!("space-{}", i % 40);
            spec.instances = 1 + (i % 3) as u32;
            h.sim.add_app(spec)
        })
        .collect();
    let ledger = Arc::new(FaultyLedger::default());
    let notifier = Arc::new(RecordingNotifier::default());
    let jobs = h.planned(&ledger, &guids).await;
    h.sim.reset_peaks();

    let report = engine(&h, &ledger, &notifier)
        .process_batch(items(&jobs, 1), &roomy())
        .await;

    assert_eq!(report.items.len(), 200);
    assert!(
        report.failures().is_empty(),
        "{:?}",
        report
            .items
            .iter()
            .find(|i| i.disposition != Disposition::Complete)
    );
    assert!(
        report
            .items
            .iter()
            .all(|i| matches!(i.outcome, Some(Outcome::Restaged { .. })))
    );
    assert!(
        h.sim.peak_active_restages() <= 10,
        "peak {}",
        h.sim.peak_active_restages()
    );
    assert!(
        h.sim.peak_active_restages() >= 2,
        "jobs did run concurrently"
    );
    assert_eq!(
        h.sim.peak_active_per_space(),
        1,
        "never two restages in one space"
    );
    assert_eq!(build_posts(&h.sim).len(), 200);
    assert_eq!(deployment_posts(&h.sim).len(), 200);
    for g in &guids {
        assert_eq!(h.version_of(g).as_deref(), Some(TARGET));
    }
    assert_eq!(
        notifier.completed().len(),
        1,
        "the run completed exactly once"
    );
    assert_eq!(notifier.finished().len(), 200);
}

#[tokio::test]
async fn the_same_job_delivered_twice_concurrently_restages_once() {
    let h = start().await;
    let guid = h.sim.add_app(app("dup"));
    let ledger = Arc::new(FaultyLedger::default());
    let notifier = Arc::new(RecordingNotifier::default());
    let jobs = h.planned(&ledger, std::slice::from_ref(&guid)).await;
    // Two Lambda containers, each with its own engine, share the ledger.
    let a = engine(&h, &ledger, &notifier);
    let b = engine(&h, &ledger, &notifier);
    let body = jobs[0].to_json();

    let first = vec![BatchItem::from(delivery("m1", 1, body.clone()))];
    let second = vec![BatchItem::from(delivery("m1", 2, body.clone()))];
    let deadline = roomy();
    let (ra, rb) = tokio::join!(
        a.process_batch(first, &deadline),
        b.process_batch(second, &deadline)
    );

    let dispositions = [ra.items[0].disposition, rb.items[0].disposition];
    assert!(
        dispositions.contains(&Disposition::Complete),
        "{dispositions:?}"
    );
    assert_eq!(client_builds(&h.sim, &guid), 1);
    assert_eq!(client_deployments(&h.sim, &guid), 1);
    assert_eq!(build_posts(&h.sim).len(), 1);
    assert_eq!(deployment_posts(&h.sim).len(), 1);

    // Whichever was handed back comes again later: it must not touch CF.
    let before = h.sim.requests().len();
    let again = a
        .process_batch(vec![BatchItem::from(delivery("m1", 3, body))], &deadline)
        .await;
    assert_eq!(again.items[0].disposition, Disposition::Complete);
    assert!(matches!(
        again.items[0].outcome,
        Some(Outcome::Restaged { .. })
    ));
    assert_eq!(
        h.sim.requests().len(),
        before,
        "a finished job is acked without CF calls"
    );
}

#[tokio::test]
async fn the_same_job_delivered_twice_sequentially_restages_once() {
    let h = start().await;
    let guid = h.sim.add_app(app("dup-seq"));
    let ledger = Arc::new(FaultyLedger::default());
    let notifier = Arc::new(RecordingNotifier::default());
    let jobs = h.planned(&ledger, std::slice::from_ref(&guid)).await;
    let e = engine(&h, &ledger, &notifier);

    let first = e.process_batch(items(&jobs, 1), &roomy()).await;
    assert_eq!(first.items[0].disposition, Disposition::Complete);
    let before = h.sim.requests().len();
    let second = e.process_batch(items(&jobs, 1), &roomy()).await;
    assert_eq!(second.items[0].disposition, Disposition::Complete);
    assert_eq!(h.sim.requests().len(), before);
    assert_eq!(client_builds(&h.sim, &guid), 1);
    assert_eq!(client_deployments(&h.sim, &guid), 1);
    assert_eq!(notifier.completed().len(), 1);
}

#[tokio::test]
async fn a_deadline_mid_deployment_hands_back_and_redelivery_finishes_the_same_deployment() {
    let h = start().await;
    let guid = h.sim.add_app(scaled_app("slow", 2));
    let ledger = Arc::new(FaultyLedger::default());
    let notifier = Arc::new(RecordingNotifier::default());
    let jobs = h.planned(&ledger, std::slice::from_ref(&guid)).await;
    let e = engine(&h, &ledger, &notifier);
    h.sim.set_tick(Duration::ZERO);

    let first = e
        .process_batch(
            items(&jobs, 1),
            &Deadline::after(Duration::from_millis(400), margins()),
        )
        .await;
    let Disposition::RetryAfter(delay) = first.items[0].disposition else {
        panic!("expected a hand-back, got {:?}", first.items[0]);
    };
    assert!(delay <= h.settings.poll_interval, "resumes soon: {delay:?}");
    assert!(matches!(
        first.items[0].outcome,
        Some(Outcome::Deferred { .. })
    ));
    assert_eq!(client_deployments(&h.sim, &guid), 1);
    assert!(notifier.completed().is_empty());

    h.sim.set_tick(Duration::from_millis(5));
    let second = e.process_batch(items(&jobs, 2), &roomy()).await;
    assert_eq!(second.items[0].disposition, Disposition::Complete);
    assert!(matches!(
        second.items[0].outcome,
        Some(Outcome::Restaged { .. })
    ));
    assert_eq!(build_posts(&h.sim).len(), 1);
    assert_eq!(deployment_posts(&h.sim).len(), 1, "exactly one deployment");
    assert_eq!(notifier.completed().len(), 1);
}

#[tokio::test]
async fn poison_messages_are_left_for_the_dead_letter_queue_and_never_touch_cf() {
    let h = start().await;
    let ledger = Arc::new(FaultyLedger::default());
    let notifier = Arc::new(RecordingNotifier::default());
    let e = engine(&h, &ledger, &notifier);
    let future_version = r#"{"v":9,"job_id":"x"}"#.to_string();
    let batch = vec![
        BatchItem::from(delivery("junk", 1, "not json".into())),
        BatchItem::from(delivery("future", 2, future_version.clone())),
        BatchItem::from(delivery("old-junk", 4, future_version)),
    ];

    let report = e.process_batch(batch, &roomy()).await;

    assert_eq!(
        report.items[0].disposition,
        Disposition::RetryAfter(Duration::from_secs(900))
    );
    assert_eq!(
        report.items[1].disposition,
        Disposition::RetryAfter(Duration::from_secs(900))
    );
    assert!(
        report.items[1].note.contains("schema v9"),
        "{}",
        report.items[1].note
    );
    // Received more often than max_attempts: no redrive caught it; dropped.
    assert_eq!(report.items[2].disposition, Disposition::Complete);
    assert_eq!(report.failures(), vec!["junk", "future"]);
    assert!(h.sim.requests().is_empty());
    assert_eq!(ledger.recorded().await, 0);
}

#[tokio::test]
async fn retryable_outcomes_back_off_then_give_up_at_max_attempts() {
    let h = start().await;
    let guid = h.faulty_app(app("contended"), Fault::ConcurrentStaging);
    let ledger = Arc::new(FaultyLedger::default());
    let notifier = Arc::new(RecordingNotifier::default());
    let jobs = h.planned(&ledger, std::slice::from_ref(&guid)).await;
    let e = engine(&h, &ledger, &notifier);

    let first = e.process_batch(items(&jobs, 1), &roomy()).await;
    assert_eq!(
        first.items[0].disposition,
        Disposition::RetryAfter(Duration::from_secs(30))
    );
    let second = e.process_batch(items(&jobs, 2), &roomy()).await;
    assert_eq!(
        second.items[0].disposition,
        Disposition::RetryAfter(Duration::from_secs(60))
    );
    assert!(notifier.completed().is_empty());

    let last = e.process_batch(items(&jobs, 3), &roomy()).await;
    assert_eq!(last.items[0].disposition, Disposition::Complete);
    let outcome = ledger.outcome(&jobs[0].job_id).await.expect("recorded");
    assert!(
        matches!(&outcome, Outcome::Failed { permanent: true, reason } if reason.starts_with("gave up after 3 attempts")),
        "{outcome:?}"
    );
    assert_eq!(notifier.completed().len(), 1, "the run completes");
    assert_eq!(client_builds(&h.sim, &guid), 0);
    assert!(deployment_posts(&h.sim).is_empty());
}

#[tokio::test]
async fn a_failed_fifo_message_holds_back_the_rest_of_its_group() {
    let h = start().await;
    let blocked = h.sim.add_app(app("first-in-group"));
    let mut later_spec = app("later-in-group");
    later_spec.space = "other-space".into();
    let later = h.sim.add_app(later_spec);
    let mut free_spec = app("other-group");
    free_spec.space = "third-space".into();
    let free = h.sim.add_app(free_spec);
    h.sim
        .set_fault(FaultRule::app(&blocked, Fault::ConcurrentStaging));
    let ledger = Arc::new(FaultyLedger::default());
    let notifier = Arc::new(RecordingNotifier::default());
    let jobs = h
        .planned(&ledger, &[blocked.clone(), later.clone(), free.clone()])
        .await;
    let e = engine(&h, &ledger, &notifier);
    let mut batch = items(&jobs, 1);
    batch[0].group = Some("g1".into());
    batch[1].group = Some("g1".into());
    batch[2].group = Some("g2".into());

    let report = e.process_batch(batch, &roomy()).await;

    assert!(matches!(
        report.items[0].disposition,
        Disposition::RetryAfter(_)
    ));
    assert!(matches!(
        report.items[1].disposition,
        Disposition::RetryAfter(_)
    ));
    assert!(
        report.items[1].outcome.is_none(),
        "not processed out of order"
    );
    assert_eq!(report.items[2].disposition, Disposition::Complete);
    assert_eq!(report.failures(), vec!["m0", "m1"]);
    assert!(h.sim.requests().iter().all(|r| !r.path.contains(&later) && !r.query.as_deref().unwrap_or("").contains(&later)));
    assert_eq!(client_deployments(&h.sim, &free), 1);
}
