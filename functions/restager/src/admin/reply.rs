//! The admin routes' answers: JSON, HTML, Prometheus text; errors as
//! `{"error": …}` like the webhook routes'.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use serde_json::json;

/// What the run page may load: nothing but its own inline styles (its
/// SVG is inline too). Even a name that slipped past escaping could not
/// run a script.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn with_type(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Bytes> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Runs change by the second and may name apps: never cached on the way.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Bytes> {
    match serde_json::to_vec(value) {
        Ok(body) => with_type(status, body, "application/json"),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the answer could not be written as JSON: {e}"),
        ),
    }
}

pub fn error(status: StatusCode, message: impl AsRef<str>) -> Response<Bytes> {
    json_value(status, &json!({ "error": message.as_ref() }))
}

/// `404` naming what is missing (`missing` tells a client it was the thing
/// asked for, not the route).
pub fn missing(what: &'static str, message: impl AsRef<str>) -> Response<Bytes> {
    json_value(
        StatusCode::NOT_FOUND,
        &json!({ "error": message.as_ref(), "missing": what }),
    )
}

fn json_value(status: StatusCode, value: &serde_json::Value) -> Response<Bytes> {
    with_type(status, value.to_string(), "application/json")
}

pub fn html(body: String) -> Response<Bytes> {
    let mut response = with_type(StatusCode::OK, body, "text/html; charset=utf-8");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The Prometheus text exposition format, version 0.0.4.
pub fn prometheus(body: String) -> Response<Bytes> {
    with_type(
        StatusCode::OK,
        body,
        "text/plain; version=0.0.4; charset=utf-8",
    )
}

pub fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("this route only answers {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}
