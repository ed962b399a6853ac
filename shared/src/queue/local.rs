//! Choosing the queue for the local runner (`restager serve`): SQS when a
//! queue URL is configured, exactly as on Lambda, else the embedded file
//! queue under the data directory.

use std::sync::Arc;
use std::time::Duration;

use super::embedded::{self, EmbeddedQueue};
use super::sqs::SqsQueue;
use super::{JobQueue, JobSource, QueueError};
use crate::config::{StorageSettings, WorkerSettings};

/// Head room past the longest a restage may take, so a job still being
/// worked on is not handed out a second time.
const VISIBILITY_MARGIN: Duration = Duration::from_secs(5 * 60);

/// One queue seen through both ports (producers enqueue, the runner pulls).
#[derive(Clone)]
pub struct LocalQueue {
    pub jobs: Arc<dyn JobQueue>,
    pub source: Arc<dyn JobSource>,
    /// For start-up messages, e.g. "SQS https://…" or "embedded /data/queue.redb".
    pub description: String,
}

impl std::fmt::Debug for LocalQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalQueue")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// How long a received job stays hidden in the embedded queue: longer than
/// staging, deployment, verification and a rollback may take. After a
/// crash, in-flight jobs come back once this has passed.
pub fn visibility_for(worker: &WorkerSettings) -> Duration {
    worker
        .staging_timeout
        .saturating_add(worker.deploy_timeout.saturating_mul(2))
        .saturating_add(worker.verify_for.saturating_mul(2))
        .saturating_add(VISIBILITY_MARGIN)
}

/// SQS when `storage.queue_url` is set (the SQS queue's own visibility
/// timeout applies), else `storage.data_dir/queue.redb` with `visibility`.
pub async fn open_local(
    storage: &StorageSettings,
    visibility: Duration,
) -> Result<LocalQueue, QueueError> {
    match &storage.queue_url {
        Some(url) => {
            let sqs = Arc::new(SqsQueue::from_env(url.clone()).await);
            Ok(LocalQueue {
                jobs: sqs.clone(),
                source: sqs,
                description: format!("SQS {url}"),
            })
        }
        None => {
            let dir = storage.data_dir.clone();
            let queue = tokio::task::spawn_blocking(move || EmbeddedQueue::open(&dir, visibility))
                .await
                .map_err(|e| QueueError::Storage(format!("queue task failed: {e}")))??;
            let description = format!(
                "embedded {}",
                storage.data_dir.join(embedded::FILE_NAME).display()
            );
            let queue = Arc::new(queue);
            Ok(LocalQueue {
                jobs: queue.clone(),
                source: queue,
                description,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Action, AppRef, Notice, RestageJob, RunId, Version};

    #[tokio::test]
    async fn without_a_queue_url_jobs_go_to_the_data_dir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let storage = StorageSettings {
            queue_url: None,
            ledger_table: None,
            data_dir: dir.clone(),
        };
        let local = open_local(&storage, Duration::from_secs(60))
            .await
            .expect("embedded queue opens");
        assert!(local.description.contains("queue.redb"));
        let notice = Notice::Stack {
            stack: "cflinuxfs4".into(),
            version: Version::parse("1.0.0").expect("version"),
        };
        let job = RestageJob::new(
            &RunId::for_release(&notice.release_key()),
            notice,
            Action::Restage,
            AppRef {
                guid: "a".into(),
                name: "a".into(),
                space_guid: "s".into(),
                space_name: "s".into(),
                org_guid: "o".into(),
                org_name: "o".into(),
            },
            "d".into(),
            None,
            None,
        );
        local.jobs.enqueue(&[job]).await.expect("enqueue");
        let got = local
            .source
            .receive(10, Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        assert!(dir.join("queue.redb").exists());
    }

    #[test]
    fn visibility_outlasts_a_whole_restage() {
        let worker = WorkerSettings::default();
        assert!(visibility_for(&worker) > worker.staging_timeout + worker.deploy_timeout);
    }
}
