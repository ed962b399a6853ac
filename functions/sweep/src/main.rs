//! The sweep Lambda: settings → adapters (`restager_shared::startup`) →
//! the EventBridge handler, built once per container.

// The SDK and runtime futures nest deeper than the default layout query limit.
#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use restager_shared::config::{Env, ProcessEnv};
use sweep::{Sweep, SweepConfig, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // The invocations' metrics, as CloudWatch EMF lines on stdout.
    restager_shared::metrics::emf::install();
    let config = SweepConfig::from_env(&Env(&ProcessEnv))
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let sweep = Sweep::start(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "the sweep cannot start"))?;
    let sweep = &sweep;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        handle(sweep, event)
    }))
    .await
}
