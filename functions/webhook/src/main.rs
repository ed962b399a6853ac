//! The webhook Lambda: settings → adapters (`restager_shared::startup`) →
//! the router, built once per container, serving Function URL requests.

// The SDK and runtime futures nest deeper than the default layout query limit.
#![recursion_limit = "256"]

use lambda_http::{Request, service_fn};
use restager_shared::config::{Env, ProcessEnv};
use webhook::handler;
use webhook::settings::WebhookConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    // The invocations' metrics, as CloudWatch EMF lines on stdout.
    restager_shared::metrics::emf::install();
    let config = WebhookConfig::from_env(&Env(&ProcessEnv))
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let router = handler::start(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "the webhook cannot start"))?;
    let router = &router;
    lambda_http::run(service_fn(move |request: Request| {
        handler::handle(router, request)
    }))
    .await
}
