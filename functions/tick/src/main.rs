//! The tick Lambda: settings → adapters (`restager_shared::startup`) → the
//! EventBridge handler, built once per container.

// The SDK and runtime futures nest deeper than the default layout query limit.
#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use restager_shared::config::{Env, ProcessEnv};
use tick::{Tick, TickConfig, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // The invocations' metrics, as CloudWatch EMF lines on stdout.
    restager_shared::metrics::emf::install();
    let config = TickConfig::from_env(&Env(&ProcessEnv))
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let tick = Tick::start(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "the tick cannot start"))?;
    let tick = &tick;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| handle(tick, event))).await
}
