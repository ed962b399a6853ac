//! `/v3/deployments`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::query::{Query, directed, passes};
use super::{S, created, list_body, now, object_body, ok, paginate, reject_unknown};
use crate::model::Deployment;
use crate::present;
use crate::rollout::DeploymentRequest;
use crate::world::World;

const OPTION_KEYS: &[&str] = &[
    "max_in_flight",
    "web_instances",
    "memory_in_mb",
    "disk_in_mb",
    "log_rate_limit_in_bytes_per_second",
    "canary",
];

/// Validation per CC's `DeploymentCreateMessage`.
fn parse(body: &Bytes) -> Result<DeploymentRequest, ApiError> {
    let map = object_body(body)?;
    reject_unknown(
        &map,
        &[
            "droplet",
            "revision",
            "strategy",
            "options",
            "relationships",
            "metadata",
        ],
    )?;
    if map.contains_key("droplet") && map.contains_key("revision") {
        return Err(ApiError::unprocessable(
            "Cannot set both fields 'droplet' and 'revision'",
        ));
    }
    if map.contains_key("revision") {
        return Err(ApiError::unprocessable(
            "Unable to use revision. Ensure that the revision exists and you have access to it.",
        ));
    }
    let app_guid = map
        .get("relationships")
        .and_then(|r| r.get("app"))
        .and_then(|a| a.get("data"))
        .and_then(|d| d.get("guid"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::unprocessable(
                "Relationships 'relationships' must include one or more valid relationships",
            )
        })?;
    let droplet_guid = match map.get("droplet") {
        None | Some(Value::Null) => None,
        Some(d) => Some(
            d.get("guid")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ApiError::unprocessable("Droplet guid must be a string"))?,
        ),
    };
    let strategy = match map.get("strategy") {
        None | Some(Value::Null) => "rolling".to_owned(),
        Some(Value::String(s)) if s == "rolling" || s == "canary" => s.clone(),
        Some(other) => {
            let shown = other
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| other.to_string());
            return Err(ApiError::unprocessable(format!(
                "Strategy '{shown}' is not a supported deployment strategy"
            )));
        }
    };
    let options: Map<String, Value> = match map.get("options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(ApiError::unprocessable("Options must be an object")),
    };
    let unknown: Vec<String> = options
        .keys()
        .filter(|k| !OPTION_KEYS.contains(&k.as_str()))
        .map(|k| format!("'{k}'"))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "Options has unsupported key(s): {}",
            unknown.join(", ")
        )));
    }
    let positive = |key: &str, label: &str| -> Result<Option<u32>, ApiError> {
        match options.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    ApiError::unprocessable(format!("{label} must be an integer greater than 0"))
                }),
        }
    };
    let max_in_flight = positive("max_in_flight", "Max in flight")?.unwrap_or(1);
    let web_instances = positive("web_instances", "Web instances")?;
    let (labels, annotations) = World::metadata_from(&map)?;
    let mut echoed = options;
    echoed.remove("max_in_flight");
    Ok(DeploymentRequest {
        app_guid,
        droplet_guid,
        strategy,
        max_in_flight,
        web_instances,
        options: echoed,
        labels,
        annotations,
    })
}

pub(crate) async fn create(State(s): S, body: Bytes) -> Result<Response, ApiError> {
    let req = parse(&body)?;
    let mut w = s.lock();
    let actor = w.client_actor();
    let guid = w.create_deployment(req, actor, now())?;
    let d = w
        .deployments
        .get(&guid)
        .ok_or_else(|| ApiError::not_found("Deployment"))?;
    Ok(created(present::deployment(&w, d)))
}

pub(crate) async fn show(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let w = s.lock();
    let d = w
        .deployments
        .get(&guid)
        .ok_or_else(|| ApiError::not_found("Deployment"))?;
    Ok(ok(present::deployment(&w, d)))
}

/// `PATCH /v3/deployments/:guid` changes metadata only.
pub(crate) async fn update(
    State(s): S,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let map = object_body(&body)?;
    reject_unknown(&map, &["metadata"])?;
    let (labels, annotations) = World::metadata_from(&map)?;
    let mut w = s.lock();
    let d = w
        .deployments
        .get_mut(&guid)
        .ok_or_else(|| ApiError::not_found("Deployment"))?;
    d.labels.extend(labels);
    d.annotations.extend(annotations);
    d.updated_at = chrono::Utc::now();
    let d = w
        .deployments
        .get(&guid)
        .ok_or_else(|| ApiError::not_found("Deployment"))?;
    Ok(ok(present::deployment(&w, d)))
}

pub(crate) async fn cancel(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let mut w = s.lock();
    w.cancel_deployment(&guid)?;
    w.update_peaks();
    Ok(StatusCode::OK.into_response())
}

pub(crate) async fn continue_(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let mut w = s.lock();
    w.continue_deployment(&guid)?;
    let d = w
        .deployments
        .get(&guid)
        .ok_or_else(|| ApiError::not_found("Deployment"))?;
    Ok(ok(present::deployment(&w, d)))
}

pub(crate) async fn list(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow(&[
        "guids",
        "app_guids",
        "states",
        "status_values",
        "status_reasons",
        "label_selector",
        "order_by",
        "created_ats",
        "updated_ats",
    ])?;
    let guids = q.list("guids");
    let app_guids = q.list("app_guids");
    let states = q.list("states");
    let values = q.list("status_values");
    let reasons = q.list("status_reasons");
    let selector = q.label_selector()?;
    let (field, desc) = q.order(&["created_at", "updated_at"], "created_at")?;
    let w = s.lock();
    let mut list: Vec<&Deployment> = match &app_guids {
        Some(apps) => apps.iter().flat_map(|a| w.deployments.for_app(a)).collect(),
        None => w.deployments.iter().collect(),
    };
    list.retain(|d| {
        passes(&guids, &d.guid)
            && passes(&states, d.state.as_str())
            && passes(&values, d.status_value)
            && passes(&reasons, d.status_reason)
            && selector.as_ref().is_none_or(|s| s.matches(&d.labels))
    });
    list.sort_by(|a, b| {
        let ord = if field == "updated_at" {
            a.updated_at.cmp(&b.updated_at)
        } else {
            a.created_at.cmp(&b.created_at)
        };
        directed(ord, desc)
    });
    let (pagination, page) = paginate(&w, "/v3/deployments", &q, &list)?;
    let resources = page.iter().map(|d| present::deployment(&w, d)).collect();
    Ok(ok(list_body(pagination, resources)))
}
