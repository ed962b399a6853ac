//! `/v3/space_quotas`, `/v3/organization_quotas` (SpaceQuotasController,
//! OrganizationQuotasController) and `/v3/processes` across apps
//! (ProcessesController#index). The client sees everything, as an admin
//! or a client with every space would.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::error::ApiError;
use super::query::{Query, passes};
use super::{S, found, in_spaces, list_response, ok};
use crate::present;

/// SpaceQuotasListMessage: `names`, `organization_guids`, `space_guids`.
pub(crate) async fn space_quotas(
    State(s): S,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&["names", "organization_guids", "space_guids", "order_by"])?;
    let names = q.list("names");
    let orgs = q.list("organization_guids");
    let spaces = q.list("space_guids");
    let w = s.lock();
    let list: Vec<_> = w
        .space_quotas
        .iter()
        .filter(|sq| {
            passes(&names, &sq.name)
                && passes(&orgs, &sq.org_guid)
                && (spaces.is_none()
                    || w.spaces.iter().any(|sp| {
                        sp.quota_guid.as_deref() == Some(sq.guid.as_str())
                            && passes(&spaces, &sp.guid)
                    }))
        })
        .collect();
    list_response(&w, "/v3/space_quotas", &q, &list, |sq| {
        present::space_quota(&w, sq)
    })
}

pub(crate) async fn space_quota(
    State(s): S,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    let w = s.lock();
    let sq = found(w.space_quotas.get(&guid), "Space quota")?;
    Ok(ok(present::space_quota(&w, sq)))
}

/// OrganizationQuotasListMessage: `names`, `organization_guids`.
pub(crate) async fn org_quotas(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&["names", "organization_guids", "order_by"])?;
    let names = q.list("names");
    let orgs = q.list("organization_guids");
    let w = s.lock();
    let list: Vec<_> = w
        .org_quotas
        .iter()
        .filter(|oq| {
            passes(&names, &oq.name)
                && (orgs.is_none()
                    || w.orgs
                        .iter()
                        .any(|o| o.quota_guid == oq.guid && passes(&orgs, &o.guid)))
        })
        .collect();
    list_response(&w, "/v3/organization_quotas", &q, &list, |oq| {
        present::org_quota(&w, oq)
    })
}

pub(crate) async fn org_quota(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let w = s.lock();
    let oq = found(w.org_quotas.get(&guid), "Organization quota")?;
    Ok(ok(present::org_quota(&w, oq)))
}

/// ProcessesListMessage (app/messages/processes_list_message.rb) and
/// ProcessListFetcher: by type, app, space and org.
pub(crate) async fn processes(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow_with_list_params(&[
        "guids",
        "types",
        "app_guids",
        "space_guids",
        "organization_guids",
    ])?;
    let guids = q.list("guids");
    let types = q.list("types");
    let apps = q.list("app_guids");
    let spaces = q.list("space_guids");
    let orgs = q.list("organization_guids");
    let times = q.time_filters()?;
    let w = s.lock();
    let list: Vec<_> = w
        .processes
        .iter()
        .filter(|p| {
            !p.destroyed
                && passes(&guids, &p.guid)
                && passes(&types, &p.kind)
                && passes(&apps, &p.app_guid)
                && times.matches(p.created_at, p.updated_at)
                && in_spaces(&w, &p.app_guid, &spaces, &orgs)
        })
        .collect();
    list_response(&w, "/v3/processes", &q, &list, |p| {
        present::process(&w, p, true)
    })
}
