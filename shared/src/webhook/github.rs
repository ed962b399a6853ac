//! `POST /webhooks/github`: GitHub `release` and `ping` deliveries.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use serde_json::json;

use super::accept::{self, DedupKey, Origin, Published};
use super::{Router, reply, request};
use crate::intake::github::{self as intake, GithubIntake};
use crate::signature::{self, SignatureError};

const ROUTE: &str = "/webhooks/github";

pub(crate) async fn handle(router: &Router, headers: &HeaderMap, body: &Bytes) -> Response<Bytes> {
    if let Some(refused) = request::check_envelope(
        headers,
        body,
        request::JSON,
        ": set the webhook's Content type to application/json in its GitHub settings",
    ) {
        return refused;
    }
    let delivery = header(headers, intake::DELIVERY_HEADER);
    let event = header(headers, intake::EVENT_HEADER);
    if let Err(e) =
        signature::github::verify_headers(&router.deps.intake.github_secrets, headers, body)
    {
        return signature_refused(&e, ROUTE, &delivery);
    }
    let parsed = match intake::parse_request(headers, body, &router.deps.intake) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::info!(route = ROUTE, delivery = %delivery, event = %event, error = %e, "bad delivery");
            return reply::error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    match parsed {
        GithubIntake::Ping { zen, hook_id } => {
            tracing::info!(route = ROUTE, delivery = %delivery, hook_id = ?hook_id, "ping");
            reply::json(
                StatusCode::OK,
                &json!({ "status": "pong", "zen": zen, "hook_id": hook_id }),
            )
        }
        GithubIntake::Ignored { reason } => {
            tracing::info!(route = ROUTE, delivery = %delivery, event = %event, %reason, "ignored");
            reply::json(
                StatusCode::OK,
                &json!({ "status": "ignored", "reason": reason.to_string() }),
            )
        }
        GithubIntake::Notice {
            notice,
            release_key,
            released_at,
            release_url,
        } => {
            let delivery_key = match intake::delivery_key_from_headers(headers) {
                Ok(key) => key,
                Err(e) => return reply::error(StatusCode::BAD_REQUEST, e.to_string()),
            };
            let keys = vec![
                DedupKey::delivery(
                    delivery_key,
                    "this delivery was already processed (a redelivery); `run_id` is its run",
                ),
                DedupKey::new(
                    release_key,
                    "this GitHub release was already processed (its published/released deliveries are one release)",
                ),
                DedupKey::release(&notice),
            ];
            let origin = Origin {
                route: ROUTE,
                id: &delivery,
            };
            let published = Published {
                at: released_at,
                url: release_url,
            };
            accept::accept(router, origin, notice, published, keys).await
        }
    }
}

/// A header for log lines: visible ASCII, shortened, `-` when absent.
pub(crate) fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(80).collect())
        .unwrap_or_else(|| "-".to_string())
}

/// `id` is the delivery id the request claims (not verified, for the log).
pub(crate) fn signature_refused(e: &SignatureError, route: &str, id: &str) -> Response<Bytes> {
    if e.is_misconfiguration() {
        tracing::error!(route, delivery = %id, error = %e, "signature secrets are misconfigured");
        return reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("restager is misconfigured: {e}"),
        );
    }
    tracing::info!(route, delivery = %id, error = %e, "signature refused");
    reply::error(StatusCode::UNAUTHORIZED, e.to_string())
}
