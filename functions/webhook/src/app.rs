//! One invocation of the webhook function, whichever its event: HTTP
//! requests go through the router, the schedule runs the sweep. Either way
//! Slack gets a bounded moment to deliver before the process is frozen.

use lambda_http::LambdaEvent;
use restager_shared::discovery::SweepError;
use restager_shared::startup::{Adapters, StartupError};
use restager_shared::webhook::{self, Router};
use serde_json::Value;

use crate::handler::{self, SLACK_FLUSH_BUDGET};
use crate::invocation::{self, Invocation, InvocationError};
use crate::settings::WebhookConfig;

/// Why an invocation failed as a whole (HTTP problems are answered, never errors).
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(transparent)]
    Event(#[from] InvocationError),
    #[error(
        "the sweep did not finish: {0}; the runs before it stay queued, the next sweep resumes"
    )]
    Sweep(#[from] SweepError),
    #[error("cannot serialize the answer: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// The function's state, built once per container.
pub struct WebhookFunction {
    /// The routes; their notifier is flushed before each invocation returns.
    pub router: Router,
}

impl WebhookFunction {
    /// Settings → adapters → the routes.
    pub async fn start(config: WebhookConfig) -> Result<Self, StartupError> {
        let adapters = Adapters::open(&config.adapters()).await?;
        tracing::info!(
            slack = adapters.slack,
            slack_actions = config.slack.signing_secret.is_some(),
            github = !config.intake.github_secrets.is_empty(),
            notices = !config.intake.notice_secrets.is_empty(),
            "webhook ready"
        );
        let router = adapters.router(config.intake, &config.slack)?;
        Ok(Self { router })
    }

    pub async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Value, InvokeError> {
        let (payload, _context) = event.into_parts();
        match invocation::classify(payload)? {
            Invocation::Http(request) => {
                let response = handler::handle(&self.router, *request)
                    .await
                    .unwrap_or_else(|never| match never {});
                Ok(serde_json::to_value(invocation::function_url_response(
                    response,
                ))?)
            }
            Invocation::Sweep => {
                let report = webhook::sweep(&self.router).await;
                self.router.deps().notifier.flush(SLACK_FLUSH_BUDGET).await;
                let report = report?;
                tracing::info!(
                    runs = report.runs.len(),
                    queued = report.queued(),
                    cf_requests = report.cf_requests,
                    "sweep done"
                );
                Ok(serde_json::to_value(report)?)
            }
        }
    }
}

impl From<InvokeError> for lambda_http::lambda_runtime::Diagnostic {
    /// A named error type, so CloudWatch tells a junk event from a failed sweep.
    fn from(e: InvokeError) -> Self {
        let error_type = match &e {
            InvokeError::Event(_) => "UnrecognizedEvent",
            InvokeError::Sweep(_) => "SweepFailed",
            InvokeError::Serialize(_) => "SerializeFailed",
        };
        Self {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}
