//! The queue's behaviour, written once and run against every adapter
//! (`queue_memory`, `queue_embedded`, `queue_sqs` on moto's FIFO queue), as
//! the ledger's suite is. Each function gets a fresh, empty queue seen
//! through both ports.

use std::collections::BTreeSet;
use std::time::Duration;

use restager_shared::domain::{Action, AppRef, Notice, RestageJob, RunId, Version};
use restager_shared::queue::{Delivery, JobQueue, JobSource};

/// `n` jobs, each in a space of its own (a FIFO queue holds back a group's
/// later messages while one is in flight).
pub fn jobs(tag: &str, n: usize) -> Vec<RestageJob> {
    let notice = Notice::Stack {
        stack: "cflinuxfs4".into(),
        version: Version::parse("1.323.0").expect("version"),
    };
    let run = RunId::for_release(&format!("{}:{tag}", notice.release_key()));
    jobs_of(&run, &notice, n, None, |i| {
        (format!("{tag}-app-{i}"), format!("{tag}-space-{i}"))
    })
}

/// `n` jobs of `run`, app `i` named `app-{i}` with droplet `droplet-{i}` in a
/// `prod` space of `acme`. `guids(i)` gives app `i`'s app and space guids (the
/// space guid is a FIFO queue's message group); `target` is the buildpack and
/// version every job restages to.
pub fn jobs_of(
    run: &RunId,
    notice: &Notice,
    n: usize,
    target: Option<(&str, &Version)>,
    guids: impl Fn(usize) -> (String, String),
) -> Vec<RestageJob> {
    (0..n)
        .map(|i| {
            let (guid, space_guid) = guids(i);
            RestageJob::new(
                run,
                notice.clone(),
                Action::Restage,
                AppRef {
                    guid,
                    name: format!("app-{i}"),
                    space_guid,
                    space_name: "prod".into(),
                    org_guid: "org".into(),
                    org_name: "acme".into(),
                },
                format!("droplet-{i}"),
                target.map(|(buildpack, _)| buildpack.to_string()),
                target.map(|(_, version)| version.clone()),
            )
        })
        .collect()
}

/// Receives until `n` deliveries arrived or the queue stays empty for a
/// few seconds.
async fn receive_n(source: &dyn JobSource, n: usize) -> Vec<Delivery> {
    let mut got = Vec::new();
    let mut empty_polls = 0;
    while got.len() < n && empty_polls < 8 {
        let batch = source
            .receive(10, Duration::from_secs(1))
            .await
            .expect("receive");
        if batch.is_empty() {
            empty_polls += 1;
        }
        got.extend(batch);
    }
    got
}

/// Nothing is visible right now (all in flight, delayed, or gone).
pub async fn none_visible(source: &dyn JobSource) -> bool {
    source
        .receive(1, Duration::ZERO)
        .await
        .expect("receive")
        .is_empty()
}

fn job_ids(deliveries: &[Delivery]) -> BTreeSet<String> {
    deliveries
        .iter()
        .map(|d| {
            RestageJob::from_json(&d.body)
                .expect("the body is the job as sent")
                .job_id
                .to_string()
        })
        .collect()
}

pub async fn enqueued_jobs_arrive_once_as_sent(queue: &dyn JobQueue, source: &dyn JobSource) {
    let sent = jobs("once", 3);
    queue.enqueue(&sent).await.expect("enqueue");
    let got = receive_n(source, 3).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let want: BTreeSet<String> = sent.iter().map(|j| j.job_id.to_string()).collect();
    assert_eq!(job_ids(&got), want);
    assert!(got.iter().all(|d| d.receive_count == 1), "{got:?}");
    for d in &got {
        source.complete(d).await.expect("complete");
    }
    let after = source
        .receive(10, Duration::from_millis(500))
        .await
        .expect("receive");
    assert!(
        after.is_empty(),
        "completed jobs never come back: {after:?}"
    );
}

pub async fn the_same_job_enqueued_twice_arrives_once(
    queue: &dyn JobQueue,
    source: &dyn JobSource,
) {
    let sent = jobs("twice", 1);
    queue.enqueue(&sent).await.expect("enqueue");
    queue.enqueue(&sent).await.expect("enqueue again");
    let got = receive_n(source, 2).await;
    assert_eq!(got.len(), 1, "the job id deduplicates: {got:?}");
    source.complete(&got[0]).await.expect("complete");
}

pub async fn a_handed_back_job_returns_after_its_delay(
    queue: &dyn JobQueue,
    source: &dyn JobSource,
) {
    let sent = jobs("later", 1);
    queue.enqueue(&sent).await.expect("enqueue");
    let first = receive_n(source, 1).await;
    assert_eq!(first.len(), 1, "{first:?}");
    source
        .retry_later(&first[0], Duration::from_secs(2))
        .await
        .expect("retry_later");
    let hidden = source.receive(10, Duration::ZERO).await.expect("receive");
    assert!(hidden.is_empty(), "hidden during its delay: {hidden:?}");
    let again = receive_n(source, 1).await;
    assert_eq!(again.len(), 1, "redelivered after its delay");
    assert_eq!(job_ids(&again), job_ids(&first));
    assert_eq!(again[0].receive_count, 2, "{again:?}");
    source.complete(&again[0]).await.expect("complete");
}

pub async fn receive_returns_at_most_max(queue: &dyn JobQueue, source: &dyn JobSource) {
    let sent = jobs("max", 5);
    queue.enqueue(&sent).await.expect("enqueue");
    let batch = source
        .receive(2, Duration::from_secs(1))
        .await
        .expect("receive");
    assert!(!batch.is_empty() && batch.len() <= 2, "{batch:?}");
    let mut got = batch;
    got.extend(receive_n(source, 5 - got.len()).await);
    assert_eq!(job_ids(&got).len(), 5);
    for d in &got {
        source.complete(d).await.expect("complete");
    }
}

/// Every behaviour above, each on a fresh queue from `fresh`, which yields
/// `(Arc<dyn JobQueue>, Arc<dyn JobSource>, guard)`.
#[macro_export]
macro_rules! queue_conformance_tests {
    ($fresh:expr) => {
        $crate::queue_conformance_tests!(@each $fresh,
            enqueued_jobs_arrive_once_as_sent,
            the_same_job_enqueued_twice_arrives_once,
            a_handed_back_job_returns_after_its_delay,
            receive_returns_at_most_max
        );
    };
    (@each $fresh:expr, $($name:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (q, s, _guard) = $fresh.await;
                $crate::queue_conformance::$name(q.as_ref(), s.as_ref()).await;
            }
        )+
    };
}
