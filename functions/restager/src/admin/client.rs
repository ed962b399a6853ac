//! The other end of the admin API: what `restager status --server URL` (and
//! any command that talks to a running `serve`) sends. One request type per
//! verb, generic over what comes back, so a new route is one call.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use restager_shared::config::Secret;
use serde::de::DeserializeOwned;
use url::Url;

/// How long one admin request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request to `restager serve` did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "`{url}` is not a URL of restager serve: {detail} (set --server or RESTAGER_SERVER_URL to e.g. http://127.0.0.1:8080)"
    )]
    BadUrl { url: String, detail: String },
    #[error(
        "cannot reach restager serve at {url}: {detail} (is it running, and is --server / RESTAGER_SERVER_URL its address?)"
    )]
    Unreachable { url: String, detail: String },
    #[error(
        "restager serve at {url} refused the admin token (HTTP {status}): {message}; give the token serve has as --admin-token or RESTAGER_ADMIN_TOKEN"
    )]
    Unauthorized {
        url: String,
        status: u16,
        message: String,
    },
    #[error("restager serve at {url} answered HTTP {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("restager serve at {url} sent an answer this restager cannot read: {detail}")]
    Malformed { url: String, detail: String },
}

/// An answer: the value, or `NotFound` with the server's explanation.
#[derive(Debug)]
pub enum Answer<T> {
    Found(T),
    /// 404 for the thing asked about (not for the admin API being off,
    /// which is a [`ClientError::Refused`]).
    NotFound(String),
}

/// Talks to one `restager serve`.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: Url,
    token: Option<Secret>,
    http: reqwest::Client,
    /// Who the run controls are recorded as (`X-Restager-Actor`).
    actor: Option<String>,
}

impl AdminClient {
    pub fn new(base: &str, token: Option<Secret>) -> Result<Self, ClientError> {
        let bad = |detail: String| ClientError::BadUrl {
            url: base.chars().take(120).collect(),
            detail,
        };
        let mut url = Url::parse(base.trim()).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("expected http:// or https://".into()));
        }
        if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
            // A token in a URL ends up in shell history and logs.
            return Err(bad(
                "give the address alone; the token goes in --admin-token or RESTAGER_ADMIN_TOKEN"
                    .into(),
            ));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            base: url,
            token,
            http,
            actor: None,
        })
    }

    /// The server's address, for messages.
    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `GET path` (relative, e.g. `runs?limit=20`) as JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>, ClientError> {
        self.send(Method::GET, path).await
    }

    /// Records the run controls sent through this client as `actor`.
    pub fn with_actor(mut self, actor: &str) -> Self {
        self.actor = Some(actor.to_string());
        self
    }

    /// `POST path` without a body, the answer as JSON (the run controls).
    pub async fn post<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>, ClientError> {
        self.send(Method::POST, path).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<Answer<T>, ClientError> {
        let url =
            self.base
                .join(path.trim_start_matches('/'))
                .map_err(|e| ClientError::BadUrl {
                    url: format!("{}{path}", self.base),
                    detail: e.to_string(),
                })?;
        let shown = url.as_str().to_string();
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(actor) = &self.actor {
            request = request.header("x-restager-actor", actor);
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base().to_string(),
            detail: without_url(&e),
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: self.base().to_string(),
                detail: without_url(&e),
            })?;
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let message = json
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(|e| e.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        match status {
            s if s.is_success() => serde_json::from_slice(&body)
                .map(Answer::Found)
                .map_err(|e| ClientError::Malformed {
                    url: shown,
                    detail: e.to_string(),
                }),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(ClientError::Unauthorized {
                url: self.base().to_string(),
                status: status.as_u16(),
                message,
            }),
            // A 404 that names what was missing; the admin API being off
            // (no RESTAGER_ADMIN_TOKEN on serve) is a refusal.
            StatusCode::NOT_FOUND if json.as_ref().is_some_and(|v| v.get("missing").is_some()) => {
                Ok(Answer::NotFound(message))
            }
            _ => Err(ClientError::Refused {
                url: self.base().to_string(),
                status: status.as_u16(),
                message,
            }),
        }
    }
}

/// What went wrong, without the URL (the message names the server): the
/// kind, then reqwest's sources (hyper's and the OS's words).
fn without_url(e: &reqwest::Error) -> String {
    let mut detail = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_never_carry_a_token() {
        assert!(AdminClient::new("http://127.0.0.1:8080", None).is_ok());
        assert_eq!(
            AdminClient::new("http://127.0.0.1:8080/", None)
                .expect("ok")
                .base(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "127.0.0.1:8080",
            "ftp://x",
            "http://x/?token=abc",
            "http://admin:abc@x/",
        ] {
            assert!(
                matches!(AdminClient::new(bad, None), Err(ClientError::BadUrl { .. })),
                "{bad}"
            );
        }
    }
}
