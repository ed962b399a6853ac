//! `/v3/apps` and the app-scoped endpoints.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::error::ApiError;
use super::query::{LabelSelector, Query, directed, passes, sort_by_time};
use super::{S, found, list_response, now, object_body, ok, paginate};
use crate::model::{App, AppState, Droplet, DropletState, LifecycleKind};
use crate::present;
use crate::world::World;

pub(crate) async fn list(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&[
        "guids",
        "names",
        "space_guids",
        "organization_guids",
        "stacks",
        "lifecycle_type",
        "label_selector",
        "include",
        "order_by",
        "created_ats",
        "updated_ats",
    ])?;
    let include = parse_include(&q)?;
    let (field, desc) = q.order(&["created_at", "updated_at", "name", "state"], "created_at")?;
    let selector = q.label_selector()?;
    let times = q.time_filters()?;
    let mut w = s.lock();
    let body = {
        let mut apps = filter_apps(&w, &q, selector.as_ref(), &field, desc);
        apps.retain(|a| times.matches(a.created_at, a.updated_at));
        let (pagination, page) = paginate(&w, "/v3/apps", &q, &apps)?;
        let multi_page = page.len() < apps.len() && q.get("page").is_none_or(|p| p == "1");
        let body = AppPage {
            pagination,
            resources: page.iter().map(|a| present::app_entry(&w, a)).collect(),
            included: include.map(|(spaces, orgs)| included(&w, page, spaces, orgs)),
        };
        (serde_json::to_vec(&body), multi_page)
    };
    let (body, multi_page) = body;
    if multi_page
        && w.faults
            .fire_eq("", &crate::faults::Fault::InsertBetweenPages)
    {
        insert_front_app(&mut w);
    }
    let body = body.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            10001,
            "UnknownError",
            format!("An unknown error occurred: {e}"),
        )
    })?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

/// `GET /v3/apps` body, serialized straight from borrowed views.
#[derive(serde::Serialize)]
struct AppPage<'a> {
    pagination: Value,
    resources: Vec<present::AppEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    included: Option<Value>,
}

fn filter_apps<'a>(
    w: &'a World,
    q: &Query,
    selector: Option<&LabelSelector>,
    field: &str,
    desc: bool,
) -> Vec<&'a App> {
    let guids = q.list("guids");
    let names = q.list("names");
    let spaces = q.list("space_guids");
    let orgs = q.list("organization_guids");
    let stacks = q.list("stacks");
    let lifecycle = q.get("lifecycle_type");
    let mut apps: Vec<&App> = match &guids {
        Some(g) => g.iter().filter_map(|g| w.apps.get(g)).collect(),
        None => w.apps.iter().collect(),
    };
    apps.retain(|a| {
        passes(&names, &a.name)
            && passes(&spaces, &a.space_guid)
            && (orgs.is_none()
                || w.spaces
                    .get(&a.space_guid)
                    .is_some_and(|s| passes(&orgs, &s.org_guid)))
            && (stacks.is_none()
                || (a.lifecycle == LifecycleKind::Buildpack && passes(&stacks, &a.stack)))
            && lifecycle.is_none_or(|l| l == a.lifecycle.as_str())
            && selector.is_none_or(|s| s.matches(&a.labels))
    });
    if guids.is_some() {
        // Looked up in request order; restore creation order first.
        let order: std::collections::HashMap<&str, usize> = w
            .apps
            .iter()
            .enumerate()
            .filter(|(_, a)| guids.as_ref().is_some_and(|g| g.contains(&a.guid)))
            .map(|(i, a)| (a.guid.as_str(), i))
            .collect();
        apps.sort_by_key(|a| order.get(a.guid.as_str()).copied().unwrap_or(0));
        apps.dedup_by(|a, b| a.guid == b.guid);
    }
    apps.sort_by(|a, b| {
        let ord = match field {
            "name" => a.name.cmp(&b.name),
            "state" => a.state.as_str().cmp(b.state.as_str()),
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            _ => a.created_at.cmp(&b.created_at),
        };
        directed(ord, desc)
    });
    apps
}

/// `include` as AppsListMessage / AppShowMessage validate it
/// (IncludeParamValidator, app/messages/base_message.rb): `(spaces, orgs)`.
fn parse_include(q: &Query) -> Result<Option<(bool, bool)>, ApiError> {
    let Some(raw) = q.get("include") else {
        return Ok(None);
    };
    const VALID: [&str; 3] = ["space", "org", "space.organization"];
    let mut errors = Vec::new();
    let mut seen = Vec::new();
    for candidate in raw.split(',') {
        if VALID.contains(&candidate) {
            if seen.contains(&candidate) {
                errors.push(format!("Duplicate included resource: '{candidate}'"));
            }
            seen.push(candidate);
        } else {
            errors.push(format!(
                "Invalid included resource: '{candidate}'. Valid included resources are: '{}'",
                VALID.join("', '")
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::bad_query(errors.join(", ")));
    }
    // IncludeSpaceDecorator: space or space.organization;
    // IncludeOrganizationDecorator: org or space.organization.
    let spaces = seen
        .iter()
        .any(|i| *i == "space" || *i == "space.organization");
    let orgs = seen
        .iter()
        .any(|i| *i == "org" || *i == "space.organization");
    Ok(Some((spaces, orgs)))
}

fn included(w: &World, apps: &[&App], with_spaces: bool, with_orgs: bool) -> Value {
    let space_guids: BTreeSet<&str> = apps.iter().map(|a| a.space_guid.as_str()).collect();
    let spaces: Vec<_> = space_guids.iter().filter_map(|g| w.spaces.get(g)).collect();
    let mut inc = json!({});
    if with_spaces {
        inc["spaces"] = Value::Array(spaces.iter().map(|s| present::space(w, s)).collect());
    }
    if with_orgs {
        let org_guids: BTreeSet<&str> = spaces.iter().map(|s| s.org_guid.as_str()).collect();
        inc["organizations"] = Value::Array(
            org_guids
                .iter()
                .filter_map(|g| w.orgs.get(g))
                .map(|o| present::org(w, o))
                .collect(),
        );
    }
    inc
}

/// The "item inserted between pages" fault: a new app that sorts first by
/// creation time, shifting every later page by one.
fn insert_front_app(w: &mut World) {
    let Some(first) = w.apps.iter().map(|a| a.created_at).min() else {
        return;
    };
    let Some(template) = w.apps.iter().next() else {
        return;
    };
    let space = w.spaces.get(&template.space_guid);
    let org = space.and_then(|s| w.orgs.get(&s.org_guid));
    let mut spec = crate::seed::AppSpec::new(format!("late-arrival-{}", w.apps.len()));
    if let (Some(space), Some(org)) = (space, org) {
        spec.space = space.name.clone();
        spec.org = org.name.clone();
    }
    let guid = w.insert_app(&spec, None, now());
    if let Some(app) = w.apps.get_mut(&guid) {
        app.created_at = first - chrono::Duration::seconds(1);
    }
}

fn find_app<'a>(w: &'a World, guid: &str) -> Result<&'a App, ApiError> {
    w.apps.get(guid).ok_or_else(|| ApiError::not_found("App"))
}

pub(crate) async fn show(
    State(s): S,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow_only(&["include"])?;
    let include = parse_include(&q)?;
    let w = s.lock();
    let app = find_app(&w, &guid)?;
    let mut body = present::app(&w, app);
    // AppsController#show: the decorators add `included` inside the app object.
    if let Some((spaces, orgs)) = include
        && body.is_object()
    {
        body["included"] = included(&w, &[app], spaces, orgs);
    }
    Ok(ok(body))
}

pub(crate) async fn current_droplet(
    State(s): S,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    let w = s.lock();
    let app = find_app(&w, &guid)?;
    let droplet = found(current_droplet_of(&w, app), "Droplet")?;
    Ok(ok(present::droplet(&w, droplet, false)))
}

pub(crate) async fn current_droplet_relationship(
    State(s): S,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    let w = s.lock();
    let app = find_app(&w, &guid)?;
    // AppsController#current_droplet_relationship: no droplet → 404
    // "Droplet not found" (app/controllers/v3/apps_controller.rb).
    found(current_droplet_of(&w, app), "Droplet")?;
    Ok(ok(relationship(&w, app)))
}

fn current_droplet_of<'a>(w: &'a World, app: &App) -> Option<&'a Droplet> {
    app.current_droplet
        .as_deref()
        .and_then(|d| w.droplets.get(d))
}

/// AppDropletRelationshipPresenter (app/presenters/v3/app_droplet_relationship_presenter.rb).
fn relationship(w: &World, app: &App) -> Value {
    let b = &w.base_url;
    json!({
        "data": app.current_droplet.as_ref().map(|d| json!({"guid": d})),
        "links": {
            "self": {"href": format!("{b}/v3/apps/{}/relationships/current_droplet", app.guid)},
            "related": {"href": format!("{b}/v3/apps/{}/droplets/current", app.guid)},
        }
    })
}

pub(crate) async fn assign_droplet(
    State(s): S,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = object_body(&body)?;
    let droplet_guid = body
        .get("data")
        .and_then(|d| d.get("guid"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut w = s.lock();
    find_app(&w, &guid)?;
    let assign_failed = || {
        ApiError::unprocessable(
            "Unable to assign current droplet. Ensure the droplet exists and belongs to this app.",
        )
    };
    let droplet_guid = droplet_guid.ok_or_else(assign_failed)?;
    let ok_droplet = w
        .droplets
        .get(&droplet_guid)
        .is_some_and(|d| d.app_guid == guid && d.state == DropletState::Staged);
    if !ok_droplet {
        return Err(assign_failed());
    }
    if w.active_deployment_of(&guid).is_some() {
        return Err(ApiError::unprocessable(
            "Unable to assign current droplet while the app has a deployment in progress. Wait for the deployment to complete or cancel it.",
        ));
    }
    let ts = Utc::now();
    let app = found(w.apps.get_mut(&guid), "App")?;
    app.current_droplet = Some(droplet_guid);
    app.updated_at = ts;
    let app = find_app(&w, &guid)?;
    Ok(ok(relationship(&w, app)))
}

pub(crate) async fn start(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let mut w = s.lock();
    let app = find_app(&w, &guid)?;
    if app.current_droplet.is_none() {
        return Err(ApiError::unprocessable(
            "Assign a droplet before starting this app.",
        ));
    }
    let was_stopped = app.state == AppState::Stopped;
    let t = now();
    if was_stopped {
        // The processes start on the current droplet (AppStart).
        let droplet = app.current_droplet.clone();
        for p in w.processes.guids_for_app(&guid) {
            if let Some(proc_) = w.processes.get_mut(&p) {
                proc_.restart(t);
                if proc_.kind == "web" {
                    proc_.droplet_guid = droplet.clone();
                }
            }
            w.arm_crashes(&p, t);
        }
    }
    set_state(&mut w, &guid, AppState::Started)
}

pub(crate) async fn stop(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let mut w = s.lock();
    find_app(&w, &guid)?;
    set_state(&mut w, &guid, AppState::Stopped)
}

/// The end of start and stop: the app's new state, and the app as shown.
fn set_state(w: &mut World, guid: &str, state: AppState) -> Result<Response, ApiError> {
    let ts = Utc::now();
    let app = found(w.apps.get_mut(guid), "App")?;
    app.state = state;
    app.updated_at = ts;
    let app = find_app(w, guid)?;
    Ok(ok(present::app(w, app)))
}

pub(crate) async fn processes(
    State(s): S,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&["types", "guids", "order_by", "label_selector"])?;
    let types = q.list("types");
    let w = s.lock();
    find_app(&w, &guid)?;
    let list: Vec<_> = w
        .live_processes(&guid)
        .into_iter()
        .filter(|p| passes(&types, &p.kind))
        .collect();
    let path = format!("/v3/apps/{guid}/processes");
    list_response(&w, &path, &q, &list, |p| present::process(&w, p, true))
}

pub(crate) async fn droplets(
    State(s): S,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&["current", "states", "guids", "order_by", "label_selector"])?;
    let states = q.list("states");
    let guids = q.list("guids");
    // DropletsListMessage: `current` only accepts 'true'.
    let current_only = match q.get("current") {
        None => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_query("Current only accepts the value 'true'"));
        }
    };
    let (field, desc) = q.order(&["created_at", "updated_at"], "created_at")?;
    let w = s.lock();
    let app = find_app(&w, &guid)?;
    // An app without a current droplet lists none for current=true (an empty page, not 404).
    let mut list: Vec<_> = w
        .droplets
        .for_app(&guid)
        .filter(|d| passes(&states, d.state.as_str()) && passes(&guids, &d.guid))
        .filter(|d| !current_only || app.current_droplet.as_deref() == Some(d.guid.as_str()))
        .collect();
    sort_by_time(&mut list, &field, desc, |x| (x.created_at, x.updated_at));
    let path = format!("/v3/apps/{guid}/droplets");
    list_response(&w, &path, &q, &list, |d| present::droplet(&w, d, true))
}

pub(crate) async fn packages(
    State(s): S,
    Path(guid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&["states", "types", "guids", "order_by", "label_selector"])?;
    let w = s.lock();
    find_app(&w, &guid)?;
    let list = super::resources::filter_packages(&w, &q, Some(vec![guid.clone()]))?;
    let path = format!("/v3/apps/{guid}/packages");
    list_response(&w, &path, &q, &list, |p| present::package(&w, p))
}
