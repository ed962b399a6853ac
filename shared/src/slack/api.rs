//! A small Slack Web API client: `chat.postMessage` and `chat.update`.
//!
//! Slack answers most failures with HTTP 200 and `{"ok":false,"error":"..."}`;
//! only rate limiting uses a status code (429 with `Retry-After`). Errors are
//! sorted into "retry later" and "retrying will not help", because the outbox
//! treats them differently.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::config::{Secret, SlackSettings};

/// Used when a 429 carries no (readable) `Retry-After`: Slack's posting rate is about one a second.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SlackApiError {
    #[error("Slack rate-limited {method}; retry after {retry_after:?}")]
    RateLimited {
        method: &'static str,
        retry_after: Duration,
    },
    /// Slack refused the call for a reason retrying will not fix (token,
    /// channel membership, message shape). Fix the configuration.
    #[error(
        "Slack refused {method}: {error} (check SLACK_BOT_TOKEN's scopes, that the bot is in SLACK_CHANNEL, and the message)"
    )]
    Refused { method: &'static str, error: String },
    /// Slack reported a temporary problem; the call may succeed later.
    #[error("Slack could not complete {method} right now: {error}")]
    Unavailable { method: &'static str, error: String },
    #[error("could not reach Slack for {method}: {detail} (check SLACK_API_URL and the network)")]
    Transport {
        method: &'static str,
        detail: String,
    },
    #[error(
        "Slack answered {method} with HTTP {status} and a body that is not a Web API response: {detail}"
    )]
    Malformed {
        method: &'static str,
        status: u16,
        detail: String,
    },
    #[error("could not build the Slack HTTP client: {0}")]
    Client(String),
}

impl SlackApiError {
    /// Retrying the same call cannot succeed.
    pub fn is_permanent(&self) -> bool {
        match self {
            SlackApiError::Refused { .. } | SlackApiError::Client(_) => true,
            // A 4xx that is not Slack's JSON means a wrong URL or a proxy
            // refusing us; retrying the same request will not change that.
            SlackApiError::Malformed { status, .. } => (400..500).contains(status),
            _ => false,
        }
    }

    /// The error's kind as the metrics label it (`restager_slack_calls_total{result}`).
    pub fn kind(&self) -> &'static str {
        match self {
            SlackApiError::RateLimited { .. } => "rate_limited",
            SlackApiError::Refused { .. } => "refused",
            SlackApiError::Unavailable { .. } => "unavailable",
            SlackApiError::Transport { .. } => "transport",
            SlackApiError::Malformed { .. } => "malformed",
            SlackApiError::Client(_) => "client",
        }
    }

    /// How long Slack asked us to wait, for rate limiting.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SlackApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Errors Slack documents for chat.postMessage / chat.update that are
/// temporary; every other `error` is treated as permanent so a bad token or a
/// missing channel is reported once rather than retried forever.
const TRANSIENT_ERRORS: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
];

/// A message as Slack wants it: a notification fallback plus Block Kit blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackMessage {
    /// Shown in notifications and by clients that cannot render blocks.
    pub text: String,
    pub blocks: Vec<Value>,
}

/// Where a message landed; `ts` identifies it for threading and updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

#[derive(Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

/// A Web API client bound to one bot token.
#[derive(Clone)]
pub struct SlackApi {
    http: reqwest::Client,
    base: Url,
    token: Secret,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi")
            .field("base", &self.base.as_str())
            .field("token", &self.token)
            .finish()
    }
}

impl SlackApi {
    pub fn new(api_url: Url, token: Secret) -> Result<Self, SlackApiError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| SlackApiError::Client(e.to_string()))?;
        Ok(Self {
            http,
            base: api_url,
            token,
        })
    }

    /// `None` when Slack is not configured (no bot token).
    pub fn from_settings(settings: &SlackSettings) -> Result<Option<Self>, SlackApiError> {
        match &settings.bot_token {
            Some(token) => Self::new(settings.api_url.clone(), token.clone()).map(Some),
            None => Ok(None),
        }
    }

    /// `chat.postMessage`; a reply in a thread when `thread_ts` is set.
    pub async fn post_message(
        &self,
        channel: &str,
        message: &SlackMessage,
        thread_ts: Option<&str>,
    ) -> Result<Posted, SlackApiError> {
        let mut body = json!({
            "channel": channel,
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": false,
            "unfurl_media": false,
        });
        if let (Some(ts), Some(obj)) = (thread_ts, body.as_object_mut()) {
            obj.insert("thread_ts".into(), Value::String(ts.to_string()));
        }
        self.call("chat.postMessage", &body, channel).await
    }

    /// `chat.update`: replaces the text and blocks of the message at `ts`.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        message: &SlackMessage,
    ) -> Result<Posted, SlackApiError> {
        let body = json!({
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "blocks": message.blocks,
        });
        self.call("chat.update", &body, channel).await
    }

    fn method_url(&self, method: &str) -> String {
        format!("{}/{method}", self.base.as_str().trim_end_matches('/'))
    }

    /// [`send`](Self::send), counted by method and result.
    async fn call(
        &self,
        method: &'static str,
        body: &Value,
        channel: &str,
    ) -> Result<Posted, SlackApiError> {
        let result = self.send(method, body, channel).await;
        let kind = result.as_ref().map_or_else(SlackApiError::kind, |_| "ok");
        crate::metrics::slack_call(method, kind);
        result
    }

    async fn send(
        &self,
        method: &'static str,
        body: &Value,
        channel: &str,
    ) -> Result<Posted, SlackApiError> {
        let payload = serde_json::to_vec(body).map_err(|e| SlackApiError::Malformed {
            method,
            status: 0,
            detail: format!("request did not serialize: {e}"),
        })?;
        let response = self
            .http
            .post(self.method_url(method))
            .bearer_auth(self.token.expose())
            .header(
                http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(payload)
            .send()
            .await
            // reqwest's error text names the URL, never the Authorization header.
            .map_err(|e| SlackApiError::Transport {
                method,
                detail: e.to_string(),
            })?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after)
                .unwrap_or(DEFAULT_RETRY_AFTER);
            return Err(SlackApiError::RateLimited {
                method,
                retry_after,
            });
        }
        let raw = response
            .bytes()
            .await
            .map_err(|e| SlackApiError::Transport {
                method,
                detail: format!("reading the response: {e}"),
            })?;
        let parsed: ApiResponse = match serde_json::from_slice(&raw) {
            Ok(p) => p,
            Err(e) if status.is_server_error() => {
                return Err(SlackApiError::Unavailable {
                    method,
                    error: format!("HTTP {} ({e})", status.as_u16()),
                });
            }
            Err(e) => {
                return Err(SlackApiError::Malformed {
                    method,
                    status: status.as_u16(),
                    detail: e.to_string(),
                });
            }
        };
        if !parsed.ok {
            let error = parsed.error.unwrap_or_else(|| "unknown_error".into());
            return Err(if TRANSIENT_ERRORS.contains(&error.as_str()) {
                SlackApiError::Unavailable { method, error }
            } else {
                SlackApiError::Refused { method, error }
            });
        }
        match parsed.ts {
            Some(ts) if !ts.is_empty() => Ok(Posted {
                channel: parsed.channel.unwrap_or_else(|| channel.to_string()),
                ts,
            }),
            _ => Err(SlackApiError::Malformed {
                method,
                status: status.as_u16(),
                detail: "ok response without a message ts".into(),
            }),
        }
    }
}

/// Slack sends whole seconds; fractions are accepted so a proxy's value is not lost.
fn parse_retry_after(raw: &str) -> Option<Duration> {
    let secs: f64 = raw.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_and_bounded() {
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("999999"), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn classifies_errors() {
        let refused = SlackApiError::Refused {
            method: "chat.postMessage",
            error: "channel_not_found".into(),
        };
        assert!(refused.is_permanent());
        let limited = SlackApiError::RateLimited {
            method: "chat.postMessage",
            retry_after: Duration::from_secs(2),
        };
        assert!(!limited.is_permanent());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(2)));
        let api = SlackApi::new(
            Url::parse("http://127.0.0.1:1/api/").expect("url"),
            Secret::new("xoxb-secret"),
        )
        .expect("client");
        assert_eq!(
            api.method_url("chat.update"),
            "http://127.0.0.1:1/api/chat.update"
        );
        assert!(!format!("{api:?}").contains("xoxb-secret"));
    }
}
