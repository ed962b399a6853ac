//! The admin route table and its handlers. A route is a [`Route`] variant,
//! one arm in [`Route::of`] (method and path) and one in [`answer`]; auth
//! is checked in one place for every route but `/metrics`.

use bytes::Bytes;
use chrono::Utc;
use http::{Method, Request, Response, StatusCode, header};
use restager_shared::domain::RunId;
use restager_shared::rollout::{self, Command, RolloutError};

use super::auth;
use super::page;
use super::reply;
use super::{AdminApi, metrics};
use crate::runs::model::{RunDetail, RunSummary};

/// Runs `GET /runs` lists without `?limit`.
pub const DEFAULT_LIMIT: usize = 20;
/// The most it lists.
pub const MAX_LIMIT: usize = 10_000;

/// An admin request, by method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics`
    Metrics,
    /// `GET /runs`
    Runs,
    /// `GET /runs/{id}`
    Run(String),
    /// `POST /runs/{id}/pause|resume|abort`
    Control(String, Command),
    /// A known path with a method it does not answer.
    WrongMethod(&'static str),
}

impl Route {
    /// The admin route `method path` asks for; `None` when the path is not
    /// an admin one.
    pub fn of(method: &Method, path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let get = |route: Route| {
            if method == Method::GET || method == Method::HEAD {
                route
            } else {
                Route::WrongMethod("GET, HEAD")
            }
        };
        match segments.as_slice() {
            ["metrics"] => Some(get(Route::Metrics)),
            ["runs"] => Some(get(Route::Runs)),
            ["runs", id] => Some(get(Route::Run((*id).to_string()))),
            ["runs", id, action] => {
                let command = action.parse::<Command>().ok()?;
                Some(if method == Method::POST {
                    Route::Control((*id).to_string(), command)
                } else {
                    Route::WrongMethod("POST")
                })
            }
            _ => None,
        }
    }

    /// Open to anyone who can reach serve: no secrets, no app names.
    fn is_public(&self) -> bool {
        matches!(self, Route::Metrics)
    }
}

pub async fn answer(api: &AdminApi, route: Route, request: &Request<Bytes>) -> Response<Bytes> {
    if !route.is_public()
        && let Err(refused) = auth::check(api.token.as_ref(), request.headers(), request.uri())
    {
        return refused.response();
    }
    match route {
        Route::Metrics => metrics::scrape(api).await,
        Route::Runs => runs(api, request).await,
        Route::Run(id) => run(api, &id, wants_html(request)).await,
        Route::Control(id, command) => control(api, &id, command, request).await,
        Route::WrongMethod(allow) => reply::method_not_allowed(allow),
    }
}

/// A browser asks for HTML first; scripts and `status --server` for JSON.
fn wants_html(request: &Request<Bytes>) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept
                .split(',')
                .next()
                .is_some_and(|first| first.trim().starts_with("text/html"))
        })
}

/// `?limit=N`, or why it is not a limit.
fn limit(request: &Request<Bytes>) -> Result<usize, String> {
    let Some(query) = request.uri().query() else {
        return Ok(DEFAULT_LIMIT);
    };
    match url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "limit") {
        None => Ok(DEFAULT_LIMIT),
        Some((_, v)) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| format!("limit must be a number from 1 to {MAX_LIMIT}")),
    }
}

async fn runs(api: &AdminApi, request: &Request<Bytes>) -> Response<Bytes> {
    let limit = match limit(request) {
        Ok(n) => n,
        Err(why) => return reply::error(StatusCode::BAD_REQUEST, why),
    };
    match api.ledger.list_runs(limit).await {
        Ok(views) => {
            let runs: Vec<RunSummary> = views.iter().map(RunSummary::of).collect();
            if wants_html(request) {
                reply::html(page::runs_page(&runs))
            } else {
                reply::json(StatusCode::OK, &runs)
            }
        }
        Err(e) => ledger_unavailable(&e),
    }
}

async fn run(api: &AdminApi, raw: &str, html: bool) -> Response<Bytes> {
    let Ok(id) = RunId::parse(raw) else {
        return reply::error(
            StatusCode::BAD_REQUEST,
            "not a run id: give the whole id `GET /runs` lists",
        );
    };
    match api.ledger.get_run(&id).await {
        Ok(Some(view)) => {
            let detail = RunDetail::of(&view);
            if html {
                reply::html(page::run_page(&detail, Utc::now()))
            } else {
                reply::json(StatusCode::OK, &detail)
            }
        }
        Ok(None) => reply::missing("run", format!("no run {id} in the ledger")),
        Err(e) => ledger_unavailable(&e),
    }
}

/// Who a control is recorded as: the `X-Restager-Actor` header's name
/// (a person behind a script), else `admin API`.
fn actor(request: &Request<Bytes>) -> String {
    request
        .headers()
        .get("x-restager-actor")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|name| !name.is_empty() && name.len() <= 64 && !name.chars().any(char::is_control))
        .map_or_else(
            || "admin API".to_string(),
            |name| format!("{name} (admin API)"),
        )
}

async fn control(
    api: &AdminApi,
    raw: &str,
    command: Command,
    request: &Request<Bytes>,
) -> Response<Bytes> {
    let Ok(id) = RunId::parse(raw) else {
        return reply::error(
            StatusCode::BAD_REQUEST,
            "not a run id: give the whole id `GET /runs` lists",
        );
    };
    let by = actor(request);
    match rollout::apply(api.ports(), &id, command, &by, Utc::now()).await {
        Ok(report) => reply::json(StatusCode::OK, &report),
        Err(RolloutError::UnknownRun(_)) => {
            reply::missing("run", format!("no run {id} in the ledger"))
        }
        Err(e @ (RolloutError::Refused(_) | RolloutError::NoRollout(_))) => {
            reply::error(StatusCode::CONFLICT, e.to_string())
        }
        Err(e) => reply::error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

fn ledger_unavailable(e: &impl std::fmt::Display) -> Response<Bytes> {
    reply::error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the ledger cannot be read right now ({e}); try again"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes_and_others_are_left_alone() {
        let get = Method::GET;
        assert_eq!(Route::of(&get, "/runs"), Some(Route::Runs));
        assert_eq!(Route::of(&get, "/runs/"), Some(Route::Runs));
        assert_eq!(Route::of(&get, "/runs/abc"), Some(Route::Run("abc".into())));
        assert_eq!(Route::of(&get, "/metrics"), Some(Route::Metrics));
        assert_eq!(
            Route::of(&Method::DELETE, "/runs"),
            Some(Route::WrongMethod("GET, HEAD"))
        );
        for other in ["/healthz", "/webhooks/notice", "/", "/runs/a/b/c"] {
            assert_eq!(Route::of(&get, other), None, "{other}");
        }
    }
}
