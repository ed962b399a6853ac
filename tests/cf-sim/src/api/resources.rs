//! Read-only resources: droplets, packages, buildpacks, stacks, spaces,
//! organizations, processes and their stats.

use std::collections::HashSet;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::error::ApiError;
use super::query::{Query, directed, passes, sort_by_time};
use super::{S, found, in_spaces, list_response, now, ok};
use crate::faults::Fault;
use crate::model::{Droplet, Package, Process};
use crate::present;
use crate::version::since;
use crate::world::World;

pub(crate) async fn droplets(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow_with_list_params(&[
        "guids",
        "states",
        "app_guids",
        "space_guids",
        "organization_guids",
    ])?;
    let guids = q.list("guids");
    let states = q.list("states");
    let app_guids = q.list("app_guids");
    let spaces = q.list("space_guids");
    let orgs = q.list("organization_guids");
    let selector = q.label_selector()?;
    let times = q.time_filters()?;
    let (field, desc) = q.order(&["created_at", "updated_at"], "created_at")?;
    let w = s.lock();
    let mut list: Vec<&Droplet> = match &guids {
        Some(g) => {
            let mut seen = HashSet::new();
            g.iter()
                .filter(|g| seen.insert(g.as_str()))
                .filter_map(|g| w.droplets.get(g))
                .collect()
        }
        None => w.droplets.for_apps(&app_guids),
    };
    list.retain(|d| {
        passes(&states, d.state.as_str())
            && passes(&app_guids, &d.app_guid)
            && selector.as_ref().is_none_or(|s| s.matches(&d.labels))
            && times.matches(d.created_at, d.updated_at)
            && in_spaces(&w, &d.app_guid, &spaces, &orgs)
    });
    sort_by_time(&mut list, &field, desc, |d| (d.created_at, d.updated_at));
    list_response(&w, "/v3/droplets", &q, &list, |d| {
        present::droplet(&w, d, true)
    })
}

pub(crate) async fn droplet(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let w = s.lock();
    let d = found(w.droplets.get(&guid), "Droplet")?;
    Ok(ok(present::droplet(&w, d, false)))
}

/// Packages matching the query (for `/v3/packages` and `/v3/apps/:guid/packages`).
pub(crate) fn filter_packages<'a>(
    w: &'a World,
    q: &Query,
    app_guids: Option<Vec<String>>,
) -> Result<Vec<&'a Package>, ApiError> {
    let guids = q.list("guids");
    let states = q.list("states");
    let types = q.list("types");
    let (field, desc) = q.order(&["created_at", "updated_at"], "created_at")?;
    let mut list = w.packages.for_apps(&app_guids);
    list.retain(|p| {
        let kind = if p.image.is_some() { "docker" } else { "bits" };
        passes(&guids, &p.guid) && passes(&states, p.state.as_str()) && passes(&types, kind)
    });
    sort_by_time(&mut list, &field, desc, |p| (p.created_at, p.updated_at));
    Ok(list)
}

pub(crate) async fn packages(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&[
        "guids",
        "states",
        "types",
        "app_guids",
        "space_guids",
        "organization_guids",
        "label_selector",
        "order_by",
    ])?;
    let w = s.lock();
    let list = filter_packages(&w, &q, q.list("app_guids"))?;
    list_response(&w, "/v3/packages", &q, &list, |p| present::package(&w, p))
}

pub(crate) async fn package(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let w = s.lock();
    let p = found(w.packages.get(&guid), "Package")?;
    Ok(ok(present::package(&w, p)))
}

pub(crate) async fn buildpacks(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    let w = s.lock();
    // The `lifecycle` filter arrived with the buildpack lifecycle field (3.194.0).
    if w.api.at_least(since::BUILDPACK_LIFECYCLE) {
        q.allow(&["names", "stacks", "lifecycle", "label_selector", "order_by"])?;
    } else {
        q.allow(&["names", "stacks", "label_selector", "order_by"])?;
    }
    let names = q.list("names");
    let stacks = q.list("stacks");
    let lifecycle = q.get("lifecycle");
    let (field, desc) = q.order(&["position", "created_at", "updated_at"], "position")?;
    let mut list: Vec<_> = w
        .buildpacks
        .iter()
        .filter(|b| passes(&names, &b.name))
        .filter(|b| stacks.is_none() || b.stack.as_deref().is_some_and(|s| passes(&stacks, s)))
        .filter(|b| lifecycle.is_none_or(|l| l == b.lifecycle))
        .collect();
    list.sort_by(|a, b| {
        let ord = match field.as_str() {
            "created_at" => a.created_at.cmp(&b.created_at),
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            _ => a.position.cmp(&b.position),
        };
        directed(ord, desc)
    });
    list_response(&w, "/v3/buildpacks", &q, &list, |b| {
        present::buildpack(&w, b)
    })
}

pub(crate) async fn stacks(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&["names", "default", "label_selector", "order_by"])?;
    let names = q.list("names");
    let w = s.lock();
    let list: Vec<_> = w
        .stacks
        .iter()
        .filter(|s| passes(&names, &s.name))
        .collect();
    list_response(&w, "/v3/stacks", &q, &list, |s| present::stack(&w, s))
}

pub(crate) async fn stack(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let w = s.lock();
    let st = found(w.stacks.get(&guid), "Stack")?;
    Ok(ok(present::stack(&w, st)))
}

pub(crate) async fn spaces(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&[
        "guids",
        "names",
        "organization_guids",
        "label_selector",
        "order_by",
        "include",
    ])?;
    let guids = q.list("guids");
    let names = q.list("names");
    let orgs = q.list("organization_guids");
    let w = s.lock();
    let list: Vec<_> = w
        .spaces
        .iter()
        .filter(|s| {
            passes(&guids, &s.guid) && passes(&names, &s.name) && passes(&orgs, &s.org_guid)
        })
        .collect();
    list_response(&w, "/v3/spaces", &q, &list, |s| present::space(&w, s))
}

pub(crate) async fn space(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let w = s.lock();
    let sp = found(w.spaces.get(&guid), "Space")?;
    Ok(ok(present::space(&w, sp)))
}

pub(crate) async fn orgs(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&["guids", "names", "label_selector", "order_by"])?;
    let guids = q.list("guids");
    let names = q.list("names");
    let w = s.lock();
    let list: Vec<_> = w
        .orgs
        .iter()
        .filter(|o| passes(&guids, &o.guid) && passes(&names, &o.name))
        .collect();
    list_response(&w, "/v3/organizations", &q, &list, |o| present::org(&w, o))
}

pub(crate) async fn org(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let w = s.lock();
    let o = found(w.orgs.get(&guid), "Organization")?;
    Ok(ok(present::org(&w, o)))
}

/// A process a deployment has not removed; a removed one is a 404.
fn live_process<'a>(w: &'a World, guid: &str) -> Result<&'a Process, ApiError> {
    found(w.processes.get(guid).filter(|p| !p.destroyed), "Process")
}

pub(crate) async fn process(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let w = s.lock();
    let p = live_process(&w, &guid)?;
    Ok(ok(present::process(&w, p, false)))
}

pub(crate) async fn process_stats(
    State(s): S,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    let mut w = s.lock();
    let app_guid = live_process(&w, &guid)?.app_guid.clone();
    if w.faults.fire_eq(&app_guid, &Fault::InstancesUnavailable) {
        return Err(ApiError::instances_unavailable());
    }
    let p = found(w.processes.get(&guid), "Process")?;
    Ok(ok(present::process_stats(&w, p, now())))
}
