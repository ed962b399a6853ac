//! `POST /webhooks/notice`: the project's own notices, signed per Standard
//! Webhooks by release feeds, relays and CI pipelines.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};

use super::accept::{self, DedupKey, Origin};
use super::github::signature_refused;
use super::{Router, reply, request};
use crate::intake;
use crate::signature::{self, standard_webhooks};

const ROUTE: &str = "/webhooks/notice";

pub(crate) async fn handle(router: &Router, headers: &HeaderMap, body: &Bytes) -> Response<Bytes> {
    if let Some(refused) = request::check_size(body) {
        return refused;
    }
    if let Some(refused) = request::check_content_type(headers, request::JSON, "") {
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
        Err(e) => return signature_refused(&e, "-"),
    };
    let notice = match intake::notice::parse(body) {
        Ok(notice) => notice,
        Err(e) => {
            tracing::info!(route = ROUTE, id = %verified.id, error = %e, "bad notice");
            return reply::error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let keys = vec![
        DedupKey::new(
            format!("notice-message:{}", verified.id),
            "this webhook-id was already processed (a replay or a retry)",
        ),
        DedupKey::release(&notice),
    ];
    let origin = Origin {
        route: ROUTE,
        id: &verified.id,
    };
    accept::accept(router, origin, notice, keys).await
}
