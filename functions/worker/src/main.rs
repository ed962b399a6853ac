//! The worker Lambda: settings → adapters (`restager_shared::startup`) →
//! the SQS batch handler, built once per container.

use lambda_runtime::{LambdaEvent, service_fn};
use restager_shared::config::{Env, ProcessEnv};
use worker::{Worker, WorkerConfig, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // The invocations' metrics, as CloudWatch EMF lines on stdout.
    restager_shared::metrics::emf::install();
    let config = WorkerConfig::from_env(&Env(&ProcessEnv))
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let worker = Worker::start(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "the worker cannot start"))?;
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        handle(worker, event)
    }))
    .await
}
