//! `/v3/audit_events` (app/controllers/v3/events_controller.rb).

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::error::ApiError;
use super::query::{Query, directed, passes};
use super::{S, found, list_response, now, ok};
use crate::audit::AuditEvent;
use crate::present;

/// EventsListMessage's keys in CC's order (ListMessage's pagination,
/// advanced-filtering and common keys first), as NoAdditionalParamsValidator
/// lists them.
const ALLOWED: &[&str] = &[
    "page",
    "per_page",
    "order_by",
    "created_ats",
    "updated_ats",
    "guids",
    "types",
    "target_guids",
    "space_guids",
    "organization_guids",
];

/// `GET /v3/audit_events`: EventsListMessage (app/messages/events_list_message.rb)
/// filtered by EventListFetcher (app/fetchers/event_list_fetcher.rb), in id
/// order unless `order_by` says otherwise (then ties by guid, SequelPaginator).
pub(crate) async fn list(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(ALLOWED)?;
    let times = q.time_filters()?;
    let mut errors = Vec::new();
    // TargetGuidsValidator: only the `not` operator.
    let mut not_targets = None;
    if let Some(op) = q.keys().find_map(|k| {
        k.strip_prefix("target_guids[")
            .and_then(|r| r.strip_suffix(']'))
            .map(str::to_owned)
    }) {
        if op == "not" {
            not_targets = q.list("target_guids[not]");
        } else {
            errors.push("Target guids target_guids has an invalid operator".to_owned());
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::bad_query(errors.join(", ")));
    }
    let (field, desc) = match q.get("order_by") {
        Some(_) => {
            let (f, d) = q.order(&["created_at", "updated_at"], "created_at")?;
            (Some(f), d)
        }
        None => (None, false),
    };
    let types = q.list("types");
    let targets = q.list("target_guids");
    let spaces = q.list("space_guids");
    let orgs = q.list("organization_guids");
    let guids = q.list("guids");
    let mut w = s.lock();
    w.advance_instances(now());
    let mut list: Vec<&AuditEvent> = match &targets {
        Some(t) => {
            let mut rows: Vec<&AuditEvent> = t.iter().flat_map(|g| w.events.for_app(g)).collect();
            // Back to insertion (id) order.
            rows.sort_by_key(|e| w.events.position(&e.guid));
            rows.dedup_by(|a, b| a.guid == b.guid);
            rows
        }
        None => w.events.iter().collect(),
    };
    list.retain(|e| {
        passes(&types, &e.kind)
            && passes(&guids, &e.guid)
            && passes(&spaces, e.space_guid.as_deref().unwrap_or_default())
            && passes(&orgs, e.org_guid.as_deref().unwrap_or_default())
            && not_targets.as_ref().is_none_or(|n| {
                !n.iter()
                    .any(|g| e.target.as_ref().is_some_and(|t| &t.guid == g))
            })
            && times.matches(e.timestamp, e.timestamp)
    });
    if field.is_some() {
        list.sort_by(|a, b| {
            directed(
                a.timestamp.cmp(&b.timestamp).then(a.guid.cmp(&b.guid)),
                desc,
            )
        });
    }
    let w = &*w;
    list_response(w, "/v3/audit_events", &q, &list, |e| {
        present::audit_event(w, e)
    })
}

/// `GET /v3/audit_events/:guid`; 404 "Event not found".
pub(crate) async fn show(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let mut w = s.lock();
    w.advance_instances(now());
    let e = found(w.events.get(&guid), "Event")?;
    Ok(ok(present::audit_event(&w, e)))
}
