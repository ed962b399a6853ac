//! The composition root: typed settings in, the adapter behind every port
//! out. Every binary (the Lambda functions and `restager`) builds its
//! adapters here, so each choice is written once:
//!
//! | port | adapter |
//! |---|---|
//! | Cloud Foundry | [`CfClient`] |
//! | [`JobQueue`] / [`JobSource`] | SQS when `RESTAGER_QUEUE_URL` is set, else the embedded file queue in `RESTAGER_DATA_DIR` |
//! | [`Ledger`] | DynamoDB when `RESTAGER_LEDGER_TABLE` is set, else the embedded file ledger in `RESTAGER_DATA_DIR` |
//! | [`Notifier`] | Slack when `SLACK_BOT_TOKEN` and `SLACK_CHANNEL` are set, else the log |
//!
//! The Lambda functions require the queue URL and the table (their settings
//! refuse to start without them), so on AWS the embedded adapters are never
//! chosen. [`Adapters::router`] and [`Adapters::engine`] then build the two
//! applications over the adapters: the webhook routes and the restage engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::cf::{CfClient, CfError};
use crate::config::{
    CfSettings, ConfigError, Env, IntakeSettings, SlackSettings, StorageSettings, WorkerSettings,
};
use crate::engine::Engine;
use crate::ledger::{DynamoLedger, EmbeddedLedger, Ledger, LedgerError};
use crate::notify::{LogNotifier, Notifier};
use crate::queue::{EmbeddedQueue, JobQueue, JobSource, QueueError, SqsQueue, embedded};
use crate::slack::{OutboxConfig, SlackActions, SlackApi, SlackApiError, SlackNotifier};
use crate::webhook::{Router, RouterDeps};

/// The embedded ledger's file in the data directory.
pub const EMBEDDED_LEDGER: &str = "ledger.redb";

/// Head room past the longest a restage may take, so a job still being
/// worked on is not handed out a second time.
const VISIBILITY_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Why the adapters could not be built; each names what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot set up the Cloud Foundry client: {0}")]
    Cf(#[source] CfError),
    #[error(
        "cannot create the data directory {}: {error} (set RESTAGER_DATA_DIR or --data-dir to a writable directory)",
        path.display()
    )]
    DataDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot use the DynamoDB ledger {table}: {error}")]
    DynamoLedger { table: String, error: LedgerError },
    #[error("cannot open the ledger {}: {error}", path.display())]
    EmbeddedLedger { path: PathBuf, error: LedgerError },
    #[error("cannot open the job queue: {0}")]
    Queue(#[source] QueueError),
    #[error("cannot set up Slack: {0}")]
    Slack(#[source] SlackApiError),
    #[error("cannot set up Slack actions: {0}")]
    SlackActions(#[source] SlackApiError),
}

/// What the adapters are chosen from.
#[derive(Debug, Clone)]
pub struct AdapterSettings {
    pub cf: CfSettings,
    pub storage: StorageSettings,
    pub slack: SlackSettings,
    /// How long the embedded queue hides a received job (SQS has its own).
    pub queue_visibility: Duration,
    /// The Slack outbox's pacing.
    pub outbox: OutboxConfig,
    /// `max_in_flight` of deployments made outside the worker (a rollback
    /// after a wave's soak found a crash).
    pub max_in_flight: u32,
}

impl AdapterSettings {
    pub fn new(
        cf: CfSettings,
        storage: StorageSettings,
        slack: SlackSettings,
        worker: &WorkerSettings,
    ) -> Self {
        Self {
            cf,
            storage,
            slack,
            queue_visibility: visibility_for(worker),
            outbox: OutboxConfig::default(),
            max_in_flight: worker.max_in_flight,
        }
    }

    /// Other Slack pacing (the demo's local Slack stand-in needs no
    /// one-message-per-second courtesy).
    pub fn with_outbox(mut self, outbox: OutboxConfig) -> Self {
        self.outbox = outbox;
        self
    }
}

/// What every Lambda function reads: Cloud Foundry, Slack, and the SQS
/// queue and DynamoDB table, which on AWS are required (the embedded
/// adapters are for `restager` alone).
#[derive(Debug, Clone)]
pub struct LambdaSettings {
    pub cf: CfSettings,
    pub slack: SlackSettings,
    /// `RESTAGER_QUEUE_URL`: the SQS jobs queue.
    pub queue_url: String,
    /// `RESTAGER_LEDGER_TABLE`: the DynamoDB ledger table.
    pub ledger_table: String,
}

impl LambdaSettings {
    /// `queue_hint` says what the function uses the queue for, should it be missing.
    pub fn from_env(env: &Env, queue_hint: &'static str) -> Result<Self, ConfigError> {
        let (cf, slack) = (CfSettings::from_env(env)?, SlackSettings::from_env(env)?);
        let (queue_url, ledger_table) = StorageSettings::from_env(env).on_aws(queue_hint)?;
        Ok(Self {
            cf,
            slack,
            queue_url,
            ledger_table,
        })
    }

    /// SQS and DynamoDB, Slack when configured; `worker` paces the
    /// deployments the function makes (defaults where it makes none).
    pub fn adapters(&self, worker: &WorkerSettings) -> AdapterSettings {
        let storage = StorageSettings {
            queue_url: Some(self.queue_url.clone()),
            ledger_table: Some(self.ledger_table.clone()),
            data_dir: Default::default(),
        };
        AdapterSettings::new(self.cf.clone(), storage, self.slack.clone(), worker)
    }
}

/// One queue seen through both ports (producers enqueue, consumers pull or
/// hand back).
#[derive(Clone)]
pub struct Queue {
    pub jobs: Arc<dyn JobQueue>,
    pub source: Arc<dyn JobSource>,
    /// For start-up messages, e.g. "SQS https://…" or "embedded /data/queue.redb".
    pub description: String,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// Every adapter a running restager uses.
pub struct Adapters {
    pub cf: CfClient,
    pub queue: Queue,
    pub ledger: Arc<dyn Ledger>,
    /// Where the ledger lives, for messages.
    pub ledger_location: String,
    pub notifier: Arc<dyn Notifier>,
    /// Whether [`notifier`](Self::notifier) is Slack (else the log).
    pub slack: bool,
    /// See [`AdapterSettings::max_in_flight`].
    pub max_in_flight: u32,
}

impl Adapters {
    /// Builds every adapter: the Cloud Foundry client, the queue, the
    /// ledger, and the notifier over that ledger.
    pub async fn open(settings: &AdapterSettings) -> Result<Self, StartupError> {
        let cf = cf_client(&settings.cf)?;
        let queue = queue(&settings.storage, settings.queue_visibility).await?;
        let ledger = ledger(&settings.storage).await?;
        let notifier = notifier(
            &settings.slack,
            Arc::clone(&ledger),
            settings.outbox.clone(),
        )?;
        Ok(Self {
            cf,
            queue,
            ledger_location: ledger_location(&settings.storage),
            ledger,
            slack: notifier.is_some(),
            notifier: notifier.unwrap_or_else(|| Arc::new(LogNotifier)),
            max_in_flight: settings.max_in_flight,
        })
    }

    /// The ports the rollout decisions (gate, budget, controls) act through.
    pub fn rollout_ports(&self) -> crate::rollout::Ports<'_> {
        crate::rollout::Ports {
            cf: &self.cf,
            ledger: self.ledger.as_ref(),
            queue: self.queue.jobs.as_ref(),
            notifier: self.notifier.as_ref(),
            max_in_flight: self.max_in_flight,
        }
    }

    /// The webhook routes over these adapters, with the Slack buttons when
    /// `SLACK_SIGNING_SECRET` is set.
    pub fn router(
        &self,
        intake: IntakeSettings,
        slack: &SlackSettings,
    ) -> Result<Router, StartupError> {
        let slack_actions = SlackActions::from_settings(
            slack,
            Arc::clone(&self.ledger),
            Arc::clone(&self.queue.jobs),
        )
        .map_err(StartupError::SlackActions)?
        .map(|actions| {
            actions.with_run_controls(
                self.cf.clone(),
                Arc::clone(&self.notifier),
                self.max_in_flight,
            )
        });
        Ok(Router::new(RouterDeps {
            intake,
            cf: self.cf.clone(),
            queue: Arc::clone(&self.queue.jobs),
            ledger: Arc::clone(&self.ledger),
            notifier: Arc::clone(&self.notifier),
            slack_actions: slack_actions.map(Arc::new),
        }))
    }

    /// The restage engine over these adapters.
    pub fn engine(&self, worker: WorkerSettings) -> Engine {
        Engine::new(
            self.cf.clone(),
            worker,
            Arc::clone(&self.ledger),
            Arc::clone(&self.notifier),
        )
        .with_queue(Arc::clone(&self.queue.jobs))
    }
}

pub fn cf_client(settings: &CfSettings) -> Result<CfClient, StartupError> {
    CfClient::new(settings).map_err(StartupError::Cf)
}

/// DynamoDB when `storage.ledger_table` is set, else the embedded ledger
/// (creating the data directory).
pub async fn ledger(storage: &StorageSettings) -> Result<Arc<dyn Ledger>, StartupError> {
    match &storage.ledger_table {
        Some(table) => {
            let dynamo = DynamoLedger::from_env(table).await.map_err(|error| {
                StartupError::DynamoLedger {
                    table: table.clone(),
                    error,
                }
            })?;
            Ok(Arc::new(dynamo))
        }
        None => {
            ensure_data_dir(&storage.data_dir)?;
            let path = storage.data_dir.join(EMBEDDED_LEDGER);
            let store = EmbeddedLedger::open(&path)
                .map_err(|error| StartupError::EmbeddedLedger { path, error })?;
            Ok(Arc::new(store))
        }
    }
}

/// Where [`ledger`] puts the ledger, for messages.
pub fn ledger_location(storage: &StorageSettings) -> String {
    match &storage.ledger_table {
        Some(table) => format!("DynamoDB table {table}"),
        None => format!("{}", storage.data_dir.join(EMBEDDED_LEDGER).display()),
    }
}

/// SQS when `storage.queue_url` is set (the SQS queue's own visibility
/// timeout applies), else `storage.data_dir/queue.redb` with `visibility`.
pub async fn queue(storage: &StorageSettings, visibility: Duration) -> Result<Queue, StartupError> {
    match &storage.queue_url {
        Some(url) => {
            let sqs = Arc::new(SqsQueue::from_env(url.clone()).await);
            Ok(Queue {
                jobs: sqs.clone(),
                source: sqs,
                description: format!("SQS {url}"),
            })
        }
        None => {
            ensure_data_dir(&storage.data_dir)?;
            let dir = storage.data_dir.clone();
            let queue = tokio::task::spawn_blocking(move || EmbeddedQueue::open(&dir, visibility))
                .await
                .map_err(|e| {
                    StartupError::Queue(QueueError::Storage(format!("queue task failed: {e}")))
                })?
                .map_err(StartupError::Queue)?;
            let description = format!(
                "embedded {}",
                storage.data_dir.join(embedded::FILE_NAME).display()
            );
            let queue = Arc::new(queue);
            Ok(Queue {
                jobs: queue.clone(),
                source: queue,
                description,
            })
        }
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

/// Slack when `SLACK_BOT_TOKEN` and `SLACK_CHANNEL` are set (`None` otherwise:
/// the caller falls back to the log). The notifier reads and writes run
/// threads in `ledger`.
pub fn notifier(
    settings: &SlackSettings,
    ledger: Arc<dyn Ledger>,
    outbox: OutboxConfig,
) -> Result<Option<Arc<dyn Notifier>>, StartupError> {
    let api = SlackApi::from_settings(settings).map_err(StartupError::Slack)?;
    Ok(match (api, &settings.channel) {
        (Some(api), Some(channel)) => Some(Arc::new(SlackNotifier::new(
            api,
            channel.clone(),
            ledger,
            outbox,
        ))),
        _ => None,
    })
}

fn ensure_data_dir(dir: &Path) -> Result<(), StartupError> {
    std::fs::create_dir_all(dir).map_err(|error| StartupError::DataDir {
        path: dir.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{app, stack_job};

    #[tokio::test]
    async fn without_a_queue_url_jobs_go_to_the_data_dir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let storage = StorageSettings {
            queue_url: None,
            ledger_table: None,
            data_dir: dir.clone(),
        };
        let local = queue(&storage, Duration::from_secs(60))
            .await
            .expect("embedded queue opens");
        assert!(local.description.contains("queue.redb"));
        let job = stack_job("1.0.0", app("a".into(), "a".into(), "s", "o"), "d".into());
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
