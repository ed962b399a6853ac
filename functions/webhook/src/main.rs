//! The webhook Lambda: settings → adapters (`restager_shared::startup`) →
//! the router, built once per container, serving Function URL requests and
//! the scheduled sweep through [`WebhookFunction::invoke`].

// The SDK and runtime futures nest deeper than the default layout query limit.
#![recursion_limit = "256"]

use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use restager_shared::config::{Env, ProcessEnv};
use serde_json::Value;
use webhook::app::WebhookFunction;
use webhook::settings::WebhookConfig;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    lambda_http::tracing::init_default_subscriber();
    let config = WebhookConfig::from_env(&Env(&ProcessEnv))
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let function = WebhookFunction::start(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "the webhook cannot start"))?;
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        function.invoke(event).await
    }))
    .await
}
