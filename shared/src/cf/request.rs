//! Sending one request to Cloud Controller or UAA, and what is retried.
//!
//! Retry rules, because a blindly retried POST can do harm (a second
//! `POST /v3/builds` after a lost response yields StagingInProgress, a second
//! deployment supersedes the first):
//! - GETs are retried on connect errors, resets, timeouts and 502/503/504,
//!   with [`CfClientOptions::backoff`](super::CfClientOptions::backoff), within the retry budget.
//! - Any request is retried on 429 after `Retry-After` (CC did not process it)
//!   and on connect errors (it never left).
//! - A 401 from Cloud Controller re-authenticates once and retries.
//! - Everything else is returned to the caller.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::auth::CachedToken;
use super::client::CfClient;
use super::counters::{self, Counters, Kind};
use super::error::{CfError, shorten};
use super::record::{self, Unreadable};
use crate::metrics::{self, RetryReason};

pub(super) enum Body {
    Empty,
    Json(Vec<u8>),
    Form(String),
}

pub(super) struct Call {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) body: Body,
    pub(super) kind: Kind,
    /// Safe to send again after a failure that may have reached the server.
    pub(super) idempotent: bool,
    /// `METHOD /path?query` for messages; never contains credentials.
    pub(super) label: String,
}

impl CfClient {
    /// Whether the bearer token may go to `url`. Links from CC may name
    /// another host (its external domain); those are followed, but a token is
    /// never downgraded from https to plain http.
    pub(super) fn check_token_destination(&self, url: &Url, request: &str) -> Result<(), CfError> {
        let api = &self.inner.api;
        let same_origin = url.scheme() == api.scheme()
            && url.host_str() == api.host_str()
            && url.port_or_known_default() == api.port_or_known_default();
        if same_origin {
            return Ok(());
        }
        if api.scheme() == "https" && url.scheme() != "https" {
            return Err(CfError::Invalid(format!(
                "{request}: refusing to send the Cloud Foundry token over plain {} to {}; the API is https",
                url.scheme(),
                url.host_str().unwrap_or("?")
            )));
        }
        tracing::debug!(
            request,
            host = url.host_str().unwrap_or("?"),
            "following a link to another host"
        );
        Ok(())
    }

    pub(super) async fn api_call(
        &self,
        method: Method,
        target: &str,
        body: Body,
    ) -> Result<(String, Bytes), CfError> {
        let url = self.resolve(target)?;
        let label = label(&method, &url);
        self.check_token_destination(&url, &label)?;
        let call = Call {
            idempotent: method == Method::GET || method == Method::HEAD,
            method,
            url,
            body,
            kind: Kind::Api,
            label: label.clone(),
        };
        let bytes = self.execute_api(call).await?;
        Ok((label, bytes))
    }

    /// Sends an authenticated Cloud Controller request; a 401 re-authenticates once.
    async fn execute_api(&self, call: Call) -> Result<Bytes, CfError> {
        let mut reauthenticated = false;
        loop {
            let token = self.token().await?;
            let (status, body) = self.execute(&call, Some(&token)).await?;
            if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                // The token expired early or was revoked: get a new one, once.
                reauthenticated = true;
                Counters::bump(&self.inner.counters.reauthentications);
                metrics::cc_retry(RetryReason::Reauthenticate);
                tracing::debug!(request = %call.label, "Cloud Controller refused the token; re-authenticating once");
                self.inner.token.invalidate(token.generation).await;
                continue;
            }
            return into_result(&call.label, status, body);
        }
    }

    /// [`execute`](Self::execute) with any unsuccessful status as an error.
    pub(super) async fn execute_checked(
        &self,
        call: Call,
        token: Option<&CachedToken>,
    ) -> Result<Bytes, CfError> {
        let (status, body) = self.execute(&call, token).await?;
        into_result(&call.label, status, body)
    }

    /// Sends `call` with the retry rules in the module docs (except 401,
    /// which needs a new token and is the caller's business). Returns the
    /// final status and body; transport failures, exhausted 429s and
    /// exhausted 502/503/504s are errors.
    async fn execute(
        &self,
        call: &Call,
        token: Option<&CachedToken>,
    ) -> Result<(StatusCode, Bytes), CfError> {
        let opts = &self.inner.options;
        let endpoint = counters::endpoint(call.kind, &call.url);
        let mut retries = 0u32;
        loop {
            let mut req = self
                .inner
                .http
                .request(call.method.clone(), call.url.clone())
                .header(header::ACCEPT, "application/json");
            if let Some(t) = token {
                let mut value =
                    header::HeaderValue::from_str(&format!("bearer {}", t.value.expose()))
                        .map_err(|_| {
                            CfError::Invalid(
                                "UAA issued a token with characters not allowed in an HTTP header"
                                    .into(),
                            )
                        })?;
                // Keeps the token out of any Debug output of the request.
                value.set_sensitive(true);
                req = req.header(header::AUTHORIZATION, value);
            }
            req = match &call.body {
                Body::Empty => req,
                Body::Json(b) => req
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(b.clone()),
                Body::Form(f) => req
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(f.clone()),
            };
            self.inner.counters.sent(call.kind, &call.method);
            if retries > 0 {
                Counters::bump(&self.inner.counters.retries);
            }

            let started = Instant::now();
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    log_warnings(&call.label, resp.headers());
                    let retry_after = resp
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    match resp.bytes().await {
                        Ok(body) => Ok((status, retry_after, body)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let answered = outcome.as_ref().ok().map(|(status, _, _)| status.as_u16());
            metrics::cc_request(endpoint, call.method.as_str(), answered, started.elapsed());

            let (status, retry_after, body) = match outcome {
                Ok(x) => x,
                Err(e) => {
                    let detail = transport_detail(&e);
                    // A connect error means nothing reached the server.
                    let safe = call.idempotent || e.is_connect();
                    if safe && retries < opts.max_retries {
                        retries += 1;
                        metrics::cc_retry(RetryReason::Transport);
                        let wait = opts.backoff().delay(retries);
                        tracing::debug!(request = %call.label, error = %detail, retry = retries, wait_ms = wait.as_millis() as u64, "retrying after a transport error");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(CfError::Unavailable {
                        request: call.label.clone(),
                        detail,
                    });
                }
            };

            if status == StatusCode::TOO_MANY_REQUESTS {
                Counters::bump(&self.inner.counters.rate_limited);
                let wait = opts.backoff().after(retries + 1, retry_after);
                if retries < opts.max_retries && wait <= opts.max_retry_after {
                    retries += 1;
                    metrics::cc_retry(RetryReason::RateLimited);
                    metrics::cc_rate_limit_wait();
                    tracing::debug!(request = %call.label, wait_ms = wait.as_millis() as u64, "rate limited; waiting as Retry-After asks");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(CfError::RateLimited {
                    request: call.label.clone(),
                    retry_after: wait,
                });
            }
            if matches!(
                status,
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ) {
                if call.idempotent && retries < opts.max_retries {
                    retries += 1;
                    metrics::cc_retry(RetryReason::Gateway);
                    let wait = opts.backoff().delay(retries);
                    tracing::debug!(request = %call.label, status = status.as_u16(), retry = retries, wait_ms = wait.as_millis() as u64, "retrying after a gateway error");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let detail = match CfError::from_response(&call.label, status.as_u16(), &body) {
                    CfError::Api { title, detail, .. } if !title.is_empty() => {
                        format!("HTTP {} {title}: {detail}", status.as_u16())
                    }
                    CfError::Api { detail, .. } => format!("HTTP {}: {detail}", status.as_u16()),
                    other => other.to_string(),
                };
                return Err(CfError::Unavailable {
                    request: call.label.clone(),
                    detail,
                });
            }
            return Ok((status, body));
        }
    }
}

fn into_result(request: &str, status: StatusCode, body: Bytes) -> Result<Bytes, CfError> {
    if status.is_success() {
        Ok(body)
    } else {
        Err(CfError::from_response(request, status.as_u16(), &body))
    }
}

pub(super) fn json_body<B: Serialize + ?Sized>(path: &str, body: &B) -> Result<Body, CfError> {
    serde_json::to_vec(body).map(Body::Json).map_err(|e| {
        CfError::Invalid(format!(
            "the request body for {path} did not serialize: {e}"
        ))
    })
}

/// A body that is not JSON at all (a router's HTML page, a cut-off body) is
/// [`CfError::Invalid`]; JSON of the wrong shape is [`CfError::Unreadable`],
/// naming the field, so one odd object is reported for its app.
pub(super) fn decode<T: DeserializeOwned>(request: &str, bytes: &[u8]) -> Result<T, CfError> {
    // The typed parse straight from the bytes is the common case and builds
    // no JSON tree; a body it refuses is read again as a tree below, which
    // tells a body that is not JSON from one odd field and names the field.
    if let Ok(value) = serde_json::from_slice::<T>(bytes) {
        return Ok(value);
    }
    let what = std::any::type_name::<T>()
        .rsplit("::")
        .next()
        .unwrap_or("value");
    let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        CfError::Invalid(format!(
            "{request} returned a body that is not a valid {what}: {e}"
        ))
    })?;
    record::read(&raw).map_err(|bad: Unreadable| CfError::Unreadable {
        request: request.to_string(),
        detail: bad.reason(),
    })
}

/// `METHOD /path?query`, with a long query shortened.
pub(super) fn label(method: &Method, url: &Url) -> String {
    const MAX_QUERY: usize = 160;
    match url.query() {
        Some(q) if q.len() > MAX_QUERY => {
            let cut: String = q.chars().take(MAX_QUERY).collect();
            format!("{method} {}?{cut}…", url.path())
        }
        Some(q) => format!("{method} {}?{q}", url.path()),
        None => format!("{method} {}", url.path()),
    }
}

fn transport_detail(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "connection error"
    };
    // Without the URL: the label already names the request.
    let mut detail = format!("{kind}: {}", shorten(&e.to_string()));
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&shorten(&s.to_string()));
        source = s.source();
    }
    detail
}

/// `Retry-After` in seconds (what CC sends); an HTTP date is not used by CC.
fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `X-Cf-Warnings` carries URL-encoded, comma-separated warnings (e.g. a
/// DEPRECATED stack); they go to debug logs.
fn log_warnings(request: &str, headers: &header::HeaderMap) {
    for value in headers.get_all("x-cf-warnings") {
        let Ok(raw) = value.to_str() else { continue };
        for part in raw.split(',').filter(|p| !p.trim().is_empty()) {
            let warning = url::form_urlencoded::parse(format!("w={}", part.trim()).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            tracing::debug!(request, warning = %warning, "Cloud Controller warning");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_method_and_path_and_shorten_queries() {
        let url = Url::parse(&format!(
            "https://api.x/v3/droplets?guids={}",
            "a,".repeat(200)
        ))
        .expect("url");
        let l = label(&Method::GET, &url);
        assert!(l.starts_with("GET /v3/droplets?guids="));
        assert!(l.len() < 200);
    }

    #[test]
    fn retry_after_is_seconds() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    /// The bytes-first parse and the tree that names a field must agree:
    /// a page with one odd resource still parses, the odd one is reported
    /// with its identity, and a body that is not JSON is `Invalid`.
    #[test]
    fn pages_parse_from_bytes_and_odd_resources_are_still_named() {
        use crate::cf::models::{App, Page};
        let body = br#"{"pagination": {"total_results": 2, "next": null},
            "resources": [
              {"guid": "a1", "name": "good", "state": "STARTED",
               "lifecycle": {"type": "buildpack", "data": {"buildpacks": ["ruby_buildpack"], "stack": "cflinuxfs4"}},
               "relationships": {"space": {"data": {"guid": "s1"}}},
               "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"},
              {"guid": "a2", "name": "odd", "state": 7,
               "relationships": {"space": {"data": {"guid": "s1"}}}}
            ]}"#;
        let page: Page<App> = decode("GET /v3/apps", body).expect("a page with one odd app parses");
        let (apps, odd, _) = page.into_parts();
        assert_eq!(apps.len(), 1, "{apps:?}");
        assert_eq!(apps[0].guid, "a1");
        assert_eq!(odd.len(), 1);
        assert_eq!(odd[0].guid.as_deref(), Some("a2"));
        assert_eq!(odd[0].space_guid.as_deref(), Some("s1"));
        assert_eq!(odd[0].field, "state");

        let not_json = decode::<Page<App>>("GET /v3/apps", b"<html>bad gateway</html>");
        assert!(
            matches!(not_json, Err(CfError::Invalid(ref m)) if m.contains("GET /v3/apps")),
            "{not_json:?}"
        );
        let wrong_shape = decode::<App>("GET /v3/apps/a2", br#"{"guid": "a2", "state": 7}"#);
        assert!(
            matches!(wrong_shape, Err(CfError::Unreadable { .. })),
            "{wrong_shape:?}"
        );
    }
}
