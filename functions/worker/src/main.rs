//! The worker Lambda's entry point: read settings, build the clients once
//! per container, hand each SQS batch to the shared engine.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{LambdaEvent, service_fn};
use restager_shared::cf::CfClient;
use restager_shared::config::{Env, ProcessEnv};
use restager_shared::engine::Engine;
use restager_shared::ledger::{DynamoLedger, Ledger};
use restager_shared::notify::{LogNotifier, Notifier};
use restager_shared::queue::sqs::SqsQueue;
use restager_shared::slack::SlackNotifier;
use worker::{Worker, WorkerConfig, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = WorkerConfig::from_env(&Env(&ProcessEnv)).map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e
    })?;
    let cf = CfClient::new(&config.cf)?;
    let ledger: Arc<dyn Ledger> = Arc::new(DynamoLedger::from_env(&config.ledger_table).await?);
    let slack = SlackNotifier::from_settings(&config.slack, ledger.clone())?.map(Arc::new);
    let notifier: Arc<dyn Notifier> = match &slack {
        Some(s) => s.clone(),
        None => Arc::new(LogNotifier),
    };
    let worker = Worker {
        engine: Engine::new(cf, config.worker, ledger, notifier),
        queue: Arc::new(SqsQueue::from_env(config.queue_url).await),
        slack,
        flush_timeout: Duration::from_secs(10),
    };
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        handle(worker, event)
    }))
    .await
}
