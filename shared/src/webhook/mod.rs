//! The webhook's routes over `http::Request<Bytes>`, free of any web
//! framework, so the Lambda function (lambda_http) and the local runner
//! (axum) serve exactly the same behaviour:
//!
//! - `POST /webhooks/github`: GitHub `release` / `ping` deliveries (`X-Hub-Signature-256`).
//! - `POST /webhooks/notice`: the project's own notices (Standard Webhooks signatures).
//! - `POST /slack/actions`: Slack buttons, handed to [`SlackActions`].
//! - `GET /healthz`.
//!
//! A verified notice is de-duplicated (delivery, message id and the release
//! itself), planned against Cloud Foundry ([`discovery::plan`]) and fanned out
//! ([`discovery::fan_out`]); the answer is `202` with what was queued and
//! what was skipped and why. Anything unreachable yields `503` with nothing
//! remembered, so the sender's retry is processed in full.
//!
//! [`discovery::plan`]: crate::discovery::plan
//! [`discovery::fan_out`]: crate::discovery::fan_out

mod accept;
mod counted;
mod github;
mod notice;
mod reply;
mod request;

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use serde_json::json;

pub use accept::DEDUP_TTL;
pub use reply::{payload_too_large, request_timeout, too_many_connections, unreadable_body};
pub use request::MAX_BODY_BYTES;

use crate::cf::CfClient;
use crate::config::IntakeSettings;
use crate::discovery::{self, SweepError, SweepReport};
use crate::ledger::Ledger;
use crate::notify::Notifier;
use crate::queue::JobQueue;
use crate::slack::{ActionResponse, SlackActions};

/// The clock signatures are checked against; replaceable for tests.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Everything the routes use.
pub struct RouterDeps {
    pub intake: IntakeSettings,
    pub cf: CfClient,
    pub queue: Arc<dyn JobQueue>,
    pub ledger: Arc<dyn Ledger>,
    pub notifier: Arc<dyn Notifier>,
    /// `None` without `SLACK_SIGNING_SECRET`: `/slack/actions` then answers 404.
    pub slack_actions: Option<Arc<SlackActions>>,
}

/// The webhook application: routes plus the ports they use.
pub struct Router {
    deps: RouterDeps,
    clock: Clock,
}

impl Router {
    pub fn new(deps: RouterDeps) -> Self {
        Self {
            deps,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Uses `clock` instead of the system clock (Standard Webhooks and Slack
    /// timestamp tolerance tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn deps(&self) -> &RouterDeps {
        &self.deps
    }

    fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// Answers one buffered request. Never fails: every problem is a status.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        let path = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        match path {
            "/webhooks/github" => counted::notice(
                "github",
                if parts.method != Method::POST {
                    reply::method_not_allowed("POST")
                } else {
                    github::handle(self, &parts.headers, &body).await
                },
            ),
            "/webhooks/notice" => counted::notice(
                "notice",
                if parts.method != Method::POST {
                    reply::method_not_allowed("POST")
                } else {
                    notice::handle(self, &parts.headers, &body).await
                },
            ),
            "/slack/actions" => {
                if parts.method != Method::POST {
                    return reply::method_not_allowed("POST");
                }
                self.slack_action(&parts.headers, &body).await
            }
            "/healthz" => {
                if parts.method != Method::GET && parts.method != Method::HEAD {
                    return reply::method_not_allowed("GET, HEAD");
                }
                reply::json(StatusCode::OK, &json!({ "status": "ok" }))
            }
            other => reply::not_found(other),
        }
    }

    async fn slack_action(&self, headers: &http::HeaderMap, body: &Bytes) -> Response<Bytes> {
        let Some(actions) = &self.deps.slack_actions else {
            return reply::error(
                StatusCode::NOT_FOUND,
                "Slack actions are not enabled here: set SLACK_SIGNING_SECRET to enable /slack/actions",
            );
        };
        if let Some(refused) = request::check_envelope(
            headers,
            body,
            request::FORM,
            " (Slack sends interactivity payloads form-encoded)",
        ) {
            return refused;
        }
        let answer = actions.handle_action(headers, body, self.now()).await;
        let status =
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::new(Bytes::from(answer.body));
        *response.status_mut() = status;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(ActionResponse::CONTENT_TYPE),
        );
        response
    }
}

/// Queues a restage of every outdated app in scope: the scheduled sweep (and
/// `restager sweep`). See [`discovery::sweep`].
pub async fn sweep(app: &Router) -> Result<SweepReport, SweepError> {
    let deps = &app.deps;
    discovery::sweep(
        &deps.cf,
        &deps.intake.scope,
        deps.ledger.as_ref(),
        deps.queue.as_ref(),
        deps.notifier.as_ref(),
        app.now().into(),
    )
    .await
}
