//! The HTTP surface: router, request gate (faults, auth, rate limit),
//! request log, and helpers shared by the handlers.

pub(crate) mod apps;
pub(crate) mod audit_events;
pub(crate) mod builds;
pub(crate) mod deployments;
pub(crate) mod error;
pub(crate) mod query;
pub(crate) mod quotas;
pub(crate) mod resources;
pub(crate) mod uaa;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use self::error::ApiError;
use self::query::{Paged, Query};
use crate::faults::Fault;
use crate::net::ConnKill;
use crate::record::RecordedRequest;
use crate::world::World;

/// State shared by the server, the updater and the `CfSim` handle.
pub(crate) struct Shared {
    world: Mutex<World>,
}

impl Shared {
    pub(crate) fn new(world: World) -> Self {
        Self {
            world: Mutex::new(world),
        }
    }

    /// The world, even if a panicking holder poisoned the lock (the data
    /// is still consistent: every mutation completes before unlocking).
    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) type S = State<Arc<Shared>>;

/// Request text fault targets are matched against (path, query, body).
#[derive(Clone)]
struct Subject(String);

/// Marks a response whose connection was reset instead of answered.
#[derive(Clone)]
struct WasReset;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(uaa::root))
        .route("/v3", get(uaa::v3_root))
        .route("/oauth/token", post(uaa::token))
        .route("/v3/apps", get(apps::list))
        .route("/v3/apps/{guid}", get(apps::show))
        .route(
            "/v3/apps/{guid}/droplets/current",
            get(apps::current_droplet),
        )
        .route("/v3/apps/{guid}/droplets", get(apps::droplets))
        .route("/v3/apps/{guid}/packages", get(apps::packages))
        .route(
            "/v3/apps/{guid}/relationships/current_droplet",
            get(apps::current_droplet_relationship).patch(apps::assign_droplet),
        )
        .route("/v3/apps/{guid}/actions/start", post(apps::start))
        .route("/v3/apps/{guid}/actions/stop", post(apps::stop))
        .route("/v3/apps/{guid}/processes", get(apps::processes))
        .route("/v3/processes", get(quotas::processes))
        .route("/v3/processes/{guid}", get(resources::process))
        .route("/v3/processes/{guid}/stats", get(resources::process_stats))
        .route("/v3/droplets", get(resources::droplets))
        .route("/v3/droplets/{guid}", get(resources::droplet))
        .route("/v3/packages", get(resources::packages))
        .route("/v3/packages/{guid}", get(resources::package))
        .route("/v3/buildpacks", get(resources::buildpacks))
        .route("/v3/stacks", get(resources::stacks))
        .route("/v3/stacks/{guid}", get(resources::stack))
        .route("/v3/spaces", get(resources::spaces))
        .route("/v3/spaces/{guid}", get(resources::space))
        .route("/v3/organizations", get(resources::orgs))
        .route("/v3/organizations/{guid}", get(resources::org))
        .route("/v3/space_quotas", get(quotas::space_quotas))
        .route("/v3/space_quotas/{guid}", get(quotas::space_quota))
        .route("/v3/organization_quotas", get(quotas::org_quotas))
        .route("/v3/organization_quotas/{guid}", get(quotas::org_quota))
        .route("/v3/audit_events", get(audit_events::list))
        .route("/v3/audit_events/{guid}", get(audit_events::show))
        .route("/v3/builds", get(builds::list).post(builds::create))
        .route("/v3/builds/{guid}", get(builds::show))
        .route(
            "/v3/deployments",
            get(deployments::list).post(deployments::create),
        )
        .route(
            "/v3/deployments/{guid}",
            get(deployments::show).patch(deployments::update),
        )
        .route(
            "/v3/deployments/{guid}/actions/cancel",
            post(deployments::cancel),
        )
        .route(
            "/v3/deployments/{guid}/actions/continue",
            post(deployments::continue_),
        )
        .route("/v3/{*rest}", get(unknown).post(unknown).patch(unknown))
        .fallback(unknown)
        .layer(from_fn_with_state(shared.clone(), gate))
        .layer(from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

async fn unknown() -> ApiError {
    ApiError::unknown_request()
}

/// Outermost layer: wait out the modelled latency, buffer the body, log
/// the exchange.
async fn record(State(s): S, req: Request, next: Next) -> Response {
    let latency = s.lock().cfg.response_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let received_at = std::time::Instant::now();
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let is_form = parts.uri.path() == "/oauth/token";
    let json: Option<Value> = if is_form || bytes.is_empty() {
        None
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let subject = format!(
        "{} {} {}",
        path,
        query.as_deref().unwrap_or(""),
        json.as_ref().map(Value::to_string).unwrap_or_default()
    );
    parts.extensions.insert(Subject(subject));
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = if resp.extensions().get::<WasReset>().is_some() {
        0
    } else {
        resp.status().as_u16()
    };
    s.lock().requests.push(RecordedRequest {
        method,
        path,
        query,
        body: json,
        status,
        received_at,
        handling: received_at.elapsed(),
    });
    resp
}

fn reset(req_kill: Option<ConnKill>) -> Response {
    if let Some(kill) = req_kill {
        kill.trigger();
    }
    let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    resp.extensions_mut().insert(WasReset);
    resp
}

/// Network faults, authentication and rate limiting for `/v3`.
async fn gate(State(s): S, req: Request, next: Next) -> Response {
    let now = Instant::now();
    let path = req.uri().path().to_owned();
    let kill = req
        .extensions()
        .get::<ConnectInfo<ConnKill>>()
        .map(|c| c.0.clone());
    if !path.starts_with("/v3") {
        s.lock().settle_builds(now);
        return next.run(req).await;
    }
    let subject = req
        .extensions()
        .get::<Subject>()
        .map(|s| s.0.clone())
        .unwrap_or_default();
    let is_get = req.method() == Method::GET;
    let mut lost_response = false;
    let rate_headers;
    {
        let mut w = s.lock();
        w.settle_builds(now);
        w.advance_instances(now);
        let network = w.faults.fire(&subject, |f| match f {
            Fault::ConnectionReset if is_get => Some(f.clone()),
            Fault::RateLimited { .. }
            | Fault::BadGateway
            | Fault::ServiceUnavailable
            | Fault::LostResponse => Some(f.clone()),
            _ => None,
        });
        match network {
            Some(Fault::ConnectionReset) => return reset(kill),
            Some(Fault::RateLimited { retry_after_secs }) => {
                return with_rate_headers(
                    ApiError::rate_limited(retry_after_secs).into_response(),
                    w.cfg.rate_limit.as_ref().map(|r| r.limit).unwrap_or(2000),
                    0,
                    Utc::now()
                        .timestamp()
                        .saturating_add_unsigned(retry_after_secs),
                );
            }
            Some(Fault::BadGateway) => {
                return plain_text(
                    StatusCode::BAD_GATEWAY,
                    "502 Bad Gateway: Registered endpoint failed to handle the request.\n",
                );
            }
            Some(Fault::ServiceUnavailable) => {
                return plain_text(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable\n");
            }
            Some(Fault::LostResponse) => lost_response = true,
            _ => {}
        }
        if path != "/v3" {
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .and_then(|v| {
                    v.get(..7)
                        .filter(|p| p.eq_ignore_ascii_case("bearer "))
                        .map(|_| v[7..].trim().to_owned())
                });
            match token {
                None => return ApiError::not_authenticated().into_response(),
                Some(t) => match w.tokens.get(&t) {
                    Some(exp) if *exp > now => {}
                    _ => return ApiError::invalid_token().into_response(),
                },
            }
        }
        rate_headers = match w.cfg.rate_limit.clone() {
            Some(limit) if path != "/v3" => {
                if now.saturating_duration_since(w.rate.started) >= limit.window {
                    w.rate.started = now;
                    w.rate.started_wall = Utc::now();
                    w.rate.count = 0;
                }
                let reset_at = (w.rate.started_wall
                    + chrono::Duration::from_std(limit.window).unwrap_or_default())
                .timestamp();
                if w.rate.count >= limit.limit {
                    let wait = u64::try_from(reset_at - Utc::now().timestamp())
                        .unwrap_or(0)
                        .max(1);
                    return with_rate_headers(
                        ApiError::rate_limited(wait).into_response(),
                        limit.limit,
                        0,
                        reset_at,
                    );
                }
                w.rate.count += 1;
                Some((limit.limit, limit.limit - w.rate.count, reset_at))
            }
            _ => None,
        };
    }
    let resp = next.run(req).await;
    if lost_response {
        return reset(kill);
    }
    match rate_headers {
        Some((limit, remaining, reset_at)) => with_rate_headers(resp, limit, remaining, reset_at),
        None => resp,
    }
}

/// A router's own text answer (gorouter, a load balancer), not CC's JSON.
fn plain_text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn with_rate_headers(mut resp: Response, limit: u32, remaining: u32, reset: i64) -> Response {
    let h = resp.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

pub(crate) fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

pub(crate) fn created(v: Value) -> Response {
    (StatusCode::CREATED, axum::Json(v)).into_response()
}

/// Base URL for pagination links; a fault may swap the host.
fn link_base(w: &World) -> String {
    match w.faults.peek(|f| match f {
        Fault::PaginationHost(h) => Some(h.clone()),
        _ => None,
    }) {
        Some(host) => format!("http://{host}:{}", w.port),
        None => w.base_url.clone(),
    }
}

/// Slice a filtered, sorted list into a page and build CC's list body.
pub(crate) fn paginate<'a, T>(
    w: &World,
    path: &str,
    q: &Query,
    items: &'a [&'a T],
) -> Result<(Value, &'a [&'a T]), ApiError> {
    let (page, per_page) = q.page(w.cfg.max_per_page)?;
    let base = link_base(w);
    let paged = Paged {
        base: &base,
        path,
        query: q,
        page,
        per_page,
        total: items.len(),
    };
    let range = paged.range();
    Ok((paged.pagination(), &items[range]))
}

pub(crate) fn list_body(pagination: Value, resources: Vec<Value>) -> Value {
    json!({"pagination": pagination, "resources": resources})
}

/// The 200 for a list endpoint: the page of `items` the query asks for,
/// each shown by `present`.
pub(crate) fn list_response<T>(
    w: &World,
    path: &str,
    q: &Query,
    items: &[&T],
    present: impl Fn(&T) -> Value,
) -> Result<Response, ApiError> {
    let (pagination, page) = paginate(w, path, q, items)?;
    let resources = page.iter().map(|item| present(item)).collect();
    Ok(ok(list_body(pagination, resources)))
}

/// The resource a show or action addresses, or CC's 404 "`what` not found".
pub(crate) fn found<T>(item: Option<T>, what: &str) -> Result<T, ApiError> {
    item.ok_or_else(|| ApiError::not_found(what))
}

/// Whether the app lives in a space and org the `space_guids` and
/// `organization_guids` filters pass (always, when neither is given).
pub(crate) fn in_spaces(
    w: &World,
    app_guid: &str,
    spaces: &Option<Vec<String>>,
    orgs: &Option<Vec<String>>,
) -> bool {
    if spaces.is_none() && orgs.is_none() {
        return true;
    }
    w.apps
        .get(app_guid)
        .and_then(|a| w.spaces.get(&a.space_guid))
        .is_some_and(|s| query::passes(spaces, &s.guid) && query::passes(orgs, &s.org_guid))
}

/// A JSON object body, or CC's parse error.
pub(crate) fn object_body(bytes: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::unprocessable(
            "Request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::message_parse(e.to_string())),
    }
}

/// `422 Unknown field(s)` as CC's message validators report extra keys.
pub(crate) fn reject_unknown(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    let unknown: Vec<String> = map
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("'{k}'"))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ApiError::unprocessable(format!(
            "Unknown field(s): {}",
            unknown.join(", ")
        )))
    }
}

/// Guid inside `{"guid": ...}` at `key`, if present.
pub(crate) fn guid_at(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)?.get("guid")?.as_str().map(str::to_owned)
}

pub(crate) fn now() -> Instant {
    Instant::now()
}

pub(crate) fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}
