//! `POST /webhooks/notice`: the project's own notices, signed per Standard
//! Webhooks by release feeds, relays and CI pipelines.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};

use super::accept::{self, DedupKey, Origin, Published};
use super::github::signature_refused;
use super::{Router, reply, request};
use crate::intake;
use crate::signature::{self, standard_webhooks};

const ROUTE: &str = "/webhooks/notice";

pub(crate) async fn handle(router: &Router, headers: &HeaderMap, body: &Bytes) -> Response<Bytes> {
    if let Some(refused) = request::check_envelope(headers, body, request::JSON, "") {
        return refused;
    }
    if let Some(refused) = blank_signing_header(headers) {
        return refused;
    }
    let verified = match standard_webhooks::verify_headers(
        &router.deps.intake.notice_secrets,
        headers,
        body,
        router.now(),
        signature::DEFAULT_TOLERANCE,
    ) {
        Ok(verified) => verified,
        Err(e) => {
            let claimed = super::github::header(headers, standard_webhooks::ID_HEADER);
            return signature_refused(&e, ROUTE, &claimed);
        }
    };
    let (notice, released_at) = match intake::notice::parse_with_release_time(body) {
        Ok(parsed) => (parsed.notice, parsed.released_at),
        Err(e) => {
            tracing::info!(route = ROUTE, id = %verified.id, error = %e, "bad notice");
            return reply::error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let keys = vec![
        DedupKey::delivery(
            format!("notice-message:{}", verified.id),
            "this webhook-id was already processed (a replay or a retry); `run_id` is its run",
        ),
        DedupKey::release(&notice),
    ];
    let origin = Origin {
        route: ROUTE,
        id: &verified.id,
    };
    let published = Published {
        at: released_at,
        url: None,
    };
    accept::accept(router, origin, notice, published, keys).await
}

/// `400` for a signing header that is present but blank (`webhook-id:`):
/// a broken sender, not a forgery, and an empty id could not be recorded
/// for replay protection anyway. Absent headers are the signature check's
/// `401`.
fn blank_signing_header(headers: &HeaderMap) -> Option<Response<Bytes>> {
    let blank = [
        standard_webhooks::ID_HEADER,
        standard_webhooks::TIMESTAMP_HEADER,
    ]
    .into_iter()
    .find(|name| {
        headers
            .get(*name)
            .is_some_and(|v| v.as_bytes().iter().all(u8::is_ascii_whitespace))
    })?;
    tracing::debug!(route = ROUTE, header = blank, "blank signing header");
    Some(reply::error(
        StatusCode::BAD_REQUEST,
        format!(
            "the `{blank}` header is empty: send the message id and timestamp the signature covers (Standard Webhooks)"
        ),
    ))
}
