//! The SQS adapter against moto's real SQS server.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use restager_shared::domain::{Notice, RestageJob, RunId, Version};
use restager_shared::queue::sqs::SqsQueue;
use restager_shared::queue::{JobQueue, JobSource, QueueError};
use test_support::moto::{MotoServer, create_queue, sdk_config};

use crate::queue_conformance::{jobs_of, none_visible};

fn jobs(n: usize, spaces: usize) -> Vec<RestageJob> {
    let version = Version::parse("1.10.29").expect("version");
    let notice = Notice::Buildpack {
        buildpack: "ruby_buildpack".into(),
        version: version.clone(),
        stack: None,
    };
    let run = RunId::for_release(&notice.release_key());
    jobs_of(&run, &notice, n, Some(("ruby_buildpack", &version)), |i| {
        (format!("app-{i}"), format!("space-{}", i % spaces))
    })
}

async fn drain(queue: &SqsQueue) -> Vec<restager_shared::queue::Delivery> {
    let mut all = Vec::new();
    loop {
        let got = queue
            .receive(10, Duration::from_secs(1))
            .await
            .expect("receive");
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

/// A queue named `jobs` on a moto server of its own (the server is the guard),
/// with the SDK config and URL to look past the adapter.
async fn jobs_queue(
    fifo: bool,
    dead_letter_after: Option<u32>,
) -> (MotoServer, SdkConfig, String, SqsQueue) {
    let moto = MotoServer::start().await;
    let sdk = moto.sdk_config();
    let url = create_queue(&sdk, "jobs", fifo, dead_letter_after).await;
    let queue = SqsQueue::from_sdk_config(&sdk, &url);
    (moto, sdk, url, queue)
}

/// A fresh FIFO queue on a moto server of its own (the server is the guard).
async fn fresh() -> (Arc<dyn JobQueue>, Arc<dyn JobSource>, MotoServer) {
    let moto = MotoServer::start().await;
    let url = create_queue(&moto.sdk_config(), "conformance", true, None).await;
    let queue = Arc::new(SqsQueue::from_sdk_config(&moto.sdk_config(), &url));
    (queue.clone(), queue, moto)
}

queue_conformance_tests!(fresh());

#[tokio::test]
async fn fan_out_of_25_jobs_arrives_whole_and_once() {
    let (_moto, sdk, url, queue) = jobs_queue(false, None).await;
    let sent = jobs(25, 5);
    queue.enqueue(&sent).await.expect("enqueue");

    let received = drain(&queue).await;
    assert_eq!(received.len(), 25);
    let bodies: BTreeSet<String> = received
        .iter()
        .map(|d| {
            RestageJob::from_json(&d.body)
                .expect("job body")
                .job_id
                .to_string()
        })
        .collect();
    let expected: BTreeSet<String> = sent.iter().map(|j| j.job_id.to_string()).collect();
    assert_eq!(bodies, expected);
    assert!(received.iter().all(|d| d.receive_count == 1));

    // Hand everything back at once, then read it raw to see the attributes.
    for d in &received {
        queue
            .retry_later(d, Duration::ZERO)
            .await
            .expect("hand back");
    }
    let client = aws_sdk_sqs::Client::new(&sdk);
    let mut attributes = BTreeSet::new();
    while attributes.len() < 25 {
        let out = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive with attributes");
        assert!(!out.messages().is_empty(), "all 25 are visible again");
        for m in out.messages() {
            let job = RestageJob::from_json(m.body().expect("body")).expect("job body");
            let attr = |name: &str| {
                m.message_attributes()
                    .and_then(|a| a.get(name))
                    .and_then(|v| v.string_value())
                    .map(str::to_string)
                    .expect("string attribute")
            };
            assert_eq!(attr("job_id"), job.job_id.to_string());
            assert_eq!(attr("run_id"), job.run_id.to_string());
            attributes.insert(attr("job_id"));
        }
    }
    assert_eq!(attributes, expected);
    let more = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    assert!(more.messages().is_empty(), "no job was sent twice");
}

#[tokio::test]
async fn fifo_groups_by_space_and_its_allowance_and_deduplicates_a_resent_fan_out() {
    let (_moto, sdk, url, queue) = jobs_queue(true, None).await;
    let mut sent = jobs(12, 3);
    // space-2's quota holds two restages at once: two groups.
    for job in sent.iter_mut().filter(|j| j.app.space_guid == "space-2") {
        job.schedule.space_allowance = Some(2);
    }
    queue.enqueue(&sent).await.expect("first send");
    // A sender retrying after a half-failed fan-out sends everything again.
    queue.enqueue(&sent).await.expect("second send");

    let client = aws_sdk_sqs::Client::new(&sdk);
    let mut groups = BTreeSet::new();
    let mut count = 0;
    loop {
        let out = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
            )
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            count += 1;
            let group = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned()
                .expect("FIFO messages carry their group");
            groups.insert(group);
            client
                .delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().expect("receipt"))
                .send()
                .await
                .expect("delete");
        }
    }
    assert_eq!(count, 12, "the resent jobs were deduplicated");
    assert_eq!(
        groups,
        BTreeSet::from([
            "space-0".to_string(),
            "space-1".into(),
            "space-2.0".into(),
            "space-2.1".into()
        ])
    );
}

#[tokio::test]
async fn retry_later_hides_the_message_and_complete_removes_it() {
    let (_moto, _, _, queue) = jobs_queue(false, None).await;
    queue.enqueue(&jobs(1, 1)).await.expect("enqueue");

    let first = queue
        .receive(1, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(first.len(), 1);
    queue
        .retry_later(&first[0], Duration::from_secs(1))
        .await
        .expect("change visibility");
    assert!(none_visible(&queue).await, "hidden during the back-off");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = queue
        .receive(1, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    queue.complete(&again[0]).await.expect("delete");
    queue.retry_later(&again[0], Duration::ZERO).await.ok(); // the handle is gone; SQS may refuse it, which is fine
    assert!(
        drain(&queue).await.is_empty(),
        "completed messages are gone"
    );
}

#[tokio::test]
async fn a_poison_message_reaches_the_dead_letter_queue() {
    let (_moto, sdk, url, queue) = jobs_queue(false, Some(2)).await;
    queue.enqueue(&jobs(1, 1)).await.expect("enqueue");
    for _ in 0..2 {
        let got = queue
            .receive(1, Duration::from_secs(1))
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        queue
            .retry_later(&got[0], Duration::ZERO)
            .await
            .expect("hand back");
    }
    assert!(none_visible(&queue).await);
    let dlq_url = url.replace("/jobs", "/jobs-dlq");
    let dlq = SqsQueue::from_sdk_config(&sdk, &dlq_url);
    assert_eq!(drain(&dlq).await.len(), 1);
}

#[tokio::test]
async fn an_unreachable_queue_is_reported_quickly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let queue = SqsQueue::from_sdk_config(&sdk_config(&endpoint), format!("{endpoint}/1/jobs"));
    let started = Instant::now();
    let err = queue
        .enqueue(&jobs(3, 1))
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, QueueError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn an_oversized_job_is_rejected_and_counted_while_the_rest_arrive() {
    let (_moto, _, _, queue) = jobs_queue(false, None).await;
    let mut sent = jobs(5, 1);
    // Larger than any SQS message may be: the entry fails as the sender's fault.
    sent[2].app.name = "x".repeat(1_100_000);
    let err = queue.enqueue(&sent).await.expect_err("one job is too big");
    match err {
        QueueError::Rejected { count, detail } => {
            assert_eq!(count, 1, "{detail}");
        }
        other => panic!("expected a rejection, got {other}"),
    }
    let arrived: BTreeSet<String> = drain(&queue).await.into_iter().map(|d| d.body).collect();
    let expected: BTreeSet<String> = [0, 1, 3, 4].iter().map(|&i| sent[i].to_json()).collect();
    assert_eq!(arrived, expected);
}

#[tokio::test]
async fn large_jobs_are_split_to_keep_each_call_under_the_size_limit() {
    let (_moto, _, _, queue) = jobs_queue(false, None).await;
    let mut sent = jobs(10, 2);
    // 10 × 300 KB fits one batch by count but not by SQS's 1 MiB per call.
    for job in &mut sent {
        job.app.name = "n".repeat(300_000);
    }
    queue
        .enqueue(&sent)
        .await
        .expect("split into calls SQS accepts");
    assert_eq!(drain(&queue).await.len(), 10);
}
