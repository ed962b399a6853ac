//! Resource JSON as Cloud Controller's v3 presenters shape it, at the API
//! version the simulator plays (`World::api`). Each shape names the
//! presenter it follows (cloudfoundry/cloud_controller_ng
//! app/presenters/v3/*), and version switches name `crate::version::since`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::model::{
    App, AppState, Build, Buildpack, Deployment, DeploymentState, Droplet, DropletState,
    InstanceState, LifecycleKind, Org, Package, PackageState, Process, Space, Stack,
};
use crate::version::since;
use crate::world::World;

/// What list endpoints show instead of secrets: `PaginatedListPresenter`
/// presents with `show_secrets: false` and `Censorship::PRIVATE_DATA_HIDDEN_LIST`.
pub(crate) const HIDDEN_IN_LISTS: &str = "[PRIVATE DATA HIDDEN IN LISTS]";

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
    data: GuidRef<'a>,
}

/// `{"guid": <guid or null>}`.
#[derive(Serialize)]
struct NullableGuid<'a> {
    guid: Option<&'a str>,
}

#[derive(Serialize)]
struct NullableToOne<'a> {
    data: NullableGuid<'a>,
}

#[derive(Serialize)]
struct AppRelationships<'a> {
    space: ToOne<'a>,
    /// AppPresenter renders `current_droplet: {data: {guid: app.droplet_guid}}`
    /// (app/presenters/v3/app_presenter.rb): a never-staged app is
    /// `{"data": {"guid": null}}`. Absent before 3.174.0 (d543a666).
    #[serde(skip_serializing_if = "Option::is_none")]
    current_droplet: Option<NullableToOne<'a>>,
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

/// AppPresenter#build_links (app/presenters/v3/app_presenter.rb).
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
    tasks: Href,
    start: MethodHref,
    stop: MethodHref,
    /// From 3.170.0 (adb73ec2).
    #[serde(skip_serializing_if = "Option::is_none")]
    clear_buildpack_cache: Option<MethodHref>,
    revisions: Href,
    deployed_revisions: Href,
    features: Href,
}

/// The app object, as a borrowed view: big app pages serialize straight
/// from it instead of building a `Value` tree per app.
#[derive(Serialize)]
pub(crate) struct AppView<'a> {
    guid: &'a str,
    created_at: String,
    updated_at: String,
    name: &'a str,
    state: &'static str,
    lifecycle: LifecycleView<'a>,
    relationships: AppRelationships<'a>,
    metadata: MetadataView<'a>,
    links: AppLinks,
}

/// One app on a page: its view, or the deliberately malformed JSON of a
/// corrupted app (`CfSim::corrupt_app`).
// Views are the common case and live only while a page is serialized;
// boxing each one would cost an allocation per app.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum AppEntry<'a> {
    View(AppView<'a>),
    Raw(Value),
}

pub(crate) fn app_view<'a>(w: &World, a: &'a App) -> AppView<'a> {
    let b = &w.base_url;
    let g = &a.guid;
    let href = |path: String| Href {
        href: format!("{b}{path}"),
    };
    let action = |name: &str| MethodHref {
        href: format!("{b}/v3/apps/{g}/actions/{name}"),
        method: "POST",
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
        created_at: ts(a.created_at),
        updated_at: ts(a.updated_at),
        name: &a.name,
        state: a.state.as_str(),
        lifecycle,
        relationships: AppRelationships {
            space: ToOne {
                data: GuidRef {
                    guid: &a.space_guid,
                },
            },
            current_droplet: w
                .api
                .at_least(since::APP_CURRENT_DROPLET)
                .then_some(NullableToOne {
                    data: NullableGuid {
                        guid: a.current_droplet.as_deref(),
                    },
                }),
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
            tasks: href(format!("/v3/apps/{g}/tasks")),
            start: action("start"),
            stop: action("stop"),
            clear_buildpack_cache: w
                .api
                .at_least(since::APP_CLEAR_BUILDPACK_CACHE_LINK)
                .then(|| action("clear_buildpack_cache")),
            revisions: href(format!("/v3/apps/{g}/revisions")),
            deployed_revisions: href(format!("/v3/apps/{g}/revisions/deployed")),
            features: href(format!("/v3/apps/{g}/features")),
        },
    }
}

/// An app as a page entry: the view, or its corrupted JSON.
pub(crate) fn app_entry<'a>(w: &World, a: &'a App) -> AppEntry<'a> {
    match a.corruption {
        None => AppEntry::View(app_view(w, a)),
        Some(c) => {
            let mut v = serde_json::to_value(app_view(w, a)).unwrap_or(Value::Null);
            c.apply(&mut v);
            AppEntry::Raw(v)
        }
    }
}

pub(crate) fn app(w: &World, a: &App) -> Value {
    let mut v = serde_json::to_value(app_view(w, a)).unwrap_or(Value::Null);
    if let Some(c) = a.corruption {
        c.apply(&mut v);
    }
    v
}

/// SpacePresenter (app/presenters/v3/space_presenter.rb): `quota.data`
/// null and no quota link without a space quota.
pub(crate) fn space(w: &World, s: &Space) -> Value {
    let b = &w.base_url;
    let g = &s.guid;
    let quota = s.quota_guid.as_ref().map(|q| json!({"guid": q}));
    let mut v = json!({
        "guid": g,
        "created_at": ts(s.created_at),
        "updated_at": ts(s.created_at),
        "name": s.name,
        "relationships": {
            "organization": {"data": {"guid": s.org_guid}},
            "quota": {"data": quota},
        },
        "metadata": {"labels": s.labels, "annotations": s.annotations},
        "links": {
            "self": link(b, &format!("/v3/spaces/{g}")),
            "organization": link(b, &format!("/v3/organizations/{}", s.org_guid)),
            "features": link(b, &format!("/v3/spaces/{g}/features")),
            "apply_manifest": {"href": format!("{b}/v3/spaces/{g}/actions/apply_manifest"), "method": "POST"},
        }
    });
    if let Some(q) = &s.quota_guid {
        v["links"]["quota"] = link(b, &format!("/v3/space_quotas/{q}"));
    }
    // `suspended` from 3.224.0 (fa25fc33).
    if w.api.at_least(since::SPACE_SUSPENDED) {
        v["suspended"] = json!(false);
    }
    v
}

/// OrganizationPresenter (app/presenters/v3/organization_presenter.rb).
pub(crate) fn org(w: &World, o: &Org) -> Value {
    let b = &w.base_url;
    let g = &o.guid;
    json!({
        "guid": g,
        "created_at": ts(o.created_at),
        "updated_at": ts(o.created_at),
        "name": o.name,
        "suspended": false,
        "relationships": {"quota": {"data": {"guid": o.quota_guid}}},
        "metadata": {"labels": o.labels, "annotations": o.annotations},
        "links": {
            "self": link(b, &format!("/v3/organizations/{g}")),
            "domains": link(b, &format!("/v3/organizations/{g}/domains")),
            "default_domain": link(b, &format!("/v3/organizations/{g}/domains/default")),
            "quota": link(b, &format!("/v3/organization_quotas/{}", o.quota_guid)),
        }
    })
}

/// DropletPresenter (app/presenters/v3/droplet_presenter.rb); `in_list`:
/// secrets hidden as list endpoints hide them.
pub(crate) fn droplet(w: &World, d: &Droplet, in_list: bool) -> Value {
    let b = &w.base_url;
    let g = &d.guid;
    let mut links = Map::new();
    links.insert("self".to_owned(), link(b, &format!("/v3/droplets/{g}")));
    links.insert(
        "app".to_owned(),
        link(b, &format!("/v3/apps/{}", d.app_guid)),
    );
    links.insert(
        "assign_current_droplet".to_owned(),
        json!({
            "href": format!("{b}/v3/apps/{}/relationships/current_droplet", d.app_guid),
            "method": "PATCH"
        }),
    );
    if let Some(p) = &d.package_guid {
        links.insert("package".to_owned(), link(b, &format!("/v3/packages/{p}")));
    }
    // Only a STAGED buildpack droplet can be downloaded.
    if d.state == DropletState::Staged && d.lifecycle == LifecycleKind::Buildpack {
        links.insert(
            "download".to_owned(),
            link(b, &format!("/v3/droplets/{g}/download")),
        );
    }
    // null for docker; entries carry what the buildpack reported, null where unknown.
    let buildpacks = d.buildpacks.as_ref().map(|list| {
        list.iter()
            .map(|bp| {
                json!({
                    "name": bp.name,
                    "detect_output": bp.detect_output,
                    "buildpack_name": bp.buildpack_name,
                    "version": bp.version,
                })
            })
            .collect::<Vec<_>>()
    });
    let process_types = if in_list {
        json!({"redacted_message": HIDDEN_IN_LISTS})
    } else if d.lifecycle == LifecycleKind::Docker {
        json!({})
    } else {
        json!({"web": d.web_command})
    };
    json!({
        "guid": g,
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        "state": d.state.as_str(),
        "error": null,
        "lifecycle": {"type": d.lifecycle.as_str(), "data": {}},
        // sha256 of the droplet; docker droplets have none.
        "checksum": if d.lifecycle == LifecycleKind::Docker { Value::Null } else { json!({"type": "sha256", "value": d.checksum}) },
        "buildpacks": buildpacks,
        "stack": d.stack,
        "image": d.image,
        "execution_metadata": if in_list { HIDDEN_IN_LISTS } else { "" },
        "process_types": process_types,
        "relationships": {"app": {"data": {"guid": d.app_guid}}},
        "metadata": {"labels": d.labels, "annotations": {}},
        "links": Value::Object(links),
    })
}

/// PackagePresenter (app/presenters/v3/package_presenter.rb).
pub(crate) fn package(w: &World, p: &Package) -> Value {
    let b = &w.base_url;
    let g = &p.guid;
    let mut links = Map::new();
    links.insert("self".to_owned(), link(b, &format!("/v3/packages/{g}")));
    let (kind, data) = match &p.image {
        Some(image) => (
            "docker",
            // No registry credentials: username and password null.
            json!({"image": image, "username": null, "password": null}),
        ),
        None => {
            // upload and download links only for bits; download has no method.
            links.insert(
                "upload".to_owned(),
                json!({"href": format!("{b}/v3/packages/{g}/upload"), "method": "POST"}),
            );
            links.insert(
                "download".to_owned(),
                link(b, &format!("/v3/packages/{g}/download")),
            );
            let checksum = p.state.has_bits().then_some(p.checksum.as_str());
            (
                "bits",
                json!({
                    "error": if p.state == PackageState::Failed { json!(p.error) } else { Value::Null },
                    "checksum": {"type": "sha256", "value": checksum},
                }),
            )
        }
    };
    links.insert(
        "app".to_owned(),
        link(b, &format!("/v3/apps/{}", p.app_guid)),
    );
    json!({
        "guid": g,
        "created_at": ts(p.created_at),
        "updated_at": ts(p.updated_at),
        "type": kind,
        "data": data,
        "state": p.state.as_str(),
        "relationships": {"app": {"data": {"guid": p.app_guid}}},
        "metadata": {"labels": {}, "annotations": {}},
        "links": Value::Object(links),
    })
}

/// BuildPresenter (app/presenters/v3/build_presenter.rb).
pub(crate) fn build(w: &World, x: &Build) -> Value {
    let b = &w.base_url;
    let mut links = json!({
        "self": link(b, &format!("/v3/builds/{}", x.guid)),
        "app": link(b, &format!("/v3/apps/{}", x.app_guid)),
    });
    // links.droplet only with a droplet (BuildPresenter#build_links).
    if let Some(d) = &x.droplet_guid {
        links["droplet"] = link(b, &format!("/v3/droplets/{d}"));
    }
    json!({
        "guid": x.guid,
        "created_at": ts(x.created_at),
        "updated_at": ts(x.updated_at),
        "state": x.state.as_str(),
        "staging_memory_in_mb": x.staging_memory_mb,
        "staging_disk_in_mb": x.staging_disk_mb,
        "staging_log_rate_limit_bytes_per_second": -1,
        "error": x.error,
        "lifecycle": lifecycle_json(x.lifecycle, &x.buildpacks, &x.stack),
        "package": {"guid": x.package_guid},
        "droplet": x.droplet_guid.as_ref().map(|d| json!({"guid": d})),
        "created_by": {"guid": x.created_by.guid, "name": x.created_by.name, "email": x.created_by.email},
        "relationships": {"app": {"data": {"guid": x.app_guid}}},
        "metadata": metadata(&x.labels, &x.annotations),
        "links": links,
    })
}

/// DeploymentPresenter (app/presenters/v3/deployment_presenter.rb).
pub(crate) fn deployment(w: &World, d: &Deployment) -> Value {
    let b = &w.base_url;
    let g = &d.guid;
    let mut details = Map::new();
    details.insert(
        "last_successful_healthcheck".to_owned(),
        json!(ts(d.last_healthy_at)),
    );
    if w.api.at_least(since::DEPLOYMENT_LAST_STATUS_CHANGE) {
        details.insert(
            "last_status_change".to_owned(),
            json!(ts(d.last_status_change)),
        );
    }
    if let Some(err) = &d.error
        && w.api.at_least(since::DEPLOYMENT_ERROR)
    {
        details.insert("error".to_owned(), json!(err));
    }
    let mut status = json!({
        "value": d.status_value,
        "reason": d.status_reason,
        "details": Value::Object(details),
    });
    // status.canary for canary deployments from 3.189.0 (78d93d45):
    // `current` = canary_current_step, `total` = the steps, or 1 without.
    if d.strategy == "canary" && w.api.at_least(since::CANARY_STEPS) {
        let total = d.canary_steps_requested.as_ref().map_or(1, Vec::len);
        status["canary"] = json!({"steps": {"current": d.canary_current_step, "total": total}});
    }
    let mut links = json!({
        "self": link(b, &format!("/v3/deployments/{g}")),
        "app": link(b, &format!("/v3/apps/{}", d.app_guid)),
    });
    // DeploymentModel#cancelable?: DEPLOYING, PREPAUSED, PAUSED, CANCELING.
    if d.is_active() {
        links["cancel"] =
            json!({"href": format!("{b}/v3/deployments/{g}/actions/cancel"), "method": "POST"});
    }
    // DeploymentModel#continuable?: PAUSED.
    if d.state == DeploymentState::Paused {
        links["continue"] =
            json!({"href": format!("{b}/v3/deployments/{g}/actions/continue"), "method": "POST"});
    }
    // The stopped-app path records no deployment process.
    let new_processes: Vec<Value> = d
        .new_process_guid
        .iter()
        .filter(|_| !d.stopped_app)
        .map(|p| json!({"guid": p, "type": "web"}))
        .collect();
    let mut v = json!({
        "guid": g,
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        // No top-level `state` since 3.92.0 (a917640a).
        "status": status,
        "strategy": d.strategy,
        "droplet": {"guid": d.droplet_guid},
        // `{guid: previous_droplet_guid}`: `{"guid": null}` when there was none.
        "previous_droplet": {"guid": d.previous_droplet_guid},
        "new_processes": new_processes,
        // `{guid, version}` when the app has revisions enabled, else null.
        "revision": d.revision.as_ref().map(|r| json!({"guid": r.guid, "version": r.version})),
        "relationships": {"app": {"data": {"guid": d.app_guid}}},
        "metadata": metadata(&d.labels, &d.annotations),
        "links": links,
    });
    // `options` from 3.173.0 (2329550f): max_in_flight always, the scaling
    // options only when set, canary steps on canary deployments that have them.
    if w.api.at_least(since::DEPLOYMENT_OPTIONS) {
        let mut options = Map::new();
        options.insert("max_in_flight".to_owned(), json!(d.max_in_flight));
        let s = &d.scaling;
        if let Some(n) = s.web_instances {
            options.insert("web_instances".to_owned(), json!(n));
        }
        if let Some(n) = s.memory_in_mb {
            options.insert("memory_in_mb".to_owned(), json!(n));
        }
        if let Some(n) = s.disk_in_mb {
            options.insert("disk_in_mb".to_owned(), json!(n));
        }
        if let Some(n) = s.log_rate_limit {
            options.insert("log_rate_limit_in_bytes_per_second".to_owned(), json!(n));
        }
        if d.strategy == "canary"
            && let Some(steps) = &d.canary_steps_requested
        {
            options.insert("canary".to_owned(), json!({"steps": steps}));
        }
        v["options"] = Value::Object(options);
    }
    v
}

/// ProcessPresenter (app/presenters/v3/process_presenter.rb); `in_list`:
/// the command hidden as list endpoints hide it.
pub(crate) fn process(w: &World, p: &Process, in_list: bool) -> Value {
    let b = &w.base_url;
    let g = &p.guid;
    let app = w.apps.get(&p.app_guid);
    let space_guid = app.map(|a| a.space_guid.as_str()).unwrap_or_default();
    // specified_or_detected_command: null before any droplet gave one.
    let command = if in_list {
        json!(HIDDEN_IN_LISTS)
    } else if p.command.is_empty() {
        Value::Null
    } else {
        json!(p.command)
    };
    let mut links = json!({
        "self": link(b, &format!("/v3/processes/{g}")),
        "scale": {"href": format!("{b}/v3/processes/{g}/actions/scale"), "method": "POST"},
        "app": link(b, &format!("/v3/apps/{}", p.app_guid)),
        "space": link(b, &format!("/v3/spaces/{space_guid}")),
        "stats": link(b, &format!("/v3/processes/{g}/stats")),
    });
    if w.api.at_least(since::PROCESS_INSTANCES_LINK) {
        links["process_instances"] = link(b, &format!("/v3/processes/{g}/process_instances"));
    }
    let mut v = json!({
        "guid": g,
        "created_at": ts(p.created_at),
        "updated_at": ts(p.updated_at),
        "version": g,
        "type": p.kind,
        "command": command,
        "instances": p.instances(),
        "memory_in_mb": p.memory_mb,
        "disk_in_mb": p.disk_mb,
        "log_rate_limit_in_bytes_per_second": -1,
        // ProcessCreate#default_health_check_type: port for web, process for others.
        "health_check": {"type": if p.kind == "web" { "port" } else { "process" }, "data": {"timeout": null, "invocation_timeout": null, "interval": null}},
        "readiness_health_check": {"type": "process", "data": {"invocation_timeout": null, "interval": null}},
        "relationships": {
            "app": {"data": {"guid": p.app_guid}},
            "revision": p.revision_guid.as_ref().map(|r| json!({"data": {"guid": r}})),
        },
        "metadata": {"labels": {}, "annotations": {}},
        "links": links,
    });
    // `user` (run_action_user) from 3.197.0: vcap for buildpack apps, root for docker.
    if w.api.at_least(since::PROCESS_USER) {
        let docker = app.is_some_and(|a| a.lifecycle == LifecycleKind::Docker);
        v["user"] = json!(if docker { "root" } else { "vcap" });
    }
    v
}

/// ProcessStatsPresenter (app/presenters/v3/process_stats_presenter.rb) over
/// what InstancesStatsReporter gathers
/// (lib/cloud_controller/diego/reporters/instances_stats_reporter.rb).
pub(crate) fn process_stats(w: &World, p: &Process, now: Instant) -> Value {
    let started = w
        .apps
        .get(&p.app_guid)
        .is_some_and(|a| a.state == AppState::Started);
    let with_instance_guid = w.api.at_least(since::STATS_INSTANCE_GUID);
    // usage.time: CC's clock as `Time.now.utc.to_datetime.rfc3339`.
    let usage_time = Utc::now().format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let resources: Vec<Value> = (0..p.instance_starts.len())
        .map(|i| {
            let life = w.instance_life(p, i, started, now);
            let state = life.state;
            let uptime = now.saturating_duration_since(life.since).as_secs();
            if state == InstanceState::Down {
                // An unreported instance (fill_unreported_instances_with_down_instances).
                return json!({
                    "type": p.kind,
                    "index": i,
                    "state": "DOWN",
                    "routable": null,
                    "uptime": 0,
                    "isolation_segment": null,
                    "details": null,
                });
            }
            let running = state == InstanceState::Running;
            let claimed = state != InstanceState::Crashed;
            // Log-cache has container metrics for running instances only;
            // Diego has net info once an instance runs.
            let mut v = json!({
                "type": p.kind,
                "index": i,
                "state": state.as_str(),
                "routable": running,
                "host": if running { json!(format!("10.0.{}.{}", i / 250, i % 250 + 2)) } else { json!("") },
                "instance_internal_ip": if running { json!(format!("10.255.{}.{}", i / 250, i % 250 + 2)) } else { json!("") },
                "uptime": uptime,
                "mem_quota": if running { json!(p.memory_mb * 1024 * 1024) } else { Value::Null },
                "disk_quota": if running { json!(p.disk_mb * 1024 * 1024) } else { Value::Null },
                "log_rate_limit": if running { json!(-1) } else { Value::Null },
                "fds_quota": 16384,
                "isolation_segment": null,
                "details": null,
                // Diego's TLS proxy (envoy) ports: null only when 0.
                "instance_ports": if running { json!([{"external": 61000 + i, "internal": 8080, "external_tls_proxy_port": 62000 + i, "internal_tls_proxy_port": 61001}]) } else { json!([]) },
                "usage": if running {
                    json!({"time": usage_time, "cpu": 0.02, "cpu_entitlement": 0.1, "mem": p.memory_mb * 1024 * 1024 / 3, "disk": 150_000_000u64, "log_rate": 0})
                } else {
                    json!({"time": usage_time, "cpu": 0, "cpu_entitlement": 0, "mem": 0, "disk": 0, "log_rate": 0})
                },
            });
            // instance_guid from 3.191.0 (f50766e8); a crashed LRP has no instance key.
            if with_instance_guid {
                v["instance_guid"] = if claimed {
                    json!(format!("{}-{i}", &p.guid[..8]))
                } else {
                    json!("")
                };
            }
            v
        })
        .collect();
    json!({"resources": resources})
}

/// BuildpackPresenter (app/presenters/v3/buildpack_presenter.rb).
pub(crate) fn buildpack(w: &World, bp: &Buildpack) -> Value {
    let mut v = json!({
        "guid": bp.guid,
        "created_at": ts(bp.created_at),
        "updated_at": ts(bp.updated_at),
        "name": bp.name,
        "stack": bp.stack,
        // READY iff a file was uploaded (Buildpack#state): AWAITING_UPLOAD has filename null.
        "state": bp.state().as_str(),
        "filename": bp.filename(),
        "position": bp.position,
        "enabled": bp.enabled,
        "locked": bp.locked,
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": link(&w.base_url, &format!("/v3/buildpacks/{}", bp.guid)),
            "upload": {"href": format!("{}/v3/buildpacks/{}/upload", w.base_url, bp.guid), "method": "POST"},
        }
    });
    // `lifecycle` from 3.194.0 (30ab628f).
    if w.api.at_least(since::BUILDPACK_LIFECYCLE) {
        v["lifecycle"] = json!(bp.lifecycle);
    }
    v
}

/// StackPresenter (app/presenters/v3/stack_presenter.rb).
pub(crate) fn stack(w: &World, s: &Stack) -> Value {
    let mut v = json!({
        "guid": s.guid,
        "created_at": ts(s.created_at),
        "updated_at": ts(s.updated_at),
        "name": s.name,
        "description": s.description,
        "build_rootfs_image": s.name,
        "run_rootfs_image": s.name,
        "default": s.default,
        "metadata": {"labels": {}, "annotations": {}},
        "links": {"self": link(&w.base_url, &format!("/v3/stacks/{}", s.guid))}
    });
    // `state` from 3.210.0 (544cac6f), `state_reason` from 3.211.0 (3a402312).
    if w.api.at_least(since::STACK_STATE) {
        v["state"] = json!(s.state.as_str());
    }
    if w.api.at_least(since::STACK_STATE_REASON) {
        v["state_reason"] = Value::Null;
    }
    v
}

/// EventPresenter (app/presenters/v3/event_presenter.rb): `created_at` and
/// `updated_at` are both the event's timestamp; `actor`/`target` null when
/// unset, `space`/`organization` null when blank, `data` `{}` when empty.
pub(crate) fn audit_event(w: &World, e: &crate::audit::AuditEvent) -> Value {
    let party = |p: &Option<crate::audit::EventParty>| {
        p.as_ref()
            .map(|p| json!({"guid": p.guid, "type": p.kind, "name": p.name}))
    };
    let data = if e.data.is_null() {
        json!({})
    } else {
        e.data.clone()
    };
    json!({
        "guid": e.guid,
        "created_at": ts(e.timestamp),
        "updated_at": ts(e.timestamp),
        "type": e.kind,
        "actor": party(&e.actor),
        "target": party(&e.target),
        "data": data,
        "space": e.space_guid.as_ref().filter(|g| !g.is_empty()).map(|g| json!({"guid": g})),
        "organization": e.org_guid.as_ref().filter(|g| !g.is_empty()).map(|g| json!({"guid": g})),
        "links": {"self": link(&w.base_url, &format!("/v3/audit_events/{}", e.guid))},
    })
}

/// `apps` of both quota presenters: unlimited (CC's -1) as null. The
/// simulator models memory and instance limits; the rest is unlimited.
fn quota_apps(l: &crate::quota::QuotaLimits) -> Value {
    json!({
        "total_memory_in_mb": l.memory_mb,
        "per_process_memory_in_mb": null,
        "total_instances": l.instances,
        "per_app_tasks": null,
        "log_rate_limit_in_bytes_per_second": null,
    })
}

/// SpaceQuotaPresenter (app/presenters/v3/space_quota_presenter.rb):
/// `relationships.spaces` lists the spaces it applies to (the client sees
/// every space here).
pub(crate) fn space_quota(w: &World, q: &crate::quota::SpaceQuota) -> Value {
    let b = &w.base_url;
    let spaces: Vec<Value> = w
        .spaces
        .iter()
        .filter(|s| s.quota_guid.as_deref() == Some(q.guid.as_str()))
        .map(|s| json!({"guid": s.guid}))
        .collect();
    let own = json!({
        "relationships": {
            "organization": {"data": {"guid": q.org_guid}},
            "spaces": {"data": spaces},
        },
        "links": {
            "self": link(b, &format!("/v3/space_quotas/{}", q.guid)),
            "organization": link(b, &format!("/v3/organizations/{}", q.org_guid)),
        }
    });
    quota(&q.guid, &q.name, q.created_at, q.updated_at, own, &q.limits)
}

/// OrganizationQuotaPresenter (app/presenters/v3/organization_quota_presenter.rb).
pub(crate) fn org_quota(w: &World, q: &crate::quota::OrgQuota) -> Value {
    let b = &w.base_url;
    let orgs: Vec<Value> = w
        .orgs
        .iter()
        .filter(|o| o.quota_guid == q.guid)
        .map(|o| json!({"guid": o.guid}))
        .collect();
    let own = json!({
        "domains": {"total_domains": null},
        "relationships": {"organizations": {"data": orgs}},
        "links": {"self": link(b, &format!("/v3/organization_quotas/{}", q.guid))}
    });
    quota(&q.guid, &q.name, q.created_at, q.updated_at, own, &q.limits)
}

/// What both quota presenters show around their `own` fields: the quota's
/// guid, timestamps and name first; the app limits, and the service and
/// route limits (unlimited here) last.
fn quota(
    guid: &str,
    name: &str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    own: Value,
    limits: &crate::quota::QuotaLimits,
) -> Value {
    let mut body = json!({
        "guid": guid,
        "created_at": ts(created_at),
        "updated_at": ts(updated_at),
        "name": name,
    });
    let limits = json!({
        "apps": quota_apps(limits),
        "services": {"paid_services_allowed": true, "total_service_instances": null, "total_service_keys": null},
        "routes": {"total_routes": null, "total_reserved_ports": null},
    });
    if let (Some(body), Value::Object(own), Value::Object(limits)) =
        (body.as_object_mut(), own, limits)
    {
        body.extend(own);
        body.extend(limits);
    }
    body
}
