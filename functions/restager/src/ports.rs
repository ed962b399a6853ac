//! Wiring: which adapter stands behind each port, chosen from the settings
//! exactly as the Lambda functions choose (SQS / DynamoDB when configured),
//! with the embedded on-disk queue and ledger otherwise; then starting the
//! two halves of a running restager, the HTTP routes and the worker.

use std::sync::Arc;
use std::time::Duration;

use restager_shared::cf::CfClient;
use restager_shared::config::{CfSettings, SlackSettings, StorageSettings, WorkerSettings};
use restager_shared::engine::Engine;
use restager_shared::engine::runner::{self, RunnerOptions};
use restager_shared::ledger::Ledger;
use restager_shared::notify::{LogNotifier, Notifier};
use restager_shared::queue::{JobQueue, JobSource};
use restager_shared::slack::{OutboxConfig, SlackActions, SlackApi, SlackNotifier};
use restager_shared::webhook::{Router as WebhookRouter, RouterDeps};
use restager_shared::{ledger, queue};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::commands::CommandError;
use crate::server::{self, Handler};
use crate::settings::ServeSettings;
use crate::shutdown::{Shutdown, Trigger};

/// How long a shutdown waits for Slack messages still in the outbox.
const SLACK_FLUSH: Duration = Duration::from_secs(10);
/// Long-poll per receive: short, so a stop request is noticed quickly even
/// on SQS (where a receive cannot be interrupted).
const RECEIVE_WAIT: Duration = Duration::from_secs(1);

pub fn cf_client(settings: &CfSettings) -> Result<CfClient, CommandError> {
    CfClient::new(settings)
        .map_err(|e| CommandError::failed("cannot set up the Cloud Foundry client", e))
}

/// Where the ledger lives, for messages.
pub fn ledger_location(storage: &StorageSettings) -> String {
    match &storage.ledger_table {
        Some(table) => format!("DynamoDB table {table}"),
        None => format!("{}", storage.data_dir.join(EMBEDDED_LEDGER).display()),
    }
}

const EMBEDDED_LEDGER: &str = "ledger.redb";

fn ensure_data_dir(storage: &StorageSettings) -> Result<(), CommandError> {
    std::fs::create_dir_all(&storage.data_dir).map_err(|e| {
        CommandError::Failed(format!(
            "cannot create the data directory {}: {e} (set RESTAGER_DATA_DIR or --data-dir to a writable directory)",
            storage.data_dir.display()
        ))
    })
}

pub async fn open_ledger(storage: &StorageSettings) -> Result<Arc<dyn Ledger>, CommandError> {
    match &storage.ledger_table {
        Some(table) => {
            let dynamo = ledger::dynamo::DynamoLedger::from_env(table)
                .await
                .map_err(|e| {
                    CommandError::failed(&format!("cannot use the DynamoDB ledger {table}"), e)
                })?;
            Ok(Arc::new(dynamo))
        }
        None => {
            ensure_data_dir(storage)?;
            let path = storage.data_dir.join(EMBEDDED_LEDGER);
            let store = ledger::embedded::EmbeddedLedger::open(&path).map_err(|e| {
                CommandError::failed(&format!("cannot open the ledger {}", path.display()), e)
            })?;
            Ok(Arc::new(store))
        }
    }
}

/// The queue as producers and as a consumer see it (one object, two ports).
pub struct Queue {
    pub jobs: Arc<dyn JobQueue>,
    pub source: Arc<dyn JobSource>,
    pub kind: String,
}

pub async fn open_queue(
    storage: &StorageSettings,
    worker: &WorkerSettings,
) -> Result<Queue, CommandError> {
    if storage.queue_url.is_none() {
        ensure_data_dir(storage)?;
    }
    let local = queue::open_local(storage, queue::visibility_for(worker))
        .await
        .map_err(|e| CommandError::failed("cannot open the job queue", e))?;
    Ok(Queue {
        jobs: local.jobs,
        source: local.source,
        kind: local.description,
    })
}

/// The notifier port, and the Slack outbox behind it when Slack is configured.
pub struct Notifications {
    pub notifier: Arc<dyn Notifier>,
    slack: Option<Arc<SlackNotifier>>,
}

impl Notifications {
    pub fn slack_enabled(&self) -> bool {
        self.slack.is_some()
    }

    /// Delivers what Slack is still owed; returns the messages left undelivered.
    pub async fn flush(&self) -> usize {
        match &self.slack {
            Some(slack) => slack.flush(SLACK_FLUSH).await.pending,
            None => 0,
        }
    }
}

/// Slack when `SLACK_BOT_TOKEN` and `SLACK_CHANNEL` are set, else the log.
pub fn notifier(
    settings: &SlackSettings,
    ledger: Arc<dyn Ledger>,
) -> Result<Notifications, CommandError> {
    notifier_paced(settings, ledger, OutboxConfig::default())
}

/// [`notifier`] with other pacing (the demo's local Slack stand-in needs no
/// one-message-per-second courtesy).
pub fn notifier_paced(
    settings: &SlackSettings,
    ledger: Arc<dyn Ledger>,
    outbox: OutboxConfig,
) -> Result<Notifications, CommandError> {
    let api = SlackApi::from_settings(settings)
        .map_err(|e| CommandError::failed("cannot set up Slack", e))?;
    let slack = match (api, &settings.channel) {
        (Some(api), Some(channel)) => Some(Arc::new(SlackNotifier::new(
            api,
            channel.clone(),
            ledger,
            outbox,
        ))),
        _ => None,
    };
    let notifier: Arc<dyn Notifier> = match &slack {
        Some(slack) => slack.clone(),
        None => Arc::new(LogNotifier),
    };
    Ok(Notifications { notifier, slack })
}

/// Every adapter a running restager uses.
pub struct Ports {
    pub cf: CfClient,
    pub queue: Queue,
    pub ledger: Arc<dyn Ledger>,
    pub notifications: Notifications,
    pub ledger_kind: String,
}

impl Ports {
    pub async fn open(settings: &ServeSettings) -> Result<Self, CommandError> {
        Self::open_paced(settings, OutboxConfig::default()).await
    }

    pub async fn open_paced(
        settings: &ServeSettings,
        outbox: OutboxConfig,
    ) -> Result<Self, CommandError> {
        let cf = cf_client(&settings.cf)?;
        let queue = open_queue(&settings.storage, &settings.worker).await?;
        let ledger = open_ledger(&settings.storage).await?;
        let notifications = notifier_paced(&settings.slack, Arc::clone(&ledger), outbox)?;
        Ok(Self {
            cf,
            queue,
            ledger_kind: ledger_location(&settings.storage),
            ledger,
            notifications,
        })
    }

    /// The routes of the webhook function, over these adapters.
    fn handler(&self, settings: &ServeSettings) -> Result<Handler, CommandError> {
        let actions = SlackActions::from_settings(
            &settings.slack,
            Arc::clone(&self.ledger),
            Arc::clone(&self.queue.jobs),
        )
        .map_err(|e| CommandError::failed("cannot set up Slack actions", e))?;
        let router = Arc::new(WebhookRouter::new(RouterDeps {
            intake: settings.intake.clone(),
            cf: self.cf.clone(),
            queue: Arc::clone(&self.queue.jobs),
            ledger: Arc::clone(&self.ledger),
            notifier: Arc::clone(&self.notifications.notifier),
            slack_actions: actions.map(Arc::new),
        }));
        Ok(Arc::new(move |request| {
            let router = Arc::clone(&router);
            Box::pin(async move { router.handle(request).await })
        }))
    }

    /// Starts the HTTP server and the worker; both stop when `stop` is set,
    /// and either stopping on its own (a failure) pulls `trigger` for the other.
    pub fn start(
        &self,
        settings: &ServeSettings,
        listener: TcpListener,
        trigger: Arc<Trigger>,
        stop: Shutdown,
    ) -> Result<Running, CommandError> {
        let handler = self.handler(settings)?;
        let server = {
            let trigger = Arc::clone(&trigger);
            let stop = stop.clone();
            let limits = settings.http;
            tokio::spawn(async move {
                let result = server::serve(listener, handler, limits, stop.wait()).await;
                trigger.fire();
                result
            })
        };
        let engine = Engine::new(
            self.cf.clone(),
            settings.worker.clone(),
            Arc::clone(&self.ledger),
            Arc::clone(&self.notifications.notifier),
        );
        let source = Arc::clone(&self.queue.source);
        let options = RunnerOptions {
            receive_wait: RECEIVE_WAIT,
            ..RunnerOptions::default()
        };
        let worker = tokio::spawn(async move {
            let stats = runner::run(&engine, source.as_ref(), stop.receiver(), options).await;
            tracing::info!(?stats, "worker stopped");
            trigger.fire();
            Ok(())
        });
        Ok(Running { server, worker })
    }

    /// Delivers what Slack is still owed; returns the messages left undelivered.
    pub async fn flush_notifications(&self) -> usize {
        self.notifications.flush().await
    }
}

/// The server and the worker, running.
pub struct Running {
    server: JoinHandle<Result<(), CommandError>>,
    worker: JoinHandle<Result<(), CommandError>>,
}

impl Running {
    /// Waits for both halves; the first error wins.
    pub async fn join(self) -> Result<(), CommandError> {
        let server = flatten(self.server.await);
        let worker = flatten(self.worker.await);
        server.and(worker)
    }
}

fn flatten(
    joined: Result<Result<(), CommandError>, tokio::task::JoinError>,
) -> Result<(), CommandError> {
    match joined {
        Ok(result) => result,
        Err(e) => Err(CommandError::failed(
            "a task of the server stopped unexpectedly",
            e,
        )),
    }
}
