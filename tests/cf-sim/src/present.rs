//! Resource JSON exactly as CC's v3 presenters shape it (cf-api.md 1.8,
//! 1.9, 2.1–2.4).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::model::{
    App, AppState, Build, Buildpack, Deployment, Droplet, LifecycleKind, Org, Package, Process,
    Space, Stack,
};
use crate::world::World;

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn link(base: &str, path: &str) -> Value {
    json!({"href": format!("{base}{path}")})
}

fn metadata(labels: &crate::model::Labels, annotations: &crate::model::Labels) -> Value {
    json!({"labels": labels, "annotations": annotations})
}

fn lifecycle_json(kind: LifecycleKind, buildpacks: &[String], stack: &str) -> Value {
    match kind {
        LifecycleKind::Buildpack => {
            json!({"type": "buildpack", "data": {"buildpacks": buildpacks, "stack": stack}})
        }
        LifecycleKind::Docker => json!({"type": "docker", "data": {}}),
    }
}

/// `{"href": ...}`.
#[derive(Serialize)]
pub(crate) struct Href {
    href: String,
}

#[derive(Serialize)]
struct MethodHref {
    href: String,
    method: &'static str,
}

#[derive(Serialize)]
struct GuidRef<'a> {
    guid: &'a str,
}

#[derive(Serialize)]
struct ToOne<'a> {
    data: Option<GuidRef<'a>>,
}

#[derive(Serialize)]
struct AppRelationships<'a> {
    space: ToOne<'a>,
    current_droplet: ToOne<'a>,
}

#[derive(Serialize)]
struct MetadataView<'a> {
    labels: &'a crate::model::Labels,
    annotations: &'a crate::model::Labels,
}

#[derive(Serialize)]
struct LifecycleData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    buildpacks: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack: Option<&'a str>,
}

#[derive(Serialize)]
struct LifecycleView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: LifecycleData<'a>,
}

#[derive(Serialize)]
struct AppLinks {
    #[serde(rename = "self")]
    this: Href,
    environment_variables: Href,
    space: Href,
    processes: Href,
    packages: Href,
    current_droplet: Href,
    droplets: Href,
    deployed_revisions: Href,
    start: MethodHref,
    stop: MethodHref,
}

/// The app object, as a borrowed view: big app pages serialize straight
/// from it instead of building a `Value` tree per app.
#[derive(Serialize)]
pub(crate) struct AppView<'a> {
    guid: &'a str,
    name: &'a str,
    state: &'static str,
    created_at: String,
    updated_at: String,
    lifecycle: LifecycleView<'a>,
    relationships: AppRelationships<'a>,
    metadata: MetadataView<'a>,
    links: AppLinks,
}

pub(crate) fn app_view<'a>(w: &World, a: &'a App) -> AppView<'a> {
    let b = &w.base_url;
    let g = &a.guid;
    let href = |path: String| Href {
        href: format!("{b}{path}"),
    };
    let lifecycle = match a.lifecycle {
        LifecycleKind::Buildpack => LifecycleView {
            kind: "buildpack",
            data: LifecycleData {
                buildpacks: Some(&a.requested_buildpacks),
                stack: Some(&a.stack),
            },
        },
        LifecycleKind::Docker => LifecycleView {
            kind: "docker",
            data: LifecycleData {
                buildpacks: None,
                stack: None,
            },
        },
    };
    AppView {
        guid: g,
        name: &a.name,
        state: a.state.as_str(),
        created_at: ts(a.created_at),
        updated_at: ts(a.updated_at),
        lifecycle,
        relationships: AppRelationships {
            space: ToOne {
                data: Some(GuidRef {
                    guid: &a.space_guid,
                }),
            },
            current_droplet: ToOne {
                data: a.current_droplet.as_deref().map(|guid| GuidRef { guid }),
            },
        },
        metadata: MetadataView {
            labels: &a.labels,
            annotations: &a.annotations,
        },
        links: AppLinks {
            this: href(format!("/v3/apps/{g}")),
            environment_variables: href(format!("/v3/apps/{g}/environment_variables")),
            space: href(format!("/v3/spaces/{}", a.space_guid)),
            processes: href(format!("/v3/apps/{g}/processes")),
            packages: href(format!("/v3/apps/{g}/packages")),
            current_droplet: href(format!("/v3/apps/{g}/droplets/current")),
            droplets: href(format!("/v3/apps/{g}/droplets")),
            deployed_revisions: href(format!("/v3/apps/{g}/revisions/deployed")),
            start: MethodHref {
                href: format!("{b}/v3/apps/{g}/actions/start"),
                method: "POST",
            },
            stop: MethodHref {
                href: format!("{b}/v3/apps/{g}/actions/stop"),
                method: "POST",
            },
        },
    }
}

pub(crate) fn app(w: &World, a: &App) -> Value {
    serde_json::to_value(app_view(w, a)).unwrap_or(Value::Null)
}

pub(crate) fn space(w: &World, s: &Space) -> Value {
    let b = &w.base_url;
    json!({
        "guid": s.guid,
        "name": s.name,
        "created_at": ts(s.created_at),
        "updated_at": ts(s.created_at),
        "relationships": {
            "organization": {"data": {"guid": s.org_guid}},
            "quota": {"data": null},
        },
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": link(b, &format!("/v3/spaces/{}", s.guid)),
            "organization": link(b, &format!("/v3/organizations/{}", s.org_guid)),
            "apps": link(b, &format!("/v3/apps?space_guids={}", s.guid)),
        }
    })
}

pub(crate) fn org(w: &World, o: &Org) -> Value {
    let b = &w.base_url;
    json!({
        "guid": o.guid,
        "name": o.name,
        "suspended": false,
        "created_at": ts(o.created_at),
        "updated_at": ts(o.created_at),
        "relationships": {"quota": {"data": {"guid": "a1f9b7c4-0000-4000-8000-000000000001"}}},
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": link(b, &format!("/v3/organizations/{}", o.guid)),
            "domains": link(b, &format!("/v3/organizations/{}/domains", o.guid)),
        }
    })
}

pub(crate) fn droplet(w: &World, d: &Droplet) -> Value {
    let b = &w.base_url;
    let g = &d.guid;
    let mut links = json!({
        "self": link(b, &format!("/v3/droplets/{g}")),
        "app": link(b, &format!("/v3/apps/{}", d.app_guid)),
        "assign_current_droplet": {
            "href": format!("{b}/v3/apps/{}/relationships/current_droplet", d.app_guid),
            "method": "PATCH"
        },
        "download": link(b, &format!("/v3/droplets/{g}/download")),
    });
    if let (Some(p), Some(map)) = (&d.package_guid, links.as_object_mut()) {
        map.insert("package".to_owned(), link(b, &format!("/v3/packages/{p}")));
    }
    let buildpacks = d.buildpacks.as_ref().map(|list| {
        list.iter()
            .map(|bp| {
                json!({
                    "name": bp.name,
                    "detect_output": if bp.detect_output.is_empty() { Value::Null } else { json!(bp.detect_output) },
                    "buildpack_name": bp.buildpack_name,
                    "version": bp.version,
                })
            })
            .collect::<Vec<_>>()
    });
    let process_types = if d.lifecycle == LifecycleKind::Docker {
        json!({})
    } else {
        json!({"web": d.web_command})
    };
    json!({
        "guid": g,
        "state": d.state.as_str(),
        "error": null,
        "lifecycle": {"type": d.lifecycle.as_str(), "data": {}},
        "execution_metadata": "",
        "process_types": process_types,
        "checksum": if d.lifecycle == LifecycleKind::Docker { Value::Null } else { json!({"type": "sha256", "value": d.checksum}) },
        "buildpacks": buildpacks,
        "stack": d.stack,
        "image": d.image,
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        "relationships": {"app": {"data": {"guid": d.app_guid}}},
        "metadata": {"labels": d.labels, "annotations": {}},
        "links": links,
    })
}

pub(crate) fn package(w: &World, p: &Package) -> Value {
    let b = &w.base_url;
    let g = &p.guid;
    let (kind, data) = match &p.image {
        Some(image) => (
            "docker",
            json!({"image": image, "username": null, "password": null}),
        ),
        None => (
            "bits",
            json!({"checksum": {"type": "sha256", "value": null}, "error": null}),
        ),
    };
    json!({
        "guid": g,
        "type": kind,
        "data": data,
        "state": p.state.as_str(),
        "created_at": ts(p.created_at),
        "updated_at": ts(p.updated_at),
        "relationships": {"app": {"data": {"guid": p.app_guid}}},
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": link(b, &format!("/v3/packages/{g}")),
            "upload": {"href": format!("{b}/v3/packages/{g}/upload"), "method": "POST"},
            "download": {"href": format!("{b}/v3/packages/{g}/download"), "method": "GET"},
            "app": link(b, &format!("/v3/apps/{}", p.app_guid)),
        }
    })
}

pub(crate) fn build(w: &World, x: &Build) -> Value {
    let b = &w.base_url;
    json!({
        "guid": x.guid,
        "created_at": ts(x.created_at),
        "updated_at": ts(x.updated_at),
        "created_by": {"guid": x.created_by.guid, "name": x.created_by.name, "email": x.created_by.email},
        "state": x.state.as_str(),
        "staging_memory_in_mb": x.staging_memory_mb,
        "staging_disk_in_mb": x.staging_disk_mb,
        "staging_log_rate_limit_bytes_per_second": -1,
        "error": x.error,
        "lifecycle": lifecycle_json(x.lifecycle, &x.buildpacks, &x.stack),
        "package": {"guid": x.package_guid},
        "droplet": x.droplet_guid.as_ref().map(|d| json!({"guid": d})),
        "relationships": {"app": {"data": {"guid": x.app_guid}}},
        "metadata": metadata(&x.labels, &x.annotations),
        "links": {
            "self": link(b, &format!("/v3/builds/{}", x.guid)),
            "app": link(b, &format!("/v3/apps/{}", x.app_guid)),
        }
    })
}

pub(crate) fn deployment(w: &World, d: &Deployment) -> Value {
    let b = &w.base_url;
    let g = &d.guid;
    let mut details = json!({
        "last_successful_healthcheck": ts(d.last_healthy_at),
        "last_status_change": ts(d.last_status_change),
    });
    if let (Some(err), Some(map)) = (&d.error, details.as_object_mut()) {
        map.insert("error".to_owned(), json!(err));
    }
    let mut options = d.options.clone();
    options.insert("max_in_flight".to_owned(), json!(d.max_in_flight));
    let mut links = json!({
        "self": link(b, &format!("/v3/deployments/{g}")),
        "app": link(b, &format!("/v3/apps/{}", d.app_guid)),
    });
    if d.is_active()
        && let Some(map) = links.as_object_mut()
    {
        map.insert(
            "cancel".to_owned(),
            json!({"href": format!("{b}/v3/deployments/{g}/actions/cancel"), "method": "POST"}),
        );
    }
    if d.state == crate::model::DeploymentState::Paused
        && let Some(map) = links.as_object_mut()
    {
        map.insert(
            "continue".to_owned(),
            json!({"href": format!("{b}/v3/deployments/{g}/actions/continue"), "method": "POST"}),
        );
    }
    let mut status = json!({
        "value": d.status_value,
        "reason": d.status_reason,
        "details": details,
    });
    if d.canary_instances.is_some()
        && let Some(map) = status.as_object_mut()
    {
        // Only the first canary step is modelled.
        map.insert(
            "canary".to_owned(),
            json!({"steps": {"current": 1, "total": d.canary_steps}}),
        );
    }
    let new_processes: Vec<Value> = d
        .new_process_guid
        .iter()
        .map(|p| json!({"guid": p, "type": "web"}))
        .collect();
    json!({
        "guid": g,
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        "state": d.state.as_str(),
        "status": status,
        "strategy": d.strategy,
        "options": options,
        "droplet": {"guid": d.droplet_guid},
        "previous_droplet": d.previous_droplet_guid.as_ref().map(|p| json!({"guid": p})),
        "new_processes": new_processes,
        "revision": null,
        "relationships": {"app": {"data": {"guid": d.app_guid}}},
        "metadata": metadata(&d.labels, &d.annotations),
        "links": links,
    })
}

pub(crate) fn process(w: &World, p: &Process) -> Value {
    let b = &w.base_url;
    let g = &p.guid;
    json!({
        "guid": g,
        "type": p.kind,
        "command": p.command,
        "instances": p.instances(),
        "memory_in_mb": p.memory_mb,
        "disk_in_mb": p.disk_mb,
        "log_rate_limit_in_bytes_per_second": -1,
        "health_check": {"type": "port", "data": {"timeout": null, "invocation_timeout": null}},
        "readiness_health_check": {"type": "process", "data": {"invocation_timeout": null}},
        "relationships": {"app": {"data": {"guid": p.app_guid}}, "revision": null},
        "metadata": {"labels": {}, "annotations": {}},
        "version": g,
        "created_at": ts(p.created_at),
        "updated_at": ts(p.updated_at),
        "links": {
            "self": link(b, &format!("/v3/processes/{g}")),
            "scale": {"href": format!("{b}/v3/processes/{g}/actions/scale"), "method": "POST"},
            "app": link(b, &format!("/v3/apps/{}", p.app_guid)),
            "space": link(b, "/v3/spaces"),
            "stats": link(b, &format!("/v3/processes/{g}/stats")),
        }
    })
}

pub(crate) fn process_stats(w: &World, p: &Process, now: Instant) -> Value {
    let started = w
        .apps
        .get(&p.app_guid)
        .is_some_and(|a| a.state == AppState::Started);
    let resources: Vec<Value> = (0..p.instance_starts.len())
        .map(|i| {
            let state = p.instance_state(i, started, now, w.instance_startup_for(&p.app_guid));
            let running = state == crate::model::InstanceState::Running;
            let uptime = p
                .instance_starts
                .get(i)
                .map(|s| now.saturating_duration_since(*s).as_secs())
                .unwrap_or(0);
            let down = state == crate::model::InstanceState::Down;
            json!({
                "type": p.kind,
                "index": i,
                "state": state.as_str(),
                "routable": if down { Value::Null } else { json!(running) },
                "usage": if running {
                    json!({"time": ts(Utc::now()), "cpu": 0.02, "cpu_entitlement": 0.1, "mem": p.memory_mb * 1024 * 1024 / 3, "disk": 150_000_000u64, "log_rate": 0})
                } else { json!({}) },
                "host": if down { json!("") } else { json!(format!("10.0.{}.{}", i / 250, i % 250 + 2)) },
                "instance_guid": if down { Value::Null } else { json!(format!("{}-{i}", &p.guid[..8])) },
                "instance_ports": if running { json!([{"external": 61000 + i, "internal": 8080, "external_tls_proxy_port": null, "internal_tls_proxy_port": null}]) } else { json!([]) },
                "uptime": if running { uptime } else { 0 },
                "mem_quota": p.memory_mb * 1024 * 1024,
                "disk_quota": p.disk_mb * 1024 * 1024,
                "log_rate_limit": -1,
                "fds_quota": 16384,
                "isolation_segment": null,
                "details": if state == crate::model::InstanceState::Crashed { json!("APP/PROC/WEB: Exited with status 1") } else { Value::Null },
            })
        })
        .collect();
    json!({"resources": resources})
}

pub(crate) fn buildpack(w: &World, bp: &Buildpack) -> Value {
    json!({
        "guid": bp.guid,
        "created_at": ts(bp.created_at),
        "updated_at": ts(bp.updated_at),
        "name": bp.name,
        "state": "READY",
        "filename": bp.filename(),
        "stack": bp.stack,
        "position": bp.position,
        "lifecycle": "buildpack",
        "enabled": true,
        "locked": false,
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": link(&w.base_url, &format!("/v3/buildpacks/{}", bp.guid)),
            "upload": {"href": format!("{}/v3/buildpacks/{}/upload", w.base_url, bp.guid), "method": "POST"},
        }
    })
}

pub(crate) fn stack(w: &World, s: &Stack) -> Value {
    json!({
        "guid": s.guid,
        "created_at": ts(s.created_at),
        "updated_at": ts(s.updated_at),
        "name": s.name,
        "description": s.description,
        "state": s.state.as_str(),
        "state_reason": null,
        "build_rootfs_image": s.name,
        "run_rootfs_image": s.name,
        "default": s.default,
        "metadata": {"labels": {}, "annotations": {}},
        "links": {"self": link(&w.base_url, &format!("/v3/stacks/{}", s.guid))}
    })
}
