//! Starting the two halves of a running restager over the adapters
//! `restager_shared::startup` chose: the HTTP routes (admin and webhook) and
//! the worker.

use std::sync::Arc;
use std::time::Duration;

use restager_shared::engine::runner::{self, RunnerOptions};
use restager_shared::rollout::{self, Ports};
use restager_shared::startup::Adapters;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::admin::{self, AdminApi};
use crate::commands::CommandError;
use crate::server::{self, Handler};
use crate::settings::ServeSettings;
use crate::shutdown::{Shutdown, Trigger};

/// How long a shutdown waits for Slack messages still in the outbox.
const SLACK_FLUSH: Duration = Duration::from_secs(10);
/// Long-poll per receive: short, so a stop request is noticed quickly even
/// on SQS (where a receive cannot be interrupted).
const RECEIVE_WAIT: Duration = Duration::from_secs(1);

/// The admin routes (`/runs`, `/metrics`), then the routes of the webhook
/// function, over these adapters.
fn handler(adapters: &Adapters, settings: &ServeSettings) -> Result<Handler, CommandError> {
    let router = Arc::new(adapters.router(settings.intake.clone(), &settings.slack)?);
    let admin = Arc::new(AdminApi {
        ledger: Arc::clone(&adapters.ledger),
        queue: Arc::clone(&adapters.queue.source),
        token: settings.admin_token.clone(),
        prometheus: admin::metrics::install(),
        controls: admin::Controls {
            cf: adapters.cf.clone(),
            jobs: Arc::clone(&adapters.queue.jobs),
            notifier: Arc::clone(&adapters.notifier),
            max_in_flight: settings.worker.max_in_flight,
        },
    });
    Ok(Arc::new(move |request| {
        let router = Arc::clone(&router);
        let admin = Arc::clone(&admin);
        Box::pin(async move {
            match admin.handle(&request).await {
                Some(answer) => answer,
                None => router.handle(request).await,
            }
        })
    }))
}

/// Starts the HTTP server and the worker; both stop when `stop` is set,
/// and either stopping on its own (a failure) pulls `trigger` for the other.
pub fn start(
    adapters: &Adapters,
    settings: &ServeSettings,
    listener: TcpListener,
    trigger: Arc<Trigger>,
    stop: Shutdown,
) -> Result<Running, CommandError> {
    let handler = handler(adapters, settings)?;
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
    let engine = adapters.engine(settings.worker.clone());
    let source = Arc::clone(&adapters.queue.source);
    let options = RunnerOptions {
        receive_wait: RECEIVE_WAIT,
        ..RunnerOptions::default()
    };
    let ticker = tokio::spawn(tick_every(
        TickPorts {
            cf: adapters.cf.clone(),
            ledger: Arc::clone(&adapters.ledger),
            queue: Arc::clone(&adapters.queue.jobs),
            notifier: Arc::clone(&adapters.notifier),
        },
        settings.tick_interval,
        settings.worker.max_in_flight,
        stop.clone(),
    ));
    let worker = tokio::spawn(async move {
        let stats = runner::run(&engine, source.as_ref(), stop.receiver(), options).await;
        tracing::info!(?stats, "worker stopped");
        trigger.fire();
        Ok(())
    });
    Ok(Running {
        server,
        worker,
        ticker,
    })
}

/// What the timer's ticks act through, owned by its task.
struct TickPorts {
    cf: restager_shared::cf::CfClient,
    ledger: Arc<dyn restager_shared::ledger::Ledger>,
    queue: Arc<dyn restager_shared::queue::JobQueue>,
    notifier: Arc<dyn restager_shared::notify::Notifier>,
}

/// The local stand-in for the Lambda deployment's tick schedule: asks every
/// unfinished run's wave gate, and queues its jobs whose maintenance window
/// opened, every `interval` until `stop`.
async fn tick_every(owned: TickPorts, interval: Duration, max_in_flight: u32, stop: Shutdown) {
    let ports = Ports {
        cf: &owned.cf,
        ledger: owned.ledger.as_ref(),
        queue: owned.queue.as_ref(),
        notifier: owned.notifier.as_ref(),
        max_in_flight,
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.clone().wait() => return,
        }
        match rollout::tick(ports, chrono::Utc::now()).await {
            Ok(report) if !report.released.is_empty() || !report.unheld.is_empty() => {
                tracing::info!(released = ?report.released, unheld = ?report.unheld, "tick released waves or held jobs")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the tick could not read the runs; trying again later")
            }
        }
    }
}

/// Delivers what the notifier (Slack) is still owed; returns the messages
/// left undelivered.
pub async fn flush(adapters: &Adapters) -> usize {
    adapters.notifier.flush(SLACK_FLUSH).await.pending
}

/// The server and the worker, running.
pub struct Running {
    server: JoinHandle<Result<(), CommandError>>,
    worker: JoinHandle<Result<(), CommandError>>,
    ticker: JoinHandle<()>,
}

impl Running {
    /// Waits for both halves; the first error wins.
    pub async fn join(self) -> Result<(), CommandError> {
        let server = flatten(self.server.await);
        let worker = flatten(self.worker.await);
        if let Err(e) = self.ticker.await {
            tracing::warn!(error = %e, "the tick timer stopped unexpectedly");
        }
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
