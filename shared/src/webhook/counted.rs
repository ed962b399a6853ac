//! Counting what became of each request to a notice route
//! (`restager_notices_total{route, result, reason}`), read off the answer
//! so every refusal on every path is counted the same way.

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::metrics::{self, NoticeResult};

/// Counts `response` as the answer to a request on `route` and returns it.
pub(crate) fn notice(route: &'static str, response: Response<Bytes>) -> Response<Bytes> {
    let (result, reason) = classify(&response);
    metrics::notice(route, result, reason);
    response
}

fn classify(response: &Response<Bytes>) -> (NoticeResult, &'static str) {
    let body = || serde_json::from_slice::<serde_json::Value>(response.body()).ok();
    match response.status() {
        StatusCode::ACCEPTED => {
            let queued = body()
                .and_then(|b| b.get("queued").and_then(|q| q.as_u64()))
                .unwrap_or(0);
            let reason = if queued > 0 {
                "queued"
            } else {
                "nothing_to_queue"
            };
            (NoticeResult::Accepted, reason)
        }
        StatusCode::OK => {
            let status =
                body().and_then(|b| b.get("status").and_then(|s| s.as_str().map(str::to_string)));
            let reason = match status.as_deref() {
                Some("pong") => "ping",
                Some("duplicate") => "duplicate",
                _ => "ignored",
            };
            (NoticeResult::Ignored, reason)
        }
        status => (NoticeResult::Rejected, refusal(status)),
    }
}

fn refusal(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "malformed",
        StatusCode::UNAUTHORIZED => "bad_signature",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::INTERNAL_SERVER_ERROR => "misconfigured",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::reply;

    #[test]
    fn answers_are_sorted_into_results_and_reasons() {
        let accepted = reply::json(StatusCode::ACCEPTED, &serde_json::json!({"queued": 3}));
        assert_eq!(classify(&accepted), (NoticeResult::Accepted, "queued"));
        let none = reply::json(StatusCode::ACCEPTED, &serde_json::json!({"queued": 0}));
        assert_eq!(
            classify(&none),
            (NoticeResult::Accepted, "nothing_to_queue")
        );
        let dup = reply::json(StatusCode::OK, &serde_json::json!({"status": "duplicate"}));
        assert_eq!(classify(&dup), (NoticeResult::Ignored, "duplicate"));
        let bad = reply::error(StatusCode::UNAUTHORIZED, "no");
        assert_eq!(classify(&bad), (NoticeResult::Rejected, "bad_signature"));
    }
}
