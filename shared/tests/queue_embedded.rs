//! The embedded on-disk queue: persistence, visibility and deduplication.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use restager_shared::domain::{Action, AppRef, Notice, RestageJob, RunId, Version};
use restager_shared::queue::embedded::EmbeddedQueue;
use restager_shared::queue::memory::MemoryQueue;
use restager_shared::queue::{JobQueue, JobSource};

fn jobs(n: usize) -> Vec<RestageJob> {
    let notice = Notice::Stack {
        stack: "cflinuxfs4".into(),
        version: Version::parse("1.323.0").expect("version"),
    };
    let run = RunId::for_release(&notice.release_key());
    (0..n)
        .map(|i| {
            RestageJob::new(
                &run,
                notice.clone(),
                Action::Restage,
                AppRef {
                    guid: format!("app-{i}"),
                    name: format!("app-{i}"),
                    space_guid: format!("space-{i}"),
                    space_name: "prod".into(),
                    org_guid: "org".into(),
                    org_name: "acme".into(),
                },
                format!("droplet-{i}"),
                None,
                None,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_job_in_flight_when_the_process_dies_is_delivered_again_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let visibility = Duration::from_millis(300);
    {
        let queue = EmbeddedQueue::open(dir.path(), visibility).expect("open");
        queue.enqueue(&jobs(3)).await.expect("enqueue");
        let got = queue.receive(2, Duration::ZERO).await.expect("receive");
        assert_eq!(got.len(), 2);
        queue.complete(&got[0]).await.expect("complete");
        // got[1] is in flight when the "process" ends here.
    }
    let queue = EmbeddedQueue::open(dir.path(), visibility).expect("reopen");
    assert_eq!(queue.queued().await.expect("len"), 2);
    let now = queue.receive(10, Duration::ZERO).await.expect("receive");
    assert_eq!(
        now.len(),
        1,
        "the in-flight job stays hidden until its visibility ends"
    );
    queue.complete(&now[0]).await.expect("complete");
    tokio::time::sleep(visibility).await;
    let later = queue
        .receive(10, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].receive_count, 2);
}

#[tokio::test]
async fn enqueue_is_idempotent_also_after_completion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = EmbeddedQueue::open(dir.path(), Duration::from_secs(30)).expect("open");
    let sent = jobs(4);
    queue.enqueue(&sent).await.expect("enqueue");
    queue.enqueue(&sent).await.expect("enqueue again");
    assert_eq!(queue.queued().await.expect("len"), 4);
    let got = queue.receive(10, Duration::ZERO).await.expect("receive");
    for d in &got {
        queue.complete(d).await.expect("complete");
    }
    queue.enqueue(&sent).await.expect("a late duplicate");
    assert_eq!(
        queue.queued().await.expect("len"),
        0,
        "finished jobs are not queued again"
    );
}

#[tokio::test]
async fn concurrent_receivers_never_share_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Arc::new(EmbeddedQueue::open(dir.path(), Duration::from_secs(30)).expect("open"));
    queue.enqueue(&jobs(40)).await.expect("enqueue");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let q = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = q.receive(3, Duration::ZERO).await.expect("receive");
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|d| d.message_id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("receiver"));
    }
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 40);
    assert_eq!(unique.len(), 40);
}

#[tokio::test]
async fn retry_later_delays_and_a_stale_receipt_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = EmbeddedQueue::open(dir.path(), Duration::from_millis(100)).expect("open");
    queue.enqueue(&jobs(1)).await.expect("enqueue");
    let first = queue
        .receive(1, Duration::ZERO)
        .await
        .expect("receive")
        .remove(0);
    tokio::time::sleep(Duration::from_millis(120)).await;
    // Visibility ran out: someone else receives it; the first receipt is stale.
    let second = queue
        .receive(1, Duration::ZERO)
        .await
        .expect("receive")
        .remove(0);
    queue
        .complete(&first)
        .await
        .expect("stale complete is ignored");
    assert_eq!(queue.queued().await.expect("len"), 1);
    queue
        .retry_later(&second, Duration::from_secs(1))
        .await
        .expect("delay");
    assert!(
        queue
            .receive(1, Duration::ZERO)
            .await
            .expect("receive")
            .is_empty()
    );
    let third = queue
        .receive(1, Duration::from_secs(5))
        .await
        .expect("receive");
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].receive_count, 3);
}

#[tokio::test]
async fn the_memory_queue_follows_the_same_rules() {
    let queue = MemoryQueue::new(Duration::from_millis(100));
    queue.enqueue(&jobs(2)).await.expect("enqueue");
    queue.enqueue(&jobs(2)).await.expect("enqueue again");
    assert_eq!(queue.len(), 2);
    let got = queue.receive(5, Duration::ZERO).await.expect("receive");
    assert_eq!(got.len(), 2);
    assert!(
        queue
            .receive(5, Duration::ZERO)
            .await
            .expect("receive")
            .is_empty()
    );
    queue.complete(&got[0]).await.expect("complete");
    tokio::time::sleep(Duration::from_millis(120)).await;
    let again = queue.receive(5, Duration::ZERO).await.expect("receive");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    assert_eq!(queue.jobs().len(), 1);
}
