//! One invocation of the webhook function, whichever its event: HTTP
//! requests go through the router, the schedule runs the sweep. Either way
//! Slack gets a bounded moment to deliver before the process is frozen.

use std::sync::Arc;

use lambda_http::LambdaEvent;
use restager_shared::discovery::SweepError;
use restager_shared::slack::SlackNotifier;
use restager_shared::webhook::{self, Router};
use serde_json::Value;

use crate::handler::{self, SLACK_FLUSH_BUDGET};
use crate::invocation::{self, Invocation, InvocationError};

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
    pub router: Router,
    /// Set when Slack is configured: flushed before each invocation returns.
    pub slack: Option<Arc<SlackNotifier>>,
}

impl WebhookFunction {
    pub async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Value, InvokeError> {
        let (payload, _context) = event.into_parts();
        match invocation::classify(payload)? {
            Invocation::Http(request) => {
                let response = handler::handle(&self.router, self.slack.as_deref(), *request)
                    .await
                    .unwrap_or_else(|never| match never {});
                Ok(serde_json::to_value(invocation::function_url_response(
                    response,
                ))?)
            }
            Invocation::Sweep => {
                let report = webhook::sweep(&self.router).await;
                if let Some(slack) = &self.slack {
                    slack.flush(SLACK_FLUSH_BUDGET).await;
                }
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
