//! The HTTP core of the Cloud Foundry client: authentication, retries,
//! pagination, and the generic `get`/`post`/`patch`/`list_all` building blocks
//! the typed endpoint methods (and other modules) are made of.
//!
//! Retry rules, because a blindly retried POST can do harm (a second
//! `POST /v3/builds` after a lost response yields StagingInProgress, a second
//! deployment supersedes the first):
//! - GETs are retried on connect errors, resets, timeouts and 502/503/504,
//!   with [`CfClientOptions::backoff`], within the retry budget.
//! - Any request is retried on 429 after `Retry-After` (CC did not process it)
//!   and on connect errors (it never left).
//! - A 401 from Cloud Controller re-authenticates once and retries.
//! - Everything else is returned to the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use url::Url;

use super::auth::{CachedToken, Grant, TokenCache};
use super::error::{CfError, shorten};
use super::models::{Included, Page, RootInfo};
use super::record::{self, Unreadable};
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

/// Requests sent, by kind, for benchmarks and run summaries. Every attempt
/// counts, including retries and token requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub root: u64,
    pub token: u64,
    pub get: u64,
    pub post: u64,
    pub patch: u64,
    pub delete: u64,
    /// Attempts that were retries (already included above).
    pub retries: u64,
    /// 429 responses received.
    pub rate_limited: u64,
    /// Re-authentications after a 401.
    pub reauthentications: u64,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.root + self.token + self.get + self.post + self.patch + self.delete
    }

    /// Requests to Cloud Controller's `/v3` API (everything but `/` and tokens).
    pub fn api(&self) -> u64 {
        self.get + self.post + self.patch + self.delete
    }
}

#[derive(Default)]
struct Counters {
    root: AtomicU64,
    token: AtomicU64,
    get: AtomicU64,
    post: AtomicU64,
    patch: AtomicU64,
    delete: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    reauthentications: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn sent(&self, kind: Kind, method: &Method) {
        let counter = match kind {
            Kind::Root => &self.root,
            Kind::Token => &self.token,
            Kind::Api => match *method {
                Method::POST => &self.post,
                Method::PATCH => &self.patch,
                Method::DELETE => &self.delete,
                _ => &self.get,
            },
        };
        Self::bump(counter);
    }

    fn snapshot(&self) -> RequestCounts {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            root: n(&self.root),
            token: n(&self.token),
            get: n(&self.get),
            post: n(&self.post),
            patch: n(&self.patch),
            delete: n(&self.delete),
            retries: n(&self.retries),
            rate_limited: n(&self.rate_limited),
            reauthentications: n(&self.reauthentications),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Root,
    Token,
    Api,
}

enum Body {
    Empty,
    Json(Vec<u8>),
    Form(String),
}

struct Call {
    method: Method,
    url: Url,
    body: Body,
    kind: Kind,
    /// Safe to send again after a failure that may have reached the server.
    idempotent: bool,
    /// `METHOD /path?query` for messages; never contains credentials.
    label: String,
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
/// Guards against a server whose `next.href` never ends.
const MAX_PAGES: usize = 100_000;

/// A Cloud Controller v3 + UAA client. Cloning is cheap and clones share the
/// connection pool, the cached token and the request counters.
#[derive(Clone)]
pub struct CfClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The API root without a trailing slash.
    api: Url,
    api_base: String,
    client_id: String,
    client_secret: Secret,
    options: CfClientOptions,
    root: OnceCell<RootInfo>,
    token: TokenCache,
    counters: Counters,
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

    /// Makes sure a token can be obtained (e.g. at start-up, to fail fast on
    /// bad credentials).
    pub async fn authenticate(&self) -> Result<(), CfError> {
        self.token().await.map(|_| ())
    }

    async fn token(&self) -> Result<CachedToken, CfError> {
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
        let (label, bytes) = self
            .api_call(Method::POST, path, json_body(path, body)?)
            .await?;
        decode(&label, &bytes)
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
        let (label, bytes) = self
            .api_call(Method::PATCH, path, json_body(path, body)?)
            .await?;
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

    fn resolve(&self, target: &str) -> Result<Url, CfError> {
        let raw = if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else if target.starts_with('/') {
            format!("{}{target}", self.inner.api_base)
        } else {
            format!("{}/{target}", self.inner.api_base)
        };
        Url::parse(&raw).map_err(|e| CfError::Invalid(format!("`{raw}` is not a valid URL: {e}")))
    }

    /// Whether the bearer token may go to `url`. Links from CC may name
    /// another host (its external domain); those are followed, but a token is
    /// never downgraded from https to plain http.
    fn check_token_destination(&self, url: &Url, request: &str) -> Result<(), CfError> {
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

    async fn api_call(
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
                tracing::debug!(request = %call.label, "Cloud Controller refused the token; re-authenticating once");
                self.inner.token.invalidate(token.generation).await;
                continue;
            }
            return into_result(&call.label, status, body);
        }
    }

    /// [`execute`](Self::execute) with any unsuccessful status as an error.
    async fn execute_checked(
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

            let (status, retry_after, body) = match outcome {
                Ok(x) => x,
                Err(e) => {
                    let detail = transport_detail(&e);
                    // A connect error means nothing reached the server.
                    let safe = call.idempotent || e.is_connect();
                    if safe && retries < opts.max_retries {
                        retries += 1;
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

fn json_body<B: Serialize + ?Sized>(path: &str, body: &B) -> Result<Body, CfError> {
    serde_json::to_vec(body).map(Body::Json).map_err(|e| {
        CfError::Invalid(format!(
            "the request body for {path} did not serialize: {e}"
        ))
    })
}

/// A body that is not JSON at all (a router's HTML page, a cut-off body) is
/// [`CfError::Invalid`]; JSON of the wrong shape is [`CfError::Unreadable`],
/// naming the field, so one odd object is reported for its app.
fn decode<T: DeserializeOwned>(request: &str, bytes: &[u8]) -> Result<T, CfError> {
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
fn label(method: &Method, url: &Url) -> String {
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
