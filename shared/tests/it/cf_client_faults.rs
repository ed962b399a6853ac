//! CfClient's authentication and retry corner cases against a small local
//! HTTP server (standing in for Cloud Controller + UAA) whose answers each
//! test scripts precisely, and which records every request it receives.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use restager_shared::cf::{CfClient, CfClientOptions, CfError};
use restager_shared::config::{CfSettings, Secret};
use serde_json::{Value, json};
use url::Url;

const SECRET: &str = "s3cret-value";

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    auth: Option<String>,
    body: String,
    at: Instant,
}

impl Seen {
    fn query_params(&self) -> BTreeMap<String, String> {
        serde_urlencoded::from_str(&self.query).expect("query")
    }
}

/// The `guids` filter of a list request: one batch of what the client asked for.
fn guids_filter(query: &BTreeMap<String, String>) -> Vec<&str> {
    query
        .get("guids")
        .map(|g| g.split(',').collect())
        .unwrap_or_default()
}

/// What the scripted handler answers for a `/v3` request.
type Script = dyn Fn(&Seen, usize) -> Response + Send + Sync;

struct State {
    seen: Mutex<Vec<Seen>>,
    tokens_issued: AtomicU64,
    token_delay: Duration,
    token_lifetime: u64,
    token_status: u16,
    script: Box<Script>,
}

#[derive(Clone)]
struct Server {
    addr: SocketAddr,
    state: Arc<State>,
}

struct ServerSpec {
    token_delay: Duration,
    token_lifetime: u64,
    token_status: u16,
}

impl Default for ServerSpec {
    fn default() -> Self {
        Self {
            token_delay: Duration::ZERO,
            token_lifetime: 3600,
            token_status: 200,
        }
    }
}

impl Server {
    async fn start(
        spec: ServerSpec,
        script: impl Fn(&Seen, usize) -> Response + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind local server");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            seen: Mutex::new(Vec::new()),
            tokens_issued: AtomicU64::new(0),
            token_delay: spec.token_delay,
            token_lifetime: spec.token_lifetime,
            token_status: spec.token_status,
            script: Box::new(script),
        });
        let shared = Arc::clone(&state);
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = Arc::clone(&shared);
                async move { answer(&state, addr, method, uri, headers, body).await }
            },
        );
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("local server serves");
        });
        Self { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").clone()
    }

    fn count(&self, method: &Method, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == *method && s.path == path)
            .count()
    }

    fn token_requests(&self) -> usize {
        self.count(&Method::POST, "/login/oauth/token")
    }

    fn client(&self, options: CfClientOptions) -> CfClient {
        let settings = CfSettings {
            api_url: Url::parse(&self.url()).expect("url"),
            client_id: "restager".into(),
            client_secret: Secret::new(SECRET),
            skip_ssl_validation: false,
        };
        CfClient::with_options(&settings, options).expect("client builds")
    }
}

async fn answer(
    state: &State,
    addr: SocketAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method: method.clone(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    let nth = {
        let mut log = state.seen.lock().expect("lock");
        log.push(seen.clone());
        log.iter()
            .filter(|s| s.method == seen.method && s.path == seen.path)
            .count()
    };
    match (method.as_str(), uri.path()) {
        ("GET", "/") => axum::Json(json!({ "links": {
            "login": { "href": format!("http://{addr}/login") },
            "uaa": { "href": format!("http://{addr}/uaa") },
            "cloud_controller_v3": { "href": format!("http://{addr}/v3"), "meta": { "version": "3.180.0" } }
        }}))
        .into_response(),
        ("POST", "/login/oauth/token") => {
            tokio::time::sleep(state.token_delay).await;
            let form: BTreeMap<String, String> =
                serde_urlencoded::from_bytes(&body).expect("form body");
            let good = form.get("grant_type").map(String::as_str) == Some("client_credentials")
                && form.get("client_id").map(String::as_str) == Some("restager")
                && form.get("client_secret").map(String::as_str) == Some(SECRET)
                && headers.get("accept").and_then(|v| v.to_str().ok()) == Some("application/json");
            if !good || state.token_status == 401 {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error":"unauthorized","error_description":"Bad credentials"})),
                )
                    .into_response();
            }
            let n = state.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
            axum::Json(json!({
                "access_token": format!("token-{n}"), "token_type": "bearer",
                "expires_in": state.token_lifetime, "scope": "cloud_controller.admin", "jti": "j"
            }))
            .into_response()
        }
        _ => (state.script)(&seen, nth),
    }
}

fn fast() -> CfClientOptions {
    CfClientOptions {
        backoff_base: Duration::from_millis(2),
        backoff_max: Duration::from_millis(10),
        request_timeout: Duration::from_secs(5),
        ..CfClientOptions::default()
    }
}

fn app_json(guid: &str) -> Value {
    json!({ "guid": guid, "name": format!("app-{guid}"), "state": "STARTED",
            "lifecycle": { "type": "buildpack", "data": { "buildpacks": [], "stack": "cflinuxfs4" } },
            "relationships": { "space": { "data": { "guid": "space-1" } },
                               "current_droplet": { "data": { "guid": format!("droplet-{guid}") } } },
            "metadata": { "labels": {}, "annotations": {} } })
}

fn cf_error(status: u16, code: i64, title: &str, detail: &str) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        axum::Json(json!({"errors":[{"code":code,"title":title,"detail":detail}]})),
    )
        .into_response()
}

/// A server answering `/v3` with `script`, and a client with fast retries.
async fn scripted(
    script: impl Fn(&Seen, usize) -> Response + Send + Sync + 'static,
) -> (Server, CfClient) {
    app_server_with(ServerSpec::default(), script).await
}

/// CC's 429, asking to be called again after `retry_after` seconds.
fn rate_limited(retry_after: &str) -> Response {
    let mut r = cf_error(429, 10013, "CF-RateLimitExceeded", "Rate Limit Exceeded");
    r.headers_mut()
        .insert("retry-after", retry_after.parse().expect("header"));
    r
}

/// A server whose `/v3` only serves apps, with `spec`'s token behaviour, and a
/// client with fast retries: for the tests about tokens, not about CC answers.
async fn app_server(spec: ServerSpec) -> (Server, CfClient) {
    app_server_with(spec, app_script).await
}

async fn app_server_with(
    spec: ServerSpec,
    script: impl Fn(&Seen, usize) -> Response + Send + Sync + 'static,
) -> (Server, CfClient) {
    let server = Server::start(spec, script).await;
    let client = server.client(fast());
    (server, client)
}

fn app_script(seen: &Seen, _nth: usize) -> Response {
    match seen.path.strip_prefix("/v3/apps/") {
        Some(guid) if !guid.contains('/') => axum::Json(app_json(guid)).into_response(),
        _ => cf_error(404, 10010, "CF-ResourceNotFound", "App not found"),
    }
}

#[tokio::test]
async fn fifty_concurrent_calls_share_one_token_request() {
    let (server, client) = app_server(ServerSpec {
        token_delay: Duration::from_millis(100),
        ..ServerSpec::default()
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = client.clone();
        tasks.push(tokio::spawn(
            async move { c.get_app(&format!("a{i}")).await },
        ));
    }
    for t in tasks {
        let app = t.await.expect("task ran").expect("app fetched");
        assert_eq!(app.state, restager_shared::cf::AppState::Started);
    }
    assert_eq!(server.token_requests(), 1);
    assert_eq!(server.count(&Method::GET, "/"), 1);
    let counts = client.request_counts();
    assert_eq!(counts.token, 1);
    assert_eq!(counts.root, 1);
    assert_eq!(counts.get, 50);
    assert_eq!(counts.total(), 52);
    for s in server.seen().iter().filter(|s| s.path.starts_with("/v3/")) {
        assert_eq!(s.auth.as_deref(), Some("bearer token-1"));
    }
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    let (server, client) = app_server(ServerSpec {
        token_lifetime: 1,
        ..ServerSpec::default()
    })
    .await;
    client.get_app("a").await.expect("first call");
    client.clone().get_app("b").await.expect("reuses the token");
    assert_eq!(server.token_requests(), 1);
    // A 1 s token is refreshed at half its life.
    tokio::time::sleep(Duration::from_millis(600)).await;
    client.get_app("c").await.expect("after refresh");
    assert_eq!(server.token_requests(), 2);
    let last = server.seen().into_iter().last().expect("a request");
    assert_eq!(last.auth.as_deref(), Some("bearer token-2"));
}

#[tokio::test]
async fn a_401_re_authenticates_once_and_retries() {
    let (server, client) = scripted(|seen, _| {
        if seen.auth.as_deref() == Some("bearer token-1") {
            cf_error(401, 1000, "CF-InvalidAuthToken", "Invalid Auth Token")
        } else {
            axum::Json(app_json("a")).into_response()
        }
    })
    .await;
    let app = client
        .get_app("a")
        .await
        .expect("succeeds with a new token");
    assert_eq!(app.guid, "a");
    assert_eq!(server.token_requests(), 2);
    assert_eq!(server.count(&Method::GET, "/v3/apps/a"), 2);
    assert_eq!(client.request_counts().reauthentications, 1);
}

#[tokio::test]
async fn a_persistent_401_is_returned_after_one_re_authentication() {
    let (server, client) =
        scripted(|_, _| cf_error(401, 1000, "CF-InvalidAuthToken", "Invalid Auth Token")).await;
    let err = client
        .get_app("a")
        .await
        .expect_err("401 after re-auth is an error");
    assert_eq!(err.status(), Some(401));
    assert!(err.is_auth());
    assert!(!err.is_transient());
    assert_eq!(server.token_requests(), 2);
    assert_eq!(server.count(&Method::GET, "/v3/apps/a"), 2);
    // A POST is re-sent after a 401 too: CC did not process it.
    let err = client
        .create_build("p", &BTreeMap::new())
        .await
        .expect_err("still 401");
    assert_eq!(err.status(), Some(401));
    assert_eq!(server.count(&Method::POST, "/v3/builds"), 2);
}

#[tokio::test]
async fn bad_client_credentials_are_unauthorized_and_never_leak_the_secret() {
    let (server, client) = app_server(ServerSpec {
        token_status: 401,
        ..ServerSpec::default()
    })
    .await;
    let err = client.get_app("a").await.expect_err("credentials refused");
    assert!(matches!(err, CfError::Unauthorized { .. }), "{err:?}");
    assert!(!err.is_transient());
    let text = format!("{err} {err:?} {client:?}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(text.contains("CF_CLIENT_SECRET"), "{text}");
    assert_eq!(server.token_requests(), 1);
    assert_eq!(server.count(&Method::GET, "/v3/apps/a"), 0);
}

#[tokio::test]
async fn retry_after_is_honoured_for_posts_too() {
    let (server, client) = scripted(|seen, nth| {
        if nth == 1 {
            return rate_limited("1");
        }
        match seen.path.as_str() {
            "/v3/builds" => (
                StatusCode::CREATED,
                axum::Json(json!({"guid":"b1","state":"STAGING","package":{"guid":"p"}})),
            )
                .into_response(),
            _ => app_script(seen, nth),
        }
    })
    .await;
    let build = client
        .create_build("p", &BTreeMap::new())
        .await
        .expect("POST retried after 429");
    assert_eq!(build.guid, "b1");
    let posts: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.path == "/v3/builds")
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(
        posts[1].at.duration_since(posts[0].at) >= Duration::from_millis(950),
        "waited as Retry-After asked"
    );
    assert_eq!(client.request_counts().rate_limited, 1);
}

#[tokio::test]
async fn a_long_retry_after_is_returned_not_slept() {
    let (server, client) = scripted(|_, _| rate_limited("1800")).await;
    let err = client.get_app("a").await.expect_err("rate limited");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1800)));
    assert!(err.is_transient());
    assert!(err.to_string().contains("GET /v3/apps/a"), "{err}");
    assert_eq!(server.count(&Method::GET, "/v3/apps/a"), 1);
}

#[tokio::test]
async fn gets_are_retried_on_503_and_posts_are_not() {
    let (server, client) = scripted(|seen, nth| match (seen.method.as_str(), nth) {
        ("GET", 1 | 2) => cf_error(503, 220002, "CF-InstancesUnavailable", "Diego down"),
        ("GET", _) => app_script(seen, nth),
        _ => cf_error(503, 170010, "CF-StagerUnavailable", "Stager is unavailable"),
    })
    .await;
    client.get_app("a").await.expect("third attempt succeeds");
    assert_eq!(server.count(&Method::GET, "/v3/apps/a"), 3);
    assert_eq!(client.request_counts().retries, 2);

    let err = client
        .create_build("p", &BTreeMap::new())
        .await
        .expect_err("503 on POST");
    assert!(matches!(err, CfError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("CF-StagerUnavailable"), "{err}");
    assert_eq!(server.count(&Method::POST, "/v3/builds"), 1);
}

#[tokio::test]
async fn gets_give_up_after_the_retry_budget() {
    let server = Server::start(ServerSpec::default(), |_, _| {
        StatusCode::BAD_GATEWAY.into_response()
    })
    .await;
    let client = server.client(CfClientOptions {
        max_retries: 2,
        ..fast()
    });
    let err = client.get_app("a").await.expect_err("always 502");
    assert!(matches!(err, CfError::Unavailable { .. }), "{err:?}");
    assert_eq!(server.count(&Method::GET, "/v3/apps/a"), 3);
}

#[tokio::test]
async fn error_bodies_become_typed_api_errors() {
    let (_server, client) = scripted(|seen, _| {
        match (seen.method.as_str(), seen.path.as_str()) {
            ("POST", "/v3/builds") => cf_error(
                422,
                170017,
                "CF-StagingInProgress",
                "Only one build can be STAGING at a time per application.",
            ),
            ("POST", "/v3/deployments") => cf_error(
                422,
                10008,
                "CF-UnprocessableEntity",
                "memory quota_exceeded for organization o. This organization's quota may not be large enough to support rolling deployments or your configured max-in-flight.",
            ),
            ("GET", "/v3/apps/a/droplets/current") => {
                cf_error(404, 10010, "CF-ResourceNotFound", "Droplet not found")
            }
            _ => (StatusCode::OK, "not json").into_response(),
        }
    })
    .await;
    let err = client
        .create_build("p", &BTreeMap::new())
        .await
        .expect_err("staging in progress");
    assert!(err.is_staging_in_progress());
    let err = client
        .create_deployment("a", Some("d"), 2, &BTreeMap::new())
        .await
        .expect_err("quota");
    assert!(err.is_quota());
    assert!(err.to_string().starts_with("POST /v3/deployments"), "{err}");
    assert_eq!(
        client.get_current_droplet("a").await.expect("404 is None"),
        None
    );
    let err = client.get_app("x").await.expect_err("not json");
    assert!(matches!(err, CfError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("GET /v3/apps/x"), "{err}");
}

#[tokio::test]
async fn request_bodies_match_the_cli() {
    let (server, client) = scripted(|seen, _| {
        match seen.path.as_str() {
            "/v3/deployments" => (StatusCode::CREATED, axum::Json(json!({
                "guid": "dep", "status": { "value": "ACTIVE", "reason": "DEPLOYING", "details": {} },
                "strategy": "rolling", "droplet": { "guid": "d" }
            })))
                .into_response(),
            "/v3/builds" => (
                StatusCode::CREATED,
                axum::Json(json!({"guid":"b","state":"STAGING"})),
            )
                .into_response(),
            "/v3/deployments/dep/actions/cancel" => StatusCode::OK.into_response(),
            _ => cf_error(404, 10010, "CF-ResourceNotFound", "nope"),
        }
    }).await;
    let labels = BTreeMap::from([("restager.io/run".to_string(), "r1".to_string())]);
    client
        .create_deployment("a", Some("d"), 3, &labels)
        .await
        .expect("deployment");
    client
        .create_deployment("a", None, 1, &BTreeMap::new())
        .await
        .expect("restart");
    client.create_build("p", &labels).await.expect("build");
    client.cancel_deployment("dep").await.expect("cancel");
    let bodies: Vec<(String, Value)> = server
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/v3/"))
        .map(|s| {
            (
                format!("{} {}", s.method, s.path),
                serde_json::from_str(&s.body).unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(
        bodies[0].1,
        json!({ "droplet": { "guid": "d" }, "strategy": "rolling", "options": { "max_in_flight": 3 },
                "relationships": { "app": { "data": { "guid": "a" } } },
                "metadata": { "labels": { "restager.io/run": "r1" } } })
    );
    assert_eq!(
        bodies[1].1,
        json!({ "strategy": "rolling", "options": { "max_in_flight": 1 },
                "relationships": { "app": { "data": { "guid": "a" } } } })
    );
    assert_eq!(
        bodies[2].1,
        json!({ "package": { "guid": "p" }, "metadata": { "labels": { "restager.io/run": "r1" } } })
    );
    assert_eq!(bodies[3].0, "POST /v3/deployments/dep/actions/cancel");
}

#[tokio::test]
async fn pagination_follows_absolute_links_to_another_host() {
    // The second page lives on another server (another origin); CC's links are absolute.
    let other = Server::start(ServerSpec::default(), |seen, _| {
        assert_eq!(seen.query, "page=2&per_page=2");
        axum::Json(json!({
            "pagination": { "total_results": 3, "total_pages": 2, "next": null },
            "resources": [ app_json("c") ],
            "included": { "spaces": [ { "guid": "space-2", "name": "prod",
                "relationships": { "organization": { "data": { "guid": "org-1" } } } } ],
                "organizations": [] }
        }))
        .into_response()
    })
    .await;
    let next = format!("{}/v3/apps?page=2&per_page=2", other.url());
    let (_server, client) = scripted(move |seen, _| {
        assert!(
            seen.query.contains("include=space.organization"),
            "{}",
            seen.query
        );
        assert!(
            seen.query.contains("lifecycle_type=buildpack"),
            "{}",
            seen.query
        );
        assert!(seen.query.contains("stacks=cflinuxfs4"), "{}", seen.query);
        axum::Json(json!({
            "pagination": { "total_results": 3, "total_pages": 2, "next": { "href": next } },
            "resources": [ app_json("a"), app_json("b") ],
            "included": { "spaces": [ { "guid": "space-1", "name": "dev",
                "relationships": { "organization": { "data": { "guid": "org-1" } } } } ],
                "organizations": [ { "guid": "org-1", "name": "acme" } ] }
        }))
        .into_response()
    })
    .await;
    let listing = client
        .list_apps(&restager_shared::cf::AppQuery {
            lifecycle_type: Some("buildpack".into()),
            stacks: vec!["cflinuxfs4".into()],
            ..Default::default()
        })
        .await
        .expect("listing");
    let names: Vec<&str> = listing.apps.iter().map(|a| a.guid.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(listing.spaces.len(), 2);
    let org = listing.org_of(&listing.apps[0]).expect("org joined");
    assert_eq!(org.name, "acme");
    let other_seen = other.seen();
    assert_eq!(other_seen.len(), 1);
    assert_eq!(other_seen[0].auth.as_deref(), Some("bearer token-1"));
}

#[tokio::test]
async fn droplets_are_fetched_in_bounded_batches() {
    let (server, client) = scripted(|seen, _| {
        let query = seen.query_params();
        let guids = guids_filter(&query);
        assert!(guids.len() <= 100, "batch of {}", guids.len());
        assert_eq!(query.get("per_page").map(String::as_str), Some("5000"));
        let resources: Vec<Value> = guids
            .iter()
            .filter(|g| !g.starts_with("missing"))
            .map(|g| json!({"guid": g, "state": "STAGED", "buildpacks": [], "stack": "cflinuxfs4"}))
            .collect();
        axum::Json(json!({"pagination": {"next": null}, "resources": resources})).into_response()
    })
    .await;
    let mut guids: Vec<String> = (0..250).map(|i| format!("d{i}")).collect();
    guids.push("d0".into());
    guids.push("missing-1".into());
    let droplets = client
        .list_droplets_by_guids(&guids)
        .await
        .expect("droplets");
    assert_eq!(droplets.len(), 250);
    assert_eq!(server.count(&Method::GET, "/v3/droplets"), 3);
    assert!(
        client
            .list_droplets_by_guids(&[])
            .await
            .expect("none")
            .is_empty()
    );
    assert_eq!(server.count(&Method::GET, "/v3/droplets"), 3);
}

/// A server that reads each request and closes the connection without answering.
async fn resetting_server() -> (SocketAddr, Arc<AtomicU64>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            drop(sock);
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn connection_resets_retry_gets_but_not_posts() {
    let (reset_addr, accepted) = resetting_server().await;
    // Token and root come from a healthy server; /v3 goes to the resetting one.
    let healthy = Server::start(ServerSpec::default(), app_script).await;
    let client = healthy.client(CfClientOptions {
        max_retries: 2,
        ..fast()
    });
    let get_url = format!("http://{reset_addr}/v3/apps/a");
    let err = client
        .get::<Value>(&get_url)
        .await
        .expect_err("always reset");
    assert!(matches!(err, CfError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(!err.to_string().contains("token-1"), "{err}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);

    let post_url = format!("http://{reset_addr}/v3/builds");
    let err = client
        .post::<_, Value>(&post_url, &json!({"package":{"guid":"p"}}))
        .await
        .expect_err("reset");
    assert!(matches!(err, CfError::Unavailable { .. }), "{err:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 4, "the POST was sent once");
}

#[tokio::test]
async fn connect_errors_are_retried_even_for_posts() {
    // Bind then drop: nothing listens on this port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let healthy = Server::start(ServerSpec::default(), app_script).await;
    let client = healthy.client(CfClientOptions {
        max_retries: 2,
        ..fast()
    });
    let err = client
        .post::<_, Value>(&format!("http://127.0.0.1:{port}/v3/builds"), &json!({}))
        .await
        .expect_err("refused");
    assert!(matches!(err, CfError::Unavailable { .. }), "{err:?}");
    assert_eq!(client.request_counts().retries, 2);
}

#[tokio::test]
async fn long_app_guid_filters_are_split_into_batches() {
    let (server, client) = scripted(|seen, _| {
        let query = seen.query_params();
        let guids = guids_filter(&query);
        assert!(
            !guids.is_empty() && guids.len() <= 100,
            "batch of {}",
            guids.len()
        );
        assert_eq!(
            query.get("include").map(String::as_str),
            Some("space.organization")
        );
        let resources: Vec<Value> = guids.iter().map(|g| app_json(g)).collect();
        axum::Json(json!({
            "pagination": {"next": null}, "resources": resources,
            "included": { "spaces": [ { "guid": "space-1", "name": "dev",
                "relationships": { "organization": { "data": { "guid": "org-1" } } } } ],
                "organizations": [ { "guid": "org-1", "name": "acme" } ] }
        }))
        .into_response()
    })
    .await;
    let guids: Vec<String> = (0..150).map(|i| format!("a{i}")).collect();
    let listing = client
        .list_apps(&restager_shared::cf::AppQuery {
            guids: guids.clone(),
            ..Default::default()
        })
        .await
        .expect("listing");
    let got: Vec<String> = listing.apps.iter().map(|a| a.guid.clone()).collect();
    assert_eq!(got, guids, "all apps, in order");
    assert_eq!(server.count(&Method::GET, "/v3/apps"), 2);
    assert_eq!(listing.spaces.len(), 1);
    assert_eq!(listing.orgs.len(), 1);
}
