//! CC's error envelope: `{"errors":[{"detail","title","code"}]}`.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error response exactly as Cloud Controller shapes it.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub title: &'static str,
    pub detail: String,
    pub headers: Vec<(HeaderName, String)>,
    /// Some proxies answer in text; CC's 429 also says text/plain.
    pub content_type: &'static str,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: u32,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            headers: Vec::new(),
            content_type: "application/json; charset=utf-8",
        }
    }

    /// A path CC has no route for.
    pub(crate) fn unknown_request() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            10000,
            "CF-NotFound",
            "Unknown request",
        )
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            10010,
            "CF-ResourceNotFound",
            format!("{what} not found"),
        )
    }

    pub(crate) fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            10008,
            "CF-UnprocessableEntity",
            detail,
        )
    }

    pub(crate) fn bad_query(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            10005,
            "CF-BadQueryParameter",
            format!("The query parameter is invalid: {}", detail.into()),
        )
    }

    /// errors/v2.yml 1004 BadRequest: "Bad request: %s".
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            1004,
            "CF-BadRequest",
            format!("Bad request: {}", detail.into()),
        )
    }

    /// errors/v2.yml 290003 BuildpackInvalid: "Buildpack is invalid: %s" (400).
    pub(crate) fn buildpack_invalid(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            290003,
            "CF-BuildpackInvalid",
            format!("Buildpack is invalid: {}", detail.into()),
        )
    }

    pub(crate) fn message_parse(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            1001,
            "CF-MessageParseError",
            format!("Request invalid due to parse error: {}", detail.into()),
        )
    }

    pub(crate) fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            1000,
            "CF-InvalidAuthToken",
            "Invalid Auth Token",
        )
    }

    pub(crate) fn not_authenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            10002,
            "CF-NotAuthenticated",
            "Authentication error",
        )
    }

    pub(crate) fn staging_in_progress() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            170017,
            "CF-StagingInProgress",
            "Only one build can be STAGING at a time per application.",
        )
    }

    /// StackStateValidator#build_stack_error (lib/cloud_controller/stack_state_validator.rb).
    pub(crate) fn stack_invalid(stack: &str, state: crate::model::StackState) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            250004,
            "CF-StackValidationFailed",
            format!(
                "ERROR: Staging failed. The stack '{stack}' is '{}' and cannot be used for staging.",
                state.as_str()
            ),
        )
    }

    pub(crate) fn stager_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            170010,
            "CF-StagerUnavailable",
            "Stager is unavailable: stager is not responding",
        )
    }

    pub(crate) fn instances_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            220002,
            "CF-InstancesUnavailable",
            "Instances information unavailable: diego is not reachable",
        )
    }

    pub(crate) fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            10013,
            "CF-RateLimitExceeded",
            "Rate Limit Exceeded",
        );
        e.content_type = "text/plain";
        e.headers
            .push((header::RETRY_AFTER, retry_after_secs.to_string()));
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            json!({"errors": [{"detail": self.detail, "title": self.title, "code": self.code}]});
        let mut resp = (self.status, body.to_string()).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        resp
    }
}
