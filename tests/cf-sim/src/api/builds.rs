//! `/v3/builds`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::Value;

use super::error::ApiError;
use super::query::{Query, passes, sort_by_time};
use super::{S, created, found, header_value, list_response, now, object_body, ok, reject_unknown};
use crate::present;
use crate::staging::BuildRequest;
use crate::world::World;

fn parse(body: &Bytes) -> Result<BuildRequest, ApiError> {
    let map = object_body(body)?;
    reject_unknown(
        &map,
        &[
            "package",
            "lifecycle",
            "staging_memory_in_mb",
            "staging_disk_in_mb",
            "staging_log_rate_limit_bytes_per_second",
            "metadata",
        ],
    )?;
    let package_guid = super::guid_at(&map, "package")
        .ok_or_else(|| ApiError::unprocessable("Package guid must be a string"))?;
    let lifecycle_data = map.get("lifecycle").and_then(|l| l.get("data"));
    let buildpacks = lifecycle_data
        .and_then(|d| d.get("buildpacks"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        });
    let stack = lifecycle_data
        .and_then(|d| d.get("stack"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let positive = |key: &str| -> Result<Option<u64>, ApiError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().filter(|n| *n > 0).map(Some).ok_or_else(|| {
                ApiError::unprocessable(format!("{key} must be an integer greater than 0"))
            }),
        }
    };
    let staging_memory_mb = positive("staging_memory_in_mb")?;
    let staging_disk_mb = positive("staging_disk_in_mb")?;
    let (labels, annotations) = World::metadata_from(&map)?;
    Ok(BuildRequest {
        package_guid,
        buildpacks,
        stack,
        staging_memory_mb,
        staging_disk_mb,
        labels,
        annotations,
    })
}

pub(crate) async fn create(State(s): S, body: Bytes) -> Result<Response, ApiError> {
    let req = parse(&body)?;
    let mut w = s.lock();
    let actor = w.client_actor();
    let (guid, warnings) = w.create_build(req, actor, now())?;
    let build = found(w.builds.get(&guid), "Build")?;
    let mut resp = created(present::build(&w, build));
    if !warnings.is_empty() {
        let encoded: Vec<String> = warnings
            .iter()
            .map(|m| url::form_urlencoded::byte_serialize(m.as_bytes()).collect())
            .collect();
        resp.headers_mut()
            .insert("x-cf-warnings", header_value(&encoded.join(",")));
    }
    Ok(resp)
}

pub(crate) async fn show(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let w = s.lock();
    let b = found(w.builds.get(&guid), "Build")?;
    Ok(ok(present::build(&w, b)))
}

pub(crate) async fn list(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow_with_list_params(&["guids", "states", "app_guids", "package_guids"])?;
    let guids = q.list("guids");
    let states = q.list("states");
    let app_guids = q.list("app_guids");
    let packages = q.list("package_guids");
    let selector = q.label_selector()?;
    let times = q.time_filters()?;
    let (field, desc) = q.order(&["created_at", "updated_at"], "created_at")?;
    let w = s.lock();
    let mut list = w.builds.for_apps(&app_guids);
    list.retain(|b| {
        passes(&guids, &b.guid)
            && passes(&states, b.state.as_str())
            && passes(&packages, &b.package_guid)
            && selector.as_ref().is_none_or(|s| s.matches(&b.labels))
            && times.matches(b.created_at, b.updated_at)
    });
    sort_by_time(&mut list, &field, desc, |x| (x.created_at, x.updated_at));
    list_response(&w, "/v3/builds", &q, &list, |b| present::build(&w, b))
}
