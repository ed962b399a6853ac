//! What can go wrong talking to Cloud Controller and UAA.
//!
//! Every message names the request (method and path, never the token) so a
//! log line says which call failed. Callers decide on retries with
//! [`CfError::is_transient`] and the specific predicates below rather than by
//! matching message text.

use std::time::Duration;

use serde::Deserialize;

/// One entry of CC's `{"errors":[...]}` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiErrorEntry {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Deserialize)]
struct ErrorsBody {
    #[serde(default)]
    errors: Vec<ApiErrorEntry>,
}

/// CC error codes restager reacts to.
pub mod codes {
    pub const INVALID_AUTH_TOKEN: i64 = 1000;
    pub const NOT_AUTHENTICATED: i64 = 10002;
    pub const NOT_AUTHORIZED: i64 = 10003;
    pub const RESOURCE_NOT_FOUND: i64 = 10010;
    pub const UNPROCESSABLE_ENTITY: i64 = 10008;
    pub const RATE_LIMIT_EXCEEDED: i64 = 10013;
    pub const STAGING_IN_PROGRESS: i64 = 170017;
    pub const STACK_VALIDATION_FAILED: i64 = 250004;
    pub const DEPLOYMENTS_DISABLED: i64 = 390014;
    pub const SCALE_DISABLED_DURING_DEPLOYMENT: i64 = 390016;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CfError {
    /// UAA refused the client credentials.
    #[error(
        "UAA at {endpoint} rejected client `{client_id}` ({detail}): check CF_CLIENT_ID and CF_CLIENT_SECRET and that the client has the client_credentials grant"
    )]
    Unauthorized {
        endpoint: String,
        client_id: String,
        detail: String,
    },

    /// Cloud Controller answered with an error status and (usually) an error body.
    #[error("{request} failed with HTTP {status}{}: {detail}", describe(*code, title))]
    Api {
        request: String,
        status: u16,
        code: Option<i64>,
        title: String,
        detail: String,
    },

    /// 429: the request was not processed; try again after `retry_after`.
    #[error("{request} was rate limited by Cloud Controller: retry after {}s", retry_after.as_secs())]
    RateLimited {
        request: String,
        retry_after: Duration,
    },

    /// Cloud Controller (or UAA) could not be reached or was unavailable
    /// (connect errors, resets, timeouts, 502/503/504), after any retries.
    /// A certificate the TLS handshake refused is reported as such, with
    /// the two ways to fix it, not as an outage.
    #[error("{}", unavailable_message(request, detail))]
    Unavailable { request: String, detail: String },

    /// A response that is not what the API documents, or a request that
    /// could not be built.
    #[error("{0}")]
    Invalid(String),

    /// A well-formed response holding an object restager cannot read
    /// (`detail` is `unreadable: <field>: <error>`). Asking again returns
    /// the same object, so this is not transient.
    #[error("{request} returned an object restager cannot read: {detail}")]
    Unreadable { request: String, detail: String },
}

fn describe(code: Option<i64>, title: &str) -> String {
    match (code, title.is_empty()) {
        (Some(c), false) => format!(" ({title}, code {c})"),
        (Some(c), true) => format!(" (code {c})"),
        (None, false) => format!(" ({title})"),
        (None, true) => String::new(),
    }
}

impl CfError {
    /// Builds an `Api` error from a status and raw body; the first entry of
    /// `errors` wins, a non-JSON body is kept (shortened) as the detail.
    pub fn from_response(request: &str, status: u16, body: &[u8]) -> Self {
        let entry = serde_json::from_slice::<ErrorsBody>(body)
            .ok()
            .and_then(|b| b.errors.into_iter().next());
        match entry {
            Some(e) => CfError::Api {
                request: request.to_string(),
                status,
                code: e.code,
                title: e.title.unwrap_or_default(),
                detail: e.detail.unwrap_or_default(),
            },
            None => CfError::Api {
                request: request.to_string(),
                status,
                code: None,
                title: String::new(),
                detail: shorten(&String::from_utf8_lossy(body)),
            },
        }
    }

    /// Worth retrying later: rate limits, outages and server-side errors.
    pub fn is_transient(&self) -> bool {
        match self {
            CfError::RateLimited { .. } | CfError::Unavailable { .. } => true,
            CfError::Api { status, .. } => *status >= 500 || *status == 429,
            CfError::Unauthorized { .. } | CfError::Invalid(_) | CfError::Unreadable { .. } => {
                false
            }
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            CfError::Api { status, .. } => Some(*status),
            CfError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            CfError::Api { code, .. } => *code,
            _ => None,
        }
    }

    pub fn detail(&self) -> Option<&str> {
        match self {
            CfError::Api { detail, .. } => Some(detail),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CfError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    fn has(&self, code: i64, title: &str) -> bool {
        match self {
            CfError::Api {
                code: c, title: t, ..
            } => *c == Some(code) || t == title,
            _ => false,
        }
    }

    /// 422 `CF-StagingInProgress` (170017): a build is already STAGING for the app.
    pub fn is_staging_in_progress(&self) -> bool {
        self.has(codes::STAGING_IN_PROGRESS, "CF-StagingInProgress")
    }

    /// A 422 caused by an org or space quota (staging memory, rolling
    /// instances, instance or log-rate limits): retry later, not a failure of the app.
    pub fn is_quota(&self) -> bool {
        let CfError::Api { status, detail, .. } = self else {
            return false;
        };
        if *status != 422 {
            return false;
        }
        !self.is_disk_limit_exceeded() && crate::engine::is_quota_text(detail)
    }

    /// 422 `disk limit exceeded` on `POST /v3/builds`: the app asks for more
    /// staging disk than the foundation's `maximum_app_disk_in_mb`
    /// (app/controllers/v3/builds_controller.rb rescues
    /// `BuildCreate::DiskLimitExceeded` with exactly this text). A setting of
    /// the app, not a quota that frees up: waiting does not help.
    pub fn is_disk_limit_exceeded(&self) -> bool {
        matches!(self, CfError::Api { status: 422, detail, .. }
            if detail.trim().eq_ignore_ascii_case("disk limit exceeded"))
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, CfError::Api { status: 404, .. })
    }

    /// 403 `CF-DeploymentsDisabled` (390014): the operator turned deployments off.
    pub fn is_deployments_disabled(&self) -> bool {
        self.has(codes::DEPLOYMENTS_DISABLED, "CF-DeploymentsDisabled")
    }

    /// 422 `CF-StackValidationFailed` (250004): the stack is DISABLED.
    pub fn is_stack_disabled(&self) -> bool {
        self.has(codes::STACK_VALIDATION_FAILED, "CF-StackValidationFailed")
    }

    /// 401/403 from Cloud Controller (after one re-authentication), or UAA
    /// rejecting the credentials: a configuration problem, not transient.
    pub fn is_auth(&self) -> bool {
        match self {
            CfError::Unauthorized { .. } | CfError::Api { status: 401, .. } => true,
            CfError::Api { status: 403, .. } => !self.is_deployments_disabled(),
            _ => false,
        }
    }
}

pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 300;
    let trimmed = s.trim();
    if trimmed.chars().count() <= MAX {
        trimmed.to_string()
    } else {
        let mut out: String = trimmed.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// Whether a transport error's text says the server's certificate was refused.
fn is_certificate_error(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("certificate") || lower.contains("tls handshake")
}

fn unavailable_message(request: &str, detail: &str) -> String {
    if is_certificate_error(detail) {
        format!(
            "{request} could not be completed: the TLS certificate of Cloud Controller (or UAA) was not accepted \
             ({detail}); if a private CA signs it, point SSL_CERT_FILE at that CA's certificate; for a lab \
             foundation with a self-signed certificate, set CF_SKIP_SSL_VALIDATION=true"
        )
    } else {
        format!("{request} could not be completed, Cloud Controller is unavailable: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_certificate_names_tls_and_the_fixes_not_an_outage() {
        // The text reqwest (rustls) gives for a self-signed certificate.
        let tls = CfError::Unavailable {
            request: "GET /".into(),
            detail: "connection failed: error sending request for url (https://localhost:18443/): \
                     client error (Connect): invalid peer certificate: UnknownIssuer"
                .into(),
        }
        .to_string();
        for part in [
            "TLS certificate",
            "SSL_CERT_FILE",
            "CF_SKIP_SSL_VALIDATION",
            "UnknownIssuer",
        ] {
            assert!(tls.contains(part), "{part}: {tls}");
        }
        assert!(!tls.contains("is unavailable"), "{tls}");
        let down = CfError::Unavailable {
            request: "GET /".into(),
            detail: "connection failed: tcp connect error: Connection refused".into(),
        }
        .to_string();
        assert!(down.contains("Cloud Controller is unavailable"), "{down}");
        assert!(!down.contains("SSL_CERT_FILE"), "{down}");
    }

    fn api(status: u16, body: &str) -> CfError {
        CfError::from_response("POST /v3/builds", status, body.as_bytes())
    }

    #[test]
    fn parses_the_first_error_entry() {
        let e = api(
            422,
            r#"{"errors":[{"code":170017,"title":"CF-StagingInProgress","detail":"Only one build can be STAGING at a time per application."}]}"#,
        );
        assert!(e.is_staging_in_progress());
        assert!(!e.is_quota());
        assert!(!e.is_transient());
        assert_eq!(e.code(), Some(170017));
        let msg = e.to_string();
        assert!(msg.contains("POST /v3/builds"), "{msg}");
        assert!(msg.contains("CF-StagingInProgress"), "{msg}");
    }

    #[test]
    fn recognises_quota_failures() {
        for detail in [
            "organization's memory limit exceeded: staging requires 1024M memory",
            "memory quota_exceeded for organization org-1. This organization's quota may not be large enough to support rolling deployments or your configured max-in-flight.",
            "app_instance_limit_exceeded",
            "space's instance limit exceeded",
        ] {
            let body = serde_json::json!({"errors":[{"code":10008,"title":"CF-UnprocessableEntity","detail":detail}]});
            let e = api(422, &body.to_string());
            assert!(e.is_quota(), "{detail}");
        }
        let other = api(
            422,
            r#"{"errors":[{"code":10008,"title":"CF-UnprocessableEntity","detail":"Unable to use package."}]}"#,
        );
        assert!(!other.is_quota());
    }

    #[test]
    fn keeps_non_json_bodies_short() {
        let body = "x".repeat(5000);
        let e = api(500, &body);
        assert!(e.is_transient());
        assert!(e.to_string().len() < 500);
    }

    #[test]
    fn classifies_not_found_and_disabled() {
        let nf = CfError::from_response(
            "GET /v3/apps/a/droplets/current",
            404,
            br#"{"errors":[{"code":10010,"title":"CF-ResourceNotFound","detail":"Droplet not found"}]}"#,
        );
        assert!(nf.is_not_found());
        let dd = CfError::from_response(
            "POST /v3/deployments",
            403,
            br#"{"errors":[{"code":390014,"title":"CF-DeploymentsDisabled","detail":"Deployments cannot be created due to manifest property 'temporary_disable_deployments'"}]}"#,
        );
        assert!(dd.is_deployments_disabled());
        assert!(!dd.is_auth());
    }
}
