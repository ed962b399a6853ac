//! lambda_http ⇄ router conversion. The body reaches the router as the exact
//! bytes the sender signed: lambda_http has already undone the Function URL's
//! base64 (`isBase64Encoded`), and nothing here parses or re-serializes it.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use lambda_http::{Body, Request, Response};
use restager_shared::metrics::emf;
use restager_shared::startup::{Adapters, StartupError};
use restager_shared::webhook::Router;

use crate::settings::WebhookConfig;

/// How long an invocation waits for Slack messages it caused (the run's
/// root message) before answering; within GitHub's 10 s with room to spare.
pub const SLACK_FLUSH_BUDGET: Duration = Duration::from_secs(2);

/// Settings → adapters → the routes.
pub async fn start(config: WebhookConfig) -> Result<Router, StartupError> {
    let adapters = Adapters::open(&config.adapters()).await?;
    tracing::info!(
        slack = adapters.slack,
        slack_actions = config.lambda.slack.signing_secret.is_some(),
        github = !config.intake.github_secrets.is_empty(),
        notices = !config.intake.notice_secrets.is_empty(),
        "webhook ready"
    );
    adapters.router(config.intake, &config.lambda.slack)
}

/// The router's view of a lambda_http request.
pub fn to_router_request(request: Request) -> http::Request<Bytes> {
    let (parts, body) = request.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text.into_bytes()),
        Body::Binary(raw) => Bytes::from(raw),
        // `Body` is non-exhaustive; any future variant still derefs to bytes.
        other => Bytes::copy_from_slice(other.as_ref()),
    };
    http::Request::from_parts(parts, bytes)
}

/// lambda_http's view of a router response. The router answers JSON, which
/// goes back as text; anything that is not UTF-8 goes back as binary.
pub fn to_lambda_response(response: http::Response<Bytes>) -> Response<Body> {
    let (parts, bytes) = response.into_parts();
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    Response::from_parts(parts, body)
}

/// One invocation: route the request, then give the notifier (Slack) a
/// bounded moment to deliver what the request queued, because Lambda freezes
/// the process as soon as the response is returned.
pub async fn handle(router: &Router, request: Request) -> Result<Response<Body>, Infallible> {
    let response = router.handle(to_router_request(request)).await;
    let notifier = &router.deps().notifier;
    if notifier.pending() > 0 {
        let report = notifier.flush(SLACK_FLUSH_BUDGET).await;
        if report.pending > 0 {
            tracing::warn!(
                pending = report.pending,
                "Slack messages left for a later invocation"
            );
        }
    }
    emf::flush("webhook", &emf::Sink::Stdout);
    Ok(to_lambda_response(response))
}
