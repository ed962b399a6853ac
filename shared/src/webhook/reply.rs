//! Building the router's JSON responses. Error bodies are `{"error": ...}`
//! with a message that names the problem and the fix; they never echo the
//! request body or a secret.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

/// Seconds a sender should wait after a 503 (Cloud Foundry, SQS or the ledger was unreachable).
const RETRY_AFTER_SECS: &str = "30";

pub(crate) fn json(status: StatusCode, body: &Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) fn error(status: StatusCode, message: impl AsRef<str>) -> Response<Bytes> {
    json(status, &json!({ "error": message.as_ref() }))
}

pub(crate) fn not_found(path: &str) -> Response<Bytes> {
    let shown: String = path.chars().take(64).collect();
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no route `{shown}`: restager serves POST /webhooks/github, POST /webhooks/notice, POST /slack/actions and GET /healthz"
        ),
    )
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("this route only answers {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// 503 with `Retry-After`: nothing was changed, the same request can be sent again.
pub(crate) fn unavailable(message: impl AsRef<str>) -> Response<Bytes> {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "{}; nothing was queued, send the request again later",
            message.as_ref()
        ),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

/// `413` in the one form every layer uses (the router, and `restager
/// serve`'s server before it reads a body): `found` says what was too large,
/// e.g. "the body is 2000000 bytes" or "Content-Length declares 104857600 bytes".
pub fn payload_too_large(found: &str) -> Response<Bytes> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "{found}; at most {} bytes (1 MiB) are accepted",
            super::MAX_BODY_BYTES
        ),
    )
}

/// `408` for a body that did not arrive in time (`restager serve`).
pub fn request_timeout(limit: std::time::Duration, setting: &str) -> Response<Bytes> {
    error(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "the request body did not arrive within {} ({setting}): send the whole request at once",
            humantime::format_duration(limit)
        ),
    )
}

/// `503` when `restager serve` holds as many connections as it allows.
pub fn too_many_connections(limit: usize, setting: &str) -> Response<Bytes> {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "this server already holds {limit} connections ({setting}); nothing was done, send the request again later"
        ),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

/// `400` for a body the connection broke off or garbled before it ended.
pub fn unreadable_body(detail: &str) -> Response<Bytes> {
    error(
        StatusCode::BAD_REQUEST,
        format!("the request body could not be read ({detail}): send it again"),
    )
}
