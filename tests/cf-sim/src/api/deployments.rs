//! `/v3/deployments`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::query::{Query, passes, sort_by_time};
use super::{S, created, found, list_response, now, object_body, ok, reject_unknown};
use crate::model::ScalingOptions;
use crate::present;
use crate::rollout::DeploymentRequest;
use crate::version::{ApiVersion, since};
use crate::world::World;

/// `DeploymentCreateMessage` (app/messages/deployment_create_message.rb) as
/// it was at the played API version: every failed check is collected, in
/// the message's validation order, and CC joins them with ", " into one 422.
fn parse(body: &Bytes, api: ApiVersion) -> Result<DeploymentRequest, ApiError> {
    let map = object_body(body)?;
    // MetadataBaseMessage validates metadata first.
    let (labels, annotations) = World::metadata_from(&map)?;
    let with_options = api.at_least(since::DEPLOYMENT_OPTIONS);
    let mut errors: Vec<String> = Vec::new();

    // NoAdditionalKeysValidator (app/messages/base_message.rb); `options`
    // is an allowed key from 3.173.0.
    let mut allowed = vec![
        "relationships",
        "droplet",
        "revision",
        "strategy",
        "metadata",
    ];
    if with_options {
        allowed.push("options");
    }
    let unknown = keys_outside(&map, &allowed);
    if !unknown.is_empty() {
        errors.push(format!("Unknown field(s): '{}'", unknown.join("', '")));
    }

    // `validates :strategy, inclusion:` rolling, and canary from 3.173.0.
    let strategy = match map.get("strategy") {
        None | Some(Value::Null) => "rolling".to_owned(),
        Some(Value::String(s))
            if s == "rolling" || (s == "canary" && api.at_least(since::CANARY)) =>
        {
            s.clone()
        }
        Some(other) => {
            let shown = other
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| other.to_string());
            errors.push(format!(
                "Strategy '{shown}' is not a supported deployment strategy"
            ));
            "rolling".to_owned()
        }
    };

    // mutually_exclusive_droplet_sources: errors.add(:droplet, ...).
    if present(map.get("droplet")) && present(map.get("revision")) {
        errors.push("Droplet Cannot set both fields 'droplet' and 'revision'".to_owned());
    }

    let mut max_in_flight = 1;
    let mut scaling = ScalingOptions::default();
    let mut canary_steps = None;
    if with_options && present(map.get("options")) {
        let options = map.get("options").cloned().unwrap_or(Value::Null);
        match options.as_object() {
            None => errors.push("Options must be an object".to_owned()),
            Some(o) => {
                let parsed = parse_options(o, &strategy, api, &mut errors);
                max_in_flight = parsed.0;
                scaling = parsed.1;
                canary_steps = parsed.2;
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors.join(", ")));
    }
    let app_guid = map
        .get("relationships")
        .and_then(|r| r.get("app"))
        .and_then(|a| a.get("data"))
        .and_then(|d| d.get("guid"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        // DeploymentsController#create: no such app → this 422.
        .ok_or_else(|| {
            ApiError::unprocessable(
                "Unable to use app. Ensure that the app exists and you have access to it.",
            )
        })?;
    let droplet_guid = match map.get("droplet") {
        None | Some(Value::Null) => None,
        Some(d) => Some(
            d.get("guid")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "Unable to assign current droplet. Ensure the droplet exists and belongs to this app.",
                    )
                })?,
        ),
    };
    // Rollbacks to a revision are not modelled: no revision can be found
    // (DeploymentTargetState, lib/cloud_controller/deployments/deployment_target_state.rb).
    if present(map.get("revision")) {
        return Err(ApiError::unprocessable("The revision does not exist"));
    }
    Ok(DeploymentRequest {
        app_guid,
        droplet_guid,
        strategy,
        max_in_flight,
        scaling,
        canary_steps,
        labels,
        annotations,
        audit: Value::Object(map.clone()),
    })
}

/// Ruby's `present?` for a JSON value: not null, not an empty string/object/array.
fn present(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(_)) => true,
    }
}

/// Ruby truthiness of `options[key]`: present and not null/false.
fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null) | Some(Value::Bool(false)))
}

/// The keys of `map` that `allowed` does not name, in the map's order.
fn keys_outside<'a>(map: &'a Map<String, Value>, allowed: &[&str]) -> Vec<&'a str> {
    map.keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect()
}

/// `validate_options` at the played version: `(max_in_flight, scaling, canary steps)`.
fn parse_options(
    o: &Map<String, Value>,
    strategy: &str,
    api: ApiVersion,
    errors: &mut Vec<String>,
) -> (u32, ScalingOptions, Option<Vec<Value>>) {
    let checked_keys = api.at_least(since::CANARY_STEPS);
    let mut scaling = ScalingOptions::default();
    // The option keys CC reads at this version; before 3.189.0 other keys
    // were ignored, from it they are refused.
    let mut keys = vec!["max_in_flight"];
    if checked_keys {
        keys.push("canary");
    }
    if api.at_least(since::DEPLOYMENT_WEB_INSTANCES) {
        keys.push("web_instances");
    }
    if api.at_least(since::DEPLOYMENT_SCALING_OPTIONS) {
        keys.extend([
            "memory_in_mb",
            "disk_in_mb",
            "log_rate_limit_in_bytes_per_second",
        ]);
    }
    if checked_keys {
        let unsupported = keys_outside(o, &keys);
        if !unsupported.is_empty() {
            errors.push(format!(
                "Options has unsupported key(s): {}",
                unsupported.join(", ")
            ));
        }
    }
    if api.at_least(since::DEPLOYMENT_SCALING_OPTIONS) {
        // validate_scaling_options: ProcessScaleMessage's numericality checks.
        scaling.web_instances = numeric(o.get("web_instances"), "Web instances", 0, true, errors)
            .and_then(|n| u32::try_from(n).ok());
        scaling.memory_in_mb = numeric(o.get("memory_in_mb"), "Memory in mb", 1, false, errors)
            .and_then(|n| u64::try_from(n).ok());
        scaling.disk_in_mb = numeric(o.get("disk_in_mb"), "Disk in mb", 1, false, errors)
            .and_then(|n| u64::try_from(n).ok());
        scaling.log_rate_limit = numeric(
            o.get("log_rate_limit_in_bytes_per_second"),
            "Log rate limit in bytes per second",
            -1,
            true,
            errors,
        );
    } else if api.at_least(since::DEPLOYMENT_WEB_INSTANCES) && truthy(o.get("web_instances")) {
        // 3.190.0's validate_web_instances.
        match o
            .get("web_instances")
            .and_then(Value::as_u64)
            .filter(|n| *n >= 1)
        {
            Some(n) => scaling.web_instances = u32::try_from(n).ok(),
            None => errors.push("Web instances must be an integer greater than 0".to_owned()),
        }
    }
    let mut max_in_flight = 1;
    if truthy(o.get("max_in_flight")) {
        match o
            .get("max_in_flight")
            .and_then(Value::as_u64)
            .filter(|n| *n >= 1)
            .and_then(|n| u32::try_from(n).ok())
        {
            Some(n) => max_in_flight = n,
            None => errors.push("Max in flight must be an integer greater than 0".to_owned()),
        }
    }
    let mut steps = None;
    if checked_keys && truthy(o.get("canary")) {
        steps = canary_steps(o.get("canary"), strategy, errors);
    }
    (max_in_flight, scaling, steps)
}

/// A ProcessScaleMessage numericality check: `None` when absent or invalid.
fn numeric(
    v: Option<&Value>,
    attr: &str,
    min: i64,
    inclusive: bool,
    errors: &mut Vec<String>,
) -> Option<i64> {
    let v = v.filter(|v| !v.is_null())?;
    if !v.is_number() {
        errors.push(format!("{attr} is not a number"));
        return None;
    }
    let Some(i) = v.as_i64() else {
        errors.push(format!("{attr} must be an integer"));
        return None;
    };
    if inclusive && i < min {
        errors.push(format!("{attr} must be greater than or equal to {min}"));
        return None;
    }
    if !inclusive && i < min {
        errors.push(format!("{attr} must be greater than {}", min - 1));
        return None;
    }
    Some(i)
}

/// `validate_canary` / `validate_steps` (3.189.0 on).
fn canary_steps(
    canary: Option<&Value>,
    strategy: &str,
    errors: &mut Vec<String>,
) -> Option<Vec<Value>> {
    let Some(canary) = canary.and_then(Value::as_object) else {
        errors.push("Options canary must be an object".to_owned());
        return None;
    };
    if strategy != "canary" {
        errors.push("Options canary are only valid for Canary deployments".to_owned());
        return None;
    }
    let steps = canary.get("steps").filter(|s| truthy(Some(*s)))?;
    let Some(list) = steps.as_array().filter(|a| a.iter().all(Value::is_object)) else {
        errors.push("Options canary steps must be an array of objects".to_owned());
        return None;
    };
    let before = errors.len();
    for step in list {
        let extra: Vec<&str> = step
            .as_object()
            .map(|o| {
                o.keys()
                    .map(String::as_str)
                    .filter(|k| *k != "instance_weight")
                    .collect()
            })
            .unwrap_or_default();
        if !extra.is_empty() {
            errors.push(format!(
                "Options canary steps has unsupported key(s): {}",
                extra.join(", ")
            ));
        }
    }
    if list.iter().any(|s| s.get("instance_weight").is_none()) {
        errors.push("Options canary steps missing key: \"instance_weight\"".to_owned());
    }
    let weights: Vec<Option<i64>> = list
        .iter()
        .map(|s| s.get("instance_weight").and_then(Value::as_i64))
        .collect();
    let range = "Options canary steps instance weight must be an Integer between 1-100 (inclusive)";
    if weights.iter().any(Option::is_none) {
        errors.push(range.to_owned());
    } else {
        let weights: Vec<i64> = weights.into_iter().flatten().collect();
        if weights.iter().any(|w| !(1..=100).contains(w)) {
            errors.push(range.to_owned());
        }
        if weights.windows(2).any(|p| p[0] > p[1]) {
            errors.push(
                "Options canary steps instance weight must be sorted in ascending order".to_owned(),
            );
        }
    }
    (errors.len() == before).then(|| list.clone())
}

pub(crate) async fn create(State(s): S, body: Bytes) -> Result<Response, ApiError> {
    let api = s.lock().api;
    let req = parse(&body, api)?;
    let mut w = s.lock();
    let actor = w.client_actor();
    let guid = w.create_deployment(req, actor, now())?;
    let d = found(w.deployments.get(&guid), "Deployment")?;
    Ok(created(present::deployment(&w, d)))
}

pub(crate) async fn show(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let w = s.lock();
    let d = found(w.deployments.get(&guid), "Deployment")?;
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
    let d = found(w.deployments.get_mut(&guid), "Deployment")?;
    d.labels.extend(labels);
    d.annotations.extend(annotations);
    d.updated_at = chrono::Utc::now();
    let d = found(w.deployments.get(&guid), "Deployment")?;
    Ok(ok(present::deployment(&w, d)))
}

pub(crate) async fn cancel(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let mut w = s.lock();
    w.cancel_deployment(&guid)?;
    w.update_peaks();
    Ok(StatusCode::OK.into_response())
}

/// DeploymentsController#continue: `head :ok`, an empty 200 like cancel.
pub(crate) async fn continue_(State(s): S, Path(guid): Path<String>) -> Result<Response, ApiError> {
    let mut w = s.lock();
    // The route arrived with canary (config/routes.rb, d66f46a6): before
    // 3.173.0 it is an unknown request.
    if !w.api.at_least(since::CANARY) {
        return Err(ApiError::unknown_request());
    }
    let actor = w.client_actor();
    w.continue_deployment(&guid, actor)?;
    Ok(StatusCode::OK.into_response())
}

pub(crate) async fn list(State(s): S, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref())?;
    q.allow_with_list_params(&[
        "guids",
        "app_guids",
        "states",
        "status_values",
        "status_reasons",
    ])?;
    let guids = q.list("guids");
    let app_guids = q.list("app_guids");
    let states = q.list("states");
    let values = q.list("status_values");
    let reasons = q.list("status_reasons");
    let selector = q.label_selector()?;
    let times = q.time_filters()?;
    let (field, desc) = q.order(&["created_at", "updated_at"], "created_at")?;
    let w = s.lock();
    let mut list = w.deployments.for_apps(&app_guids);
    list.retain(|d| {
        passes(&guids, &d.guid)
            && passes(&states, d.state.as_str())
            && passes(&values, d.status_value)
            && passes(&reasons, d.status_reason)
            && selector.as_ref().is_none_or(|s| s.matches(&d.labels))
            && times.matches(d.created_at, d.updated_at)
    });
    sort_by_time(&mut list, &field, desc, |x| (x.created_at, x.updated_at));
    list_response(&w, "/v3/deployments", &q, &list, |d| {
        present::deployment(&w, d)
    })
}
