//! The UAA access token: requested with the client-credentials grant,
//! cached and shared by every clone of a client.
//!
//! A client-credentials grant has no refresh token, so a token is simply
//! requested again shortly before it expires. Fetching happens under one
//! async mutex: when fifty tasks need a token at once, one requests it and
//! the others wait for and reuse it.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Mutex;

use reqwest::Method;
use url::Url;

use super::client::CfClient;
use super::counters::Kind;
use super::error::CfError;
use super::request::{Body, Call, label};
use crate::config::Secret;

#[derive(Clone)]
pub(crate) struct CachedToken {
    pub value: Secret,
    /// Identifies this token so a 401 only invalidates the token it was sent with.
    pub generation: u64,
    refresh_at: Instant,
    /// The same moment by the wall clock: a frozen Lambda's monotonic clock
    /// may not advance while frozen, the wall clock is resynchronised on thaw.
    refresh_at_wall: SystemTime,
}

impl CachedToken {
    fn is_fresh(&self) -> bool {
        Instant::now() < self.refresh_at && SystemTime::now() < self.refresh_at_wall
    }
}

/// A freshly granted token and how long UAA says it lives.
pub(crate) struct Grant {
    pub value: Secret,
    pub lifetime: Duration,
}

pub(crate) struct TokenCache {
    slot: Mutex<Slot>,
    margin: Duration,
}

struct Slot {
    token: Option<CachedToken>,
    next_generation: u64,
}

impl TokenCache {
    pub fn new(margin: Duration) -> Self {
        Self {
            slot: Mutex::new(Slot {
                token: None,
                next_generation: 1,
            }),
            margin,
        }
    }

    /// The cached token, or a new one from `fetch` when none is cached or it
    /// is within the refresh margin of expiry.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<CachedToken, CfError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Grant, CfError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(t) = &slot.token
            && t.is_fresh()
        {
            return Ok(t.clone());
        }
        let grant = fetch().await?;
        // A token shorter-lived than twice the margin would otherwise be
        // refreshed on every request; refresh those at half their life.
        let margin = self.margin.min(grant.lifetime / 2);
        let usable = grant.lifetime.saturating_sub(margin);
        let token = CachedToken {
            value: grant.value,
            generation: slot.next_generation,
            refresh_at: Instant::now() + usable,
            refresh_at_wall: SystemTime::now() + usable,
        };
        slot.next_generation += 1;
        slot.token = Some(token.clone());
        Ok(token)
    }

    /// Forgets the token with `generation` after Cloud Controller refused it.
    /// A newer token (already fetched by another task) is kept.
    pub async fn invalidate(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot
            .token
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            slot.token = None;
        }
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Tokens without `expires_in` are assumed to live this long.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// Asks UAA for a token, and keeps it: the client's side of the grant.
impl CfClient {
    /// Makes sure a token can be obtained (e.g. at start-up, to fail fast on
    /// bad credentials).
    pub async fn authenticate(&self) -> Result<(), CfError> {
        self.token().await.map(|_| ())
    }

    pub(super) async fn token(&self) -> Result<CachedToken, CfError> {
        self.inner.token.get(|| self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<Grant, CfError> {
        let base = self.info().await?.token_base().map(str::to_string).ok_or_else(|| {
            CfError::Invalid(format!(
                "GET {}/ names neither a login nor a uaa link: is CF_API_URL the Cloud Controller API root?",
                self.inner.api_base
            ))
        })?;
        let endpoint = format!("{}/oauth/token", base.trim_end_matches('/'));
        let url = Url::parse(&endpoint).map_err(|e| {
            CfError::Invalid(format!(
                "the UAA link `{endpoint}` from GET / is not a URL: {e}"
            ))
        })?;
        if self.inner.api.scheme() == "https" && url.scheme() != "https" {
            return Err(CfError::Invalid(format!(
                "GET / names the plain-{} token endpoint {endpoint}; refusing to send the client secret there while the API is https",
                url.scheme()
            )));
        }
        let form = serde_urlencoded::to_string([
            ("grant_type", "client_credentials"),
            ("client_id", self.inner.client_id.as_str()),
            ("client_secret", self.inner.client_secret.expose()),
        ])
        .map_err(|e| CfError::Invalid(format!("could not encode the token request: {e}")))?;
        let call = Call {
            label: label(&Method::POST, &url),
            method: Method::POST,
            url,
            body: Body::Form(form),
            kind: Kind::Token,
            // Asking for a token twice is harmless.
            idempotent: true,
        };
        let bytes = match self.execute_checked(call, None).await {
            Ok(b) => b,
            Err(CfError::Api {
                status: 400 | 401 | 403,
                detail,
                title,
                ..
            }) => {
                return Err(CfError::Unauthorized {
                    endpoint,
                    client_id: self.inner.client_id.clone(),
                    detail: if detail.is_empty() { title } else { detail },
                });
            }
            Err(e) => return Err(e),
        };
        let parsed: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
            CfError::Invalid(format!("POST {endpoint} returned no usable token: {e}"))
        })?;
        if parsed.access_token.is_empty()
            || parsed
                .token_type
                .as_deref()
                .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(CfError::Invalid(format!(
                "POST {endpoint} returned an empty or non-bearer token"
            )));
        }
        Ok(Grant {
            value: Secret::new(parsed.access_token),
            lifetime: parsed
                .expires_in
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TOKEN_LIFETIME),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn grant(lifetime: Duration) -> Grant {
        Grant {
            value: Secret::new("t"),
            lifetime,
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(60)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let cache = cache.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(grant(Duration::from_secs(3600)))
                    })
                    .await
                    .map(|t| t.generation)
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("task ran").expect("token"), 1);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn invalidation_only_drops_the_refused_token() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let first = cache
            .get(|| async { Ok(grant(Duration::from_secs(3600))) })
            .await
            .expect("token");
        cache.invalidate(first.generation + 5).await;
        let same = cache
            .get(|| async { Err(CfError::Invalid("must not fetch".into())) })
            .await
            .expect("cached");
        assert_eq!(same.generation, first.generation);
        cache.invalidate(first.generation).await;
        let second = cache
            .get(|| async { Ok(grant(Duration::from_secs(3600))) })
            .await
            .expect("token");
        assert_eq!(second.generation, first.generation + 1);
    }

    #[tokio::test]
    async fn short_lived_tokens_are_reused_for_half_their_life() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let first = cache
            .get(|| async { Ok(grant(Duration::from_secs(10))) })
            .await
            .expect("token");
        let again = cache
            .get(|| async { Err(CfError::Invalid("must not fetch".into())) })
            .await
            .expect("still fresh");
        assert_eq!(again.generation, first.generation);
    }
}
