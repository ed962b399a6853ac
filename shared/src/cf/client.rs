//! The Cloud Foundry client's face: [`CfClient`], its options, and the
//! generic `get`/`post`/`patch`/`pages`/`list_all` building blocks the typed
//! endpoint methods (`endpoints`) and other modules are made of.
//!
//! The rest of the client lives by job: `request` sends a request and decides
//! what to retry, `auth` holds the UAA token, `counters` counts requests.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use url::Url;

use super::auth::TokenCache;
use super::counters::{Counters, Kind, RequestCounts};
use super::error::CfError;
use super::models::{Included, Page, RootInfo};
use super::record::Unreadable;
use super::request::{Body, Call, decode, json_body, label};
use crate::config::{CfSettings, Secret};
use crate::retry::{Backoff, Jitter};

/// Every resource of a listing: those that parsed, those that did not, and
/// the merged `included` blocks.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub unreadable: Vec<Unreadable>,
    pub included: Included,
}

/// Tuning for [`CfClient`]; the defaults suit a Lambda worker.
#[derive(Debug, Clone)]
pub struct CfClientOptions {
    /// Whole-request timeout (connect + response).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries per request after the first attempt (re-authentication is not counted).
    pub max_retries: u32,
    /// First back-off; doubles per retry, up to `backoff_max`, with equal
    /// jitter (see [`CfClientOptions::backoff`]).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A 429 asking to wait longer than this is returned as
    /// [`CfError::RateLimited`] instead of sleeping (a Lambda should
    /// re-enqueue rather than sit out an hourly window).
    pub max_retry_after: Duration,
    /// Refresh the token when it has less than this left.
    pub token_refresh_margin: Duration,
    pub user_agent: String,
    /// `per_page` for list requests (CC allows 1..=5000).
    pub per_page: u32,
    /// GUIDs per `GET /v3/droplets?guids=` request, keeping URLs short.
    pub guid_batch_size: usize,
    /// Batched list requests in flight at once.
    pub batch_concurrency: usize,
}

impl Default for CfClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 4,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            token_refresh_margin: Duration::from_secs(60),
            user_agent: format!("restager/{}", env!("CARGO_PKG_VERSION")),
            per_page: 5000,
            guid_batch_size: 100,
            batch_concurrency: 4,
        }
    }
}

impl CfClientOptions {
    /// The retry policy of every request: `backoff_base` doubling up to
    /// `backoff_max`, never less than half of it.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.backoff_base, self.backoff_max).with_jitter(Jitter::Equal)
    }
}

const MAX_PAGES: usize = 100_000;

/// A Cloud Controller v3 + UAA client. Cloning is cheap and clones share the
/// connection pool, the cached token and the request counters.
#[derive(Clone)]
pub struct CfClient {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    /// The API root without a trailing slash.
    pub(super) api: Url,
    pub(super) api_base: String,
    pub(super) client_id: String,
    pub(super) client_secret: Secret,
    pub(super) options: CfClientOptions,
    pub(super) root: OnceCell<RootInfo>,
    pub(super) token: TokenCache,
    pub(super) counters: Counters,
}

impl std::fmt::Debug for CfClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CfClient")
            .field("api", &self.inner.api_base)
            .field("client_id", &self.inner.client_id)
            .field("client_secret", &self.inner.client_secret)
            .finish()
    }
}

impl CfClient {
    pub fn new(settings: &CfSettings) -> Result<Self, CfError> {
        Self::with_options(settings, CfClientOptions::default())
    }

    pub fn with_options(settings: &CfSettings, options: CfClientOptions) -> Result<Self, CfError> {
        let mut builder = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.clone())
            // Lambda freezes between invocations; stale pooled connections
            // are then reset by the peer, so keep idle ones briefly only.
            .pool_idle_timeout(Duration::from_secs(50));
        if settings.skip_ssl_validation {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| {
            CfError::Invalid(format!(
                "could not build the HTTP client for Cloud Foundry: {e}"
            ))
        })?;
        let api_base = settings.api_url.as_str().trim_end_matches('/').to_string();
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api: settings.api_url.clone(),
                api_base,
                client_id: settings.client_id.clone(),
                client_secret: settings.client_secret.clone(),
                token: TokenCache::new(options.token_refresh_margin),
                options,
                root: OnceCell::new(),
                counters: Counters::default(),
            }),
        })
    }

    pub fn options(&self) -> &CfClientOptions {
        &self.inner.options
    }

    pub fn api_url(&self) -> &Url {
        &self.inner.api
    }

    /// Requests sent so far by this client and its clones.
    pub fn request_counts(&self) -> RequestCounts {
        self.inner.counters.snapshot()
    }

    /// `GET /` (fetched once, then cached): UAA location and API version.
    pub async fn info(&self) -> Result<&RootInfo, CfError> {
        self.inner
            .root
            .get_or_try_init(|| async {
                let url = self.resolve("/")?;
                let call = Call {
                    label: label(&Method::GET, &url),
                    method: Method::GET,
                    url,
                    body: Body::Empty,
                    kind: Kind::Root,
                    idempotent: true,
                };
                let bytes = self.execute_checked(call, None).await?;
                decode::<RootInfo>("GET /", &bytes)
            })
            .await
    }

    /// What this Cloud Controller supports, from the API version on `GET /`
    /// (no extra request once the root has been read).
    pub async fn capabilities(&self) -> Result<super::Capabilities, CfError> {
        Ok(super::Capabilities::of(self.info().await?.api_version()))
    }

    /// `GET` a path (`/v3/apps/GUID`) or an absolute URL, decoded as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, CfError> {
        let (label, bytes) = self
            .api_call(Method::GET, path_and_query, Body::Empty)
            .await?;
        decode(&label, &bytes)
    }

    /// Like [`get`](Self::get), but a 404 is `Ok(None)`.
    pub async fn get_optional<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<Option<T>, CfError> {
        match self.get(path_and_query).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST` a JSON body. Not retried after it may have reached Cloud Controller.
    pub async fn post<B, T>(&self, path: &str, body: &B) -> Result<T, CfError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.send_json(Method::POST, path, body).await
    }

    /// `POST` with no body, ignoring the response body (e.g. `actions/cancel`).
    pub async fn post_action(&self, path: &str) -> Result<(), CfError> {
        self.api_call(Method::POST, path, Body::Empty)
            .await
            .map(|_| ())
    }

    /// `PATCH` a JSON body. Not retried after it may have reached Cloud Controller.
    pub async fn patch<B, T>(&self, path: &str, body: &B) -> Result<T, CfError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.send_json(Method::PATCH, path, body).await
    }

    /// A JSON body and its decoded answer, for the writes that are sent once.
    async fn send_json<B, T>(&self, method: Method, path: &str, body: &B) -> Result<T, CfError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let (label, bytes) = self.api_call(method, path, json_body(path, body)?).await?;
        decode(&label, &bytes)
    }

    /// One page of a list endpoint.
    pub async fn get_page<T: DeserializeOwned>(&self, url: &str) -> Result<Page<T>, CfError> {
        self.get(url).await
    }

    /// Every page of a list, following `pagination.next.href` as given
    /// (absolute, and possibly on another host than the configured API).
    pub fn pages<T>(
        &self,
        first: &str,
    ) -> impl Stream<Item = Result<Page<T>, CfError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let client = self.clone();
        let state = (client, Some(first.to_string()), 0usize);
        futures::stream::try_unfold(state, |(client, next, count)| async move {
            let Some(url) = next else {
                return Ok(None);
            };
            if count >= MAX_PAGES {
                return Err(CfError::Invalid(format!(
                    "GET {url}: more than {MAX_PAGES} pages; the pagination links seem to loop"
                )));
            }
            let page: Page<T> = client.get_page(&url).await?;
            let following = page.next_href().map(str::to_string);
            if following.as_deref() == Some(url.as_str()) {
                return Err(CfError::Invalid(format!(
                    "GET {url}: pagination.next.href points at the same page"
                )));
            }
            Ok(Some((page, (client, following, count + 1))))
        })
    }

    /// All resources of a list, across pages, where every one must be
    /// readable: for reads about one app (its builds, its deployments), where
    /// ignoring a resource could mean starting a second build or deployment.
    pub async fn list_all<T>(&self, first: &str) -> Result<Vec<T>, CfError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let listed = self.list_records(first).await?;
        match listed.unreadable.into_iter().next() {
            None => Ok(listed.items),
            Some(bad) => Err(CfError::Unreadable {
                request: format!("GET {first}"),
                detail: bad.to_string(),
            }),
        }
    }

    /// All resources of a list plus the merged `included` blocks of every
    /// page; resources that do not parse are returned beside the others for
    /// the caller to report, instead of failing the listing.
    pub async fn list_records<T>(&self, first: &str) -> Result<Listed<T>, CfError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        use futures::TryStreamExt;
        let mut listed = Listed {
            items: Vec::new(),
            unreadable: Vec::new(),
            included: Included::default(),
        };
        let mut pages = std::pin::pin!(self.pages::<T>(first));
        while let Some(page) = pages.try_next().await? {
            let (items, unreadable, included) = page.into_parts();
            listed.items.extend(items);
            listed.unreadable.extend(unreadable);
            if let Some(inc) = included {
                listed.included.spaces.extend(inc.spaces);
                listed.included.organizations.extend(inc.organizations);
            }
        }
        Ok(listed)
    }

    pub(super) fn resolve(&self, target: &str) -> Result<Url, CfError> {
        let raw = if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else if target.starts_with('/') {
            format!("{}{target}", self.inner.api_base)
        } else {
            format!("{}/{target}", self.inner.api_base)
        };
        Url::parse(&raw).map_err(|e| CfError::Invalid(format!("`{raw}` is not a valid URL: {e}")))
    }
}

#[cfg(test)]
mod destination_tests {
    use super::*;

    fn client(api: &str) -> CfClient {
        let settings = CfSettings {
            api_url: Url::parse(api).expect("url"),
            client_id: "c".into(),
            client_secret: Secret::new("s"),
            skip_ssl_validation: false,
        };
        CfClient::new(&settings).expect("client")
    }

    #[test]
    fn tokens_follow_links_but_never_downgrade_to_http() {
        let c = client("https://api.sys.example.com");
        let ok = |u: &str| c.check_token_destination(&Url::parse(u).expect("url"), "GET x");
        assert!(ok("https://api.sys.example.com/v3/apps?page=2").is_ok());
        assert!(ok("https://cc.internal:9024/v3/apps?page=2").is_ok());
        let err = ok("http://api.sys.example.com/v3/apps?page=2").expect_err("downgrade");
        assert!(err.to_string().contains("plain http"), "{err}");
        let local = client("http://127.0.0.1:8080");
        assert!(
            local
                .check_token_destination(
                    &Url::parse("http://127.0.0.1:9090/v3").expect("url"),
                    "GET x"
                )
                .is_ok()
        );
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let c = client("https://api.sys.example.com");
        let text = format!("{c:?}");
        assert!(!text.contains("\"s\""), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
}
