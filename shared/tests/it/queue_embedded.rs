//! The embedded on-disk queue: persistence, visibility and deduplication.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use restager_shared::domain::{Notice, RestageJob, RunId, Version};
use restager_shared::queue::embedded::EmbeddedQueue;
use restager_shared::queue::memory::MemoryQueue;
use restager_shared::queue::{JobQueue, JobSource, QueueError};

use crate::queue_conformance::{jobs_of, none_visible};

fn jobs(n: usize) -> Vec<RestageJob> {
    let notice = Notice::Stack {
        stack: "cflinuxfs4".into(),
        version: Version::parse("1.323.0").expect("version"),
    };
    let run = RunId::for_release(&notice.release_key());
    jobs_of(&run, &notice, n, None, |i| {
        (format!("app-{i}"), format!("space-{i}"))
    })
}

async fn fresh() -> (Arc<dyn JobQueue>, Arc<dyn JobSource>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Arc::new(EmbeddedQueue::open(dir.path(), Duration::from_secs(30)).expect("open"));
    (queue.clone(), queue, dir)
}

queue_conformance_tests!(fresh());

#[tokio::test]
async fn a_job_in_flight_when_the_process_dies_is_delivered_again_at_restart() {
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
    // Only one process can hold the file, so the in-flight job belonged to
    // the dead one: it is handed out again at once, its count kept.
    let again = queue.receive(10, Duration::ZERO).await.expect("receive");
    assert_eq!(again.len(), 2);
    let counts: BTreeSet<u32> = again.iter().map(|d| d.receive_count).collect();
    assert_eq!(counts, BTreeSet::from([1, 2]));
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
    assert!(none_visible(&queue).await);
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

/// Set for the child process of the kill test: the directory it works in.
const CRASH_DIR: &str = "RESTAGER_QUEUE_CRASH_DIR";

/// Runs only as the child of `a_killed_process_loses_no_job`: takes two jobs
/// in flight, finishes one, and aborts (no destructors, no clean close).
#[tokio::test]
async fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR) else {
        return;
    };
    let queue =
        EmbeddedQueue::open(std::path::Path::new(&dir), Duration::from_millis(300)).expect("open");
    queue.enqueue(&jobs(3)).await.expect("enqueue");
    let got = queue.receive(2, Duration::ZERO).await.expect("receive");
    assert_eq!(got.len(), 2);
    queue.complete(&got[0]).await.expect("complete");
    std::process::abort();
}

#[tokio::test]
async fn a_killed_process_loses_no_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "queue_embedded::crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("child runs");
    assert!(!status.success(), "the child aborts");

    let queue = EmbeddedQueue::open(dir.path(), Duration::from_millis(300)).expect("reopen");
    assert_eq!(queue.queued().await.expect("queued"), 2);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let got = queue
            .receive(10, Duration::from_secs(5))
            .await
            .expect("receive");
        assert!(!got.is_empty(), "both unfinished jobs come back");
        for d in got {
            seen.push(d.receive_count);
            queue.complete(&d).await.expect("complete");
        }
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        vec![1, 2],
        "the never-received job arrives fresh, the in-flight one redelivered"
    );
    assert_eq!(queue.queued().await.expect("queued"), 0);
}

#[tokio::test]
async fn a_finished_job_may_be_queued_again_after_the_dedup_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let window = Duration::from_millis(200);
    let queue = EmbeddedQueue::open_with_dedup_window(dir.path(), Duration::from_secs(30), window)
        .expect("open");
    let sent = jobs(1);
    queue.enqueue(&sent).await.expect("enqueue");
    let got = queue.receive(1, Duration::ZERO).await.expect("receive");
    queue.complete(&got[0]).await.expect("complete");
    queue
        .enqueue(&sent)
        .await
        .expect("duplicate within the window");
    assert_eq!(queue.queued().await.expect("queued"), 0);
    tokio::time::sleep(window + Duration::from_millis(50)).await;
    queue
        .enqueue(&sent)
        .await
        .expect("enqueue after the window");
    assert_eq!(queue.queued().await.expect("queued"), 1);
    let again = queue.receive(1, Duration::ZERO).await.expect("receive");
    assert_eq!(again[0].receive_count, 1, "a new message, not a redelivery");
}

#[tokio::test]
async fn a_waiting_receiver_gets_a_job_enqueued_meanwhile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Arc::new(EmbeddedQueue::open(dir.path(), Duration::from_secs(30)).expect("open"));
    let waiting = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.receive(10, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    queue.enqueue(&jobs(2)).await.expect("enqueue");
    let got = waiting.await.expect("task").expect("receive");
    assert!(!got.is_empty());
    let job = RestageJob::from_json(&got[0].body).expect("the body is the job");
    assert_eq!(job.job_id.to_string(), got[0].message_id);
}

#[tokio::test]
async fn a_second_open_of_the_same_file_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = EmbeddedQueue::open(dir.path(), Duration::from_secs(30)).expect("open");
    match EmbeddedQueue::open(dir.path(), Duration::from_secs(30)) {
        Err(QueueError::Storage(message)) => {
            assert!(message.contains("queue.redb"), "{message}");
        }
        Err(other) => panic!("expected a storage error, got {other}"),
        Ok(_) => panic!("two handles on one queue file"),
    }
}

#[tokio::test]
async fn a_back_off_chosen_before_a_restart_still_holds_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let queue = EmbeddedQueue::open(dir.path(), Duration::from_secs(30)).expect("open");
        queue.enqueue(&jobs(2)).await.expect("enqueue");
        let got = queue.receive(2, Duration::ZERO).await.expect("receive");
        queue
            .retry_later(&got[0], Duration::from_secs(3600))
            .await
            .expect("back off");
        // got[1] stays in flight when the process ends.
    }
    let queue = EmbeddedQueue::open(dir.path(), Duration::from_secs(30)).expect("reopen");
    let now = queue.receive(10, Duration::ZERO).await.expect("receive");
    assert_eq!(now.len(), 1, "only the in-flight job is released at open");
    assert_eq!(queue.queued().await.expect("queued"), 2);
}
