//! The simulator's responses against the Cloud Controller conformance
//! corpus (`tests/support/corpus/cc/`, built from cloud_controller_ng's
//! presenters; see its PROVENANCE.md): for each sampled response the same
//! keys, recursively, and the same JSON type for each (null where the
//! corpus has null), plus exact texts where the corpus pins one (build
//! errors, error bodies).

use std::collections::BTreeSet;
use std::path::PathBuf;

use cf_sim::{
    AppSpec, AppState, BuildpackSpec, CfSim, Fault, FaultRule, LifecycleKind, PackageState,
    SimConfig, StagingFailure,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Api, fail_next_staging, manual, spec, start, token_response};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../support/corpus/cc");

/// Keys whose values are free-form maps (user data): compared as objects only.
const FREE_FORM: &[&str] = &["labels", "annotations", "process_types"];

/// Keys the corpus has that the simulator legitimately does not send, as
/// `(fixture, path)`; `*` matches every fixture. Keep this short.
const NOT_MODELLED: &[(&str, &str)] = &[
    // `data.endpoint` exists only for http health checks; the simulator's
    // web processes use the port check.
    ("process__web", "health_check.data.endpoint"),
    (
        "processes_list__app_during_deployment",
        "resources[].health_check.data.endpoint",
    ),
    // A space quota's link: the listed spaces have none.
    ("*", "included.spaces[].links.quota"),
];

/// Values the corpus has as null, or as something else, where the simulator
/// models the other case; `(fixture, path)`, `*` for every fixture.
const NULLABLE: &[(&str, &str)] = &[
    // The listed spaces have no space quota: `relationships.quota.data` null.
    ("*", "included.spaces[].relationships.quota.data"),
    // That fixture's RUNNING instance had no log-cache envelope; the
    // simulator reports the quota (numeric, as in process_stats__negative_uptime).
    (
        "process_stats__running_starting_crashed_down",
        "resources[].log_rate_limit",
    ),
    // CredHub configured on that foundation; none in the simulator (root__v3_228).
    ("root__v3_160_with_v2", "links.credhub"),
    // Quotas: the simulator models the memory and instance limits; the rest
    // are unlimited (null), and its default org quota has unlimited memory.
    ("*", "apps.per_process_memory_in_mb"),
    ("*", "resources[].apps.per_process_memory_in_mb"),
    ("*", "routes.total_routes"),
    ("*", "resources[].routes.total_routes"),
    ("*", "routes.total_reserved_ports"),
    ("*", "resources[].routes.total_reserved_ports"),
    ("*", "services.total_service_instances"),
    ("*", "resources[].services.total_service_instances"),
    ("organization_quota__default", "apps.total_memory_in_mb"),
    (
        "organization_quotas_list__by_organization",
        "resources[].apps.total_memory_in_mb",
    ),
];

fn listed(list: &[(&str, &str)], fixture: &str, path: &str) -> bool {
    list.iter()
        .any(|(f, p)| (*f == "*" || *f == fixture) && *p == path)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences of `sim` from `corpus` at `path` (both key sets and types).
fn diff(fixture: &str, path: &str, sim: &Value, corpus: &Value, out: &mut Vec<String>) {
    if kind(sim) != kind(corpus) {
        if (sim.is_null() || corpus.is_null()) && listed(NULLABLE, fixture, path) {
            return;
        }
        out.push(format!(
            "{path}: sim {} ({}), corpus {} ({})",
            kind(sim),
            short(sim),
            kind(corpus),
            short(corpus)
        ));
        return;
    }
    let last = path.rsplit('.').next().unwrap_or(path);
    match (sim, corpus) {
        (Value::Object(s), Value::Object(c)) => {
            if FREE_FORM.contains(&last) {
                return;
            }
            let allowed = |key: &str| listed(NOT_MODELLED, fixture, &join(path, key));
            for k in c.keys().filter(|k| !s.contains_key(*k)) {
                if !allowed(k) {
                    out.push(format!("{}: missing in the sim", join(path, k)));
                }
            }
            for k in s.keys().filter(|k| !c.contains_key(*k)) {
                out.push(format!("{}: the corpus has no such key", join(path, k)));
            }
            for (k, v) in s {
                if let Some(cv) = c.get(k) {
                    diff(fixture, &join(path, k), v, cv, out);
                }
            }
        }
        (Value::Array(s), Value::Array(c)) if !s.is_empty() && !c.is_empty() => {
            // Each element must be shaped like some corpus element.
            let p = format!("{path}[]");
            for (i, v) in s.iter().enumerate() {
                let best = c
                    .iter()
                    .map(|cv| {
                        let mut d = Vec::new();
                        diff(fixture, &p, v, cv, &mut d);
                        d
                    })
                    .min_by_key(Vec::len)
                    .unwrap_or_default();
                out.extend(best.into_iter().map(|d| format!("[{i}] {d}")));
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..60])
    } else {
        s
    }
}

/// The checks of one run: compared fixtures and everything that differed.
#[derive(Default)]
struct Corpus {
    used: BTreeSet<String>,
    missing: Vec<String>,
    problems: Vec<String>,
}

impl Corpus {
    fn load(&mut self, fixture: &str) -> Option<Value> {
        let path = PathBuf::from(CORPUS).join(format!("{fixture}.json"));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                self.used.insert(fixture.to_owned());
                match serde_json::from_str(&text) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.problems
                            .push(format!("{fixture}: unreadable JSON: {e}"));
                        None
                    }
                }
            }
            Err(_) => {
                self.missing.push(fixture.to_owned());
                None
            }
        }
    }

    /// Same keys and types as the fixture.
    fn shape(&mut self, fixture: &str, sim: &Value) {
        let Some(corpus) = self.load(fixture) else {
            return;
        };
        let mut out = Vec::new();
        diff(fixture, "", sim, &corpus, &mut out);
        self.problems
            .extend(out.into_iter().map(|d| format!("{fixture}: {d}")));
    }

    /// The same value at `pointer` (a JSON pointer) as the fixture.
    fn same(&mut self, fixture: &str, pointer: &str, sim: &Value) {
        let Some(corpus) = self.load(fixture) else {
            return;
        };
        let want = corpus.pointer(pointer).cloned().unwrap_or(Value::Null);
        let got = sim.pointer(pointer).cloned().unwrap_or(Value::Null);
        if want != got {
            self.problems
                .push(format!("{fixture}{pointer}: sim {got}, corpus {want}"));
        }
    }

    /// An error body: shape, and the same title, code and detail.
    fn error(&mut self, fixture: &str, sim: &Value) {
        self.shape(fixture, sim);
        for p in ["/errors/0/title", "/errors/0/code", "/errors/0/detail"] {
            self.same(fixture, p, sim);
        }
    }

    fn finish(self) {
        let all: BTreeSet<String> = std::fs::read_dir(CORPUS)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".json"))
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let uncovered: Vec<&String> = all.difference(&self.used).collect();
        eprintln!(
            "corpus: {} fixtures compared, {} not compared: {uncovered:?}",
            self.used.len(),
            uncovered.len()
        );
        if !self.missing.is_empty() {
            eprintln!(
                "corpus: fixtures not found (not compared): {:?}",
                self.missing
            );
        }
        assert!(
            self.problems.is_empty(),
            "{} differences from the corpus:\n{}",
            self.problems.len(),
            self.problems.join("\n")
        );
    }
}

async fn settled(api: &Api, app: &str) -> Value {
    let r = api.build(app).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    api.settled_build(r.body["guid"].as_str().expect("guid"))
        .await
}

#[tokio::test]
async fn responses_match_the_cc_corpus() {
    if !std::path::Path::new(CORPUS).is_dir() {
        eprintln!("no corpus at {CORPUS}: nothing compared");
        return;
    }
    let mut c = Corpus::default();
    let (sim, api) = start(manual()).await;

    // ---- apps ----
    let mut staged = AppSpec::new("checkout-api");
    staged.instances = 4;
    staged.worker_instances = 1;
    let app = sim.add_app(staged);
    c.shape(
        "app__started_buildpack",
        &api.ok(&format!("/v3/apps/{app}")).await,
    );
    let mut stopped = AppSpec::new("stopped");
    stopped.state = AppState::Stopped;
    stopped.buildpack_requested = false;
    let stopped = sim.add_app(stopped);
    let extra = sim.add_app(AppSpec::new("search"));
    c.shape(
        "app__stopped_buildpack",
        &api.ok(&format!("/v3/apps/{stopped}")).await,
    );
    let mut docker = AppSpec::new("legacy-proxy");
    docker.lifecycle = LifecycleKind::Docker;
    let docker = sim.add_app(docker);
    let fresh = sim.add_app(AppSpec::never_staged("new-service"));
    let fresh_json = api.ok(&format!("/v3/apps/{fresh}")).await;
    c.shape("app__never_staged_guid_null", &fresh_json);
    c.same(
        "app__never_staged_guid_null",
        "/relationships/current_droplet",
        &fresh_json,
    );
    c.shape("app__docker", &api.ok(&format!("/v3/apps/{docker}")).await);
    c.shape(
        "app__show_include_space",
        &api.ok(&format!("/v3/apps/{app}?include=space")).await,
    );
    c.shape(
        "apps_list__include_space_organization",
        &api.ok("/v3/apps?include=space.organization&per_page=3")
            .await,
    );
    c.shape(
        "apps_list__include_space_organization_last_page",
        &api.ok("/v3/apps?include=space.organization&per_page=3&page=2")
            .await,
    );
    c.shape(
        "apps_list__empty",
        &api.ok("/v3/apps?names=does-not-exist").await,
    );

    // ---- droplets ----
    let current = api.ok(&format!("/v3/apps/{app}/droplets/current")).await;
    c.shape("droplet__staged_buildpack", &current);
    let docker_droplet = api.ok(&format!("/v3/apps/{docker}/droplets/current")).await;
    c.shape("droplet__docker_staged", &docker_droplet);
    let ids = format!(
        "{},{}",
        current["guid"].as_str().expect("guid"),
        docker_droplet["guid"].as_str().expect("guid")
    );
    c.shape(
        "droplets_list__by_guids",
        &api.ok(&format!("/v3/droplets?guids={ids}")).await,
    );
    c.shape(
        "app_droplets_list__current_true",
        &api.ok(&format!("/v3/apps/{app}/droplets?current=true"))
            .await,
    );
    c.shape(
        "app_droplets_list__current_true_no_droplet",
        &api.ok(&format!("/v3/apps/{fresh}/droplets?current=true"))
            .await,
    );
    c.shape(
        "app_current_droplet_relationship__get",
        &api.ok(&format!("/v3/apps/{app}/relationships/current_droplet"))
            .await,
    );
    c.error(
        "error__404_droplet_not_found",
        &api.get(&format!("/v3/apps/{fresh}/droplets/current"))
            .await
            .body,
    );
    c.error(
        "error__404_app_not_found",
        &api.get("/v3/apps/nope").await.body,
    );

    // ---- builds ----
    let slow = cf_sim::AppTiming {
        staging: std::time::Duration::from_secs(60),
        instance_startup: std::time::Duration::ZERO,
    };
    let staging_app = sim.add_app(AppSpec::new("staging"));
    sim.set_app_timing(&staging_app, slow).expect("timing");
    let staging = api.build(&staging_app).await;
    c.shape(
        "build__staging_created_by_client_credentials",
        &staging.body,
    );
    c.same(
        "build__staging_created_by_client_credentials",
        "/created_by/name",
        &staging.body,
    );
    c.shape(
        "builds_list__app_staging",
        &api.ok(&format!(
            "/v3/builds?app_guids={staging_app}&states=STAGING"
        ))
        .await,
    );
    c.error(
        "error__422_build_staging_in_progress",
        &api.build(&staging_app).await.body,
    );
    let staged_build = settled(&api, &app).await;
    c.shape("build__staged", &staged_build);
    let docker_build = settled(&api, &docker).await;
    c.shape("build__staged_docker", &docker_build);
    for (failure, fixture) in [
        (
            StagingFailure::NoAppDetected,
            "build__failed_no_app_detected",
        ),
        (
            StagingFailure::BuildpackCompileFailed,
            "build__failed_buildpack_compile_failed",
        ),
        (
            StagingFailure::BuildpackReleaseFailed,
            "build__failed_buildpack_release_failed",
        ),
        (
            StagingFailure::InsufficientResources,
            "build__failed_insufficient_resources",
        ),
        (
            StagingFailure::StagingTimeExpired,
            "build__failed_staging_time_expired",
        ),
        (
            StagingFailure::NoCompatibleCell,
            "build__failed_no_compatible_cell",
        ),
        (
            StagingFailure::CellCommunicationError,
            "build__failed_staging_error_cell_communication",
        ),
    ] {
        sim.set_fault(FaultRule::app(&app, Fault::StagingFails(failure)).times(1));
        let b = settled(&api, &app).await;
        c.shape(fixture, &b);
        c.same(fixture, "/error", &b);
    }
    for (id, details, fixture) in [
        (
            "StagingError",
            "staging failed",
            "build__failed_staging_error_generic",
        ),
        (
            "StagingError",
            "missing docker registry",
            "build__failed_staging_error_missing_docker_registry",
        ),
        (
            "StagingError",
            "no droplet",
            "build__failed_staging_error_no_droplet",
        ),
        (
            "StagingError",
            "Start command not specified",
            "build__failed_staging_error_start_command_not_specified",
        ),
        (
            "StagerError",
            "kpack build failed: step-export exited 1",
            "build__failed_stager_error",
        ),
    ] {
        fail_next_staging(&sim, &app, id, details);
        let b = settled(&api, &app).await;
        c.shape(fixture, &b);
        c.same(fixture, "/error", &b);
    }
    // Every id the corpus lists comes out of fail_to_stage! the same way.
    if let Some(all) = c.load("builds_list__failed_all_error_ids") {
        for b in all["resources"].as_array().into_iter().flatten() {
            let Some(error) = b["error"].as_str() else {
                continue;
            };
            let (id, text) = error.split_once(" - ").unwrap_or((error, ""));
            let details = text
                .strip_prefix("Staging error: ")
                .or_else(|| text.strip_prefix("Stager error: "))
                .or_else(|| text.strip_prefix("Staging time expired: "))
                .unwrap_or("staging failed");
            let ours = cf_sim::staging_error(id, details);
            if ours != error {
                c.problems.push(format!(
                    "builds_list__failed_all_error_ids: {ours:?} != {error:?}"
                ));
            }
        }
    }
    // A person's build; a droplet of three buildpacks (detect output only on the last).
    let human = sim.start_build_as_human(&extra).expect("build");
    let pkg = api.ready_package(&extra).await;
    sim.tick();
    let hb = api.settled_build(&human).await;
    c.shape("build__staged_created_by_user", &hb);
    let multi = api
        .post(
            "/v3/builds",
            json!({"package": {"guid": pkg}, "lifecycle": {"type": "buildpack", "data": {"buildpacks": ["go_buildpack", "nodejs_buildpack", "ruby_buildpack"]}}}),
        )
        .await;
    assert_eq!(multi.status, StatusCode::CREATED, "{}", multi.body);
    let mb = api
        .settled_build(multi.body["guid"].as_str().expect("guid"))
        .await;
    let md = api
        .ok(&format!(
            "/v3/droplets/{}",
            mb["droplet"]["guid"].as_str().expect("droplet")
        ))
        .await;
    c.shape("droplet__staged_multi_buildpack_detect_output_null", &md);

    let mut quota = AppSpec::new("quota");
    quota.org = "payments".to_owned();
    let quota = sim.add_app(quota);
    sim.set_fault(FaultRule::app(&quota, Fault::BuildQuotaExceeded).times(1));
    c.error(
        "error__422_build_org_memory_limit_exceeded",
        &api.build(&quota).await.body,
    );
    let expired = sim
        .add_package(&quota, PackageState::Expired)
        .expect("package");
    c.error(
        "error__400_build_package_not_ready",
        &api.post("/v3/builds", json!({"package": {"guid": expired}}))
            .await
            .body,
    );
    c.error(
        "error__422_build_unable_to_use_package",
        &api.post("/v3/builds", json!({"package": {"guid": "nope"}}))
            .await
            .body,
    );

    // ---- deployments ----
    let droplet = staged_build["droplet"]["guid"]
        .as_str()
        .expect("droplet")
        .to_owned();
    let d = api.deploy(&app, &droplet, 2).await;
    assert_eq!(d.status, StatusCode::CREATED, "{}", d.body);
    let rolling = d.guid();
    c.shape("deployment__active_deploying_rolling", &d.body);
    c.shape(
        "deployments_list__app_active",
        &api.ok(&format!(
            "/v3/deployments?app_guids={app}&status_values=ACTIVE"
        ))
        .await,
    );
    c.shape(
        "processes_list__app_during_deployment",
        &api.ok(&format!("/v3/apps/{app}/processes")).await,
    );
    let new_web = d.new_process();
    c.shape(
        "process__web",
        &api.ok(&format!("/v3/processes/{new_web}")).await,
    );
    c.error(
        "error__422_assign_current_droplet_during_deployment",
        &api.patch(
            &format!("/v3/apps/{app}/relationships/current_droplet"),
            json!({"data": {"guid": droplet}}),
        )
        .await
        .body,
    );
    c.error(
        "error__422_deployment_continue_not_paused",
        &api.continue_(&rolling).await.body,
    );
    // Superseded by a second deployment, which is then cancelled.
    let d2 = api.deploy(&app, &droplet, 1).await;
    let second = d2.guid();
    c.shape(
        "deployment__finalized_superseded",
        &api.ok(&format!("/v3/deployments/{rolling}")).await,
    );
    c.error(
        "error__422_deployment_cancel_finalized_superseded",
        &api.cancel(&rolling).await.body,
    );
    api.cancel(&second).await;
    c.shape(
        "deployment__active_canceling",
        &api.ok(&format!("/v3/deployments/{second}")).await,
    );
    sim.tick();
    c.shape(
        "deployment__finalized_canceled",
        &api.ok(&format!("/v3/deployments/{second}")).await,
    );
    c.shape(
        "deployments_list__app_active_empty",
        &api.ok(&format!(
            "/v3/deployments?app_guids={app}&status_values=ACTIVE"
        ))
        .await,
    );
    let d3 = api.deploy(&app, &droplet, 4).await;
    let third = d3.guid();
    for _ in 0..4 {
        sim.tick();
    }
    let done = api.ok(&format!("/v3/deployments/{third}")).await;
    c.shape("deployment__finalized_deployed", &done);
    c.error(
        "error__422_deployment_cancel_finalized_deployed",
        &api.cancel(&third).await.body,
    );
    // Canary with steps, paused; and without steps.
    let canary_app = sim.add_app(spec("canary", |s| s.instances = 4));
    let cd = api.staged_droplet(&canary_app).await;
    let canary = |steps: Value| {
        let mut options = json!({"max_in_flight": 1});
        if !steps.is_null() {
            options["canary"] = json!({"steps": steps});
        }
        json!({
            "droplet": {"guid": cd},
            "strategy": "canary",
            "options": options,
            "relationships": {"app": {"data": {"guid": canary_app}}},
        })
    };
    let r = api
        .post(
            "/v3/deployments",
            canary(
                json!([{"instance_weight": 10}, {"instance_weight": 50}, {"instance_weight": 100}]),
            ),
        )
        .await;
    c.shape("deployment__active_deploying_canary_before_pause", &r.body);
    let g = r.guid();
    sim.tick();
    c.shape(
        "deployment__active_paused_canary",
        &api.ok(&format!("/v3/deployments/{g}")).await,
    );
    let r = api.post("/v3/deployments", canary(Value::Null)).await;
    let g = r.guid();
    sim.tick();
    c.shape(
        "deployment__active_paused_canary_no_steps",
        &api.ok(&format!("/v3/deployments/{g}")).await,
    );
    // Mid-deploy quota error in status.details.error.
    let q_app = sim.add_app(spec("tight", |s| s.instances = 3));
    let qd = api.staged_droplet(&q_app).await;
    sim.set_fault(FaultRule::app(&q_app, Fault::MidDeployQuotaExceeded).times(1));
    let r = api.deploy(&q_app, &qd, 1).await;
    let g = r.guid();
    sim.tick();
    let with_error = api.ok(&format!("/v3/deployments/{g}")).await;
    c.shape("deployment__active_deploying_with_error", &with_error);
    c.same(
        "deployment__active_deploying_with_error",
        "/status/details/error",
        &with_error,
    );
    // A stopped, never-staged app without revisions: finalized at once.
    let mut bare = AppSpec::never_staged("bare");
    bare.revisions_enabled = false;
    let bare = sim.add_app(bare);
    let bd = api.staged_droplet(&bare).await;
    c.shape(
        "deployment__stopped_app_previous_droplet_null_revision_null",
        &api.deploy(&bare, &bd, 1).await.body,
    );
    // Validation errors.
    let rel = json!({"app": {"data": {"guid": app}}});
    c.error(
        "error__422_deployment_max_in_flight_invalid",
        &api
            .post(
                "/v3/deployments",
                json!({"droplet": {"guid": droplet}, "options": {"max_in_flight": 0}, "relationships": rel}),
            )
            .await
            .body,
    );
    c.error(
        "error__422_deployment_options_unsupported_key",
        &api.post(
            "/v3/deployments",
            json!({"droplet": {"guid": droplet}, "options": {"surge": 1}, "relationships": rel}),
        )
        .await
        .body,
    );
    c.error(
        "error__422_deployment_droplet_not_assignable",
        &api.post(
            "/v3/deployments",
            json!({"droplet": {"guid": cd}, "relationships": rel}),
        )
        .await
        .body,
    );
    c.error(
        "error__422_deployment_unable_to_use_app",
        &api
            .post(
                "/v3/deployments",
                json!({"droplet": {"guid": droplet}, "relationships": {"app": {"data": {"guid": "nope"}}}}),
            )
            .await
            .body,
    );
    let mut payments = AppSpec::new("pay");
    payments.org = "payments".to_owned();
    let payments = sim.add_app(payments);
    let pd = api.staged_droplet(&payments).await;
    sim.set_fault(FaultRule::app(&payments, Fault::DeploymentQuotaExceeded).times(1));
    c.error(
        "error__422_deployment_org_memory_quota_exceeded",
        &api.deploy(&payments, &pd, 1).await.body,
    );
    c.error(
        "error__404_deployment_not_found",
        &api.get("/v3/deployments/nope").await.body,
    );
    c.error(
        "error__404_build_not_found",
        &api.get("/v3/builds/nope").await.body,
    );

    // ---- buildpacks, stacks, packages ----
    c.shape(
        "buildpack__ready",
        &api.ok("/v3/buildpacks?names=ruby_buildpack&stacks=cflinuxfs4")
            .await["resources"][0],
    );
    sim.add_buildpack(BuildpackSpec::awaiting_upload("python_buildpack_next"));
    c.shape(
        "buildpack__awaiting_upload_filename_null_stack_null",
        &api.ok("/v3/buildpacks?names=python_buildpack_next").await["resources"][0],
    );
    let mut locked = BuildpackSpec::ready("php_buildpack", "cflinuxfs3", "4.6.10");
    locked.enabled = false;
    locked.locked = true;
    sim.add_buildpack(locked);
    c.shape(
        "buildpack__disabled_locked",
        &api.ok("/v3/buildpacks?names=php_buildpack").await["resources"][0],
    );
    c.shape(
        "buildpacks_list__first_page_next",
        &api.ok("/v3/buildpacks?per_page=2").await,
    );
    let bps = api.ok("/v3/buildpacks?per_page=2").await;
    let last = bps["pagination"]["total_pages"].as_u64().expect("pages");
    c.shape(
        "buildpacks_list__last_page_next_null",
        &api.ok(&format!("/v3/buildpacks?per_page=2&page={last}"))
            .await,
    );
    let mut php = AppSpec::new("php");
    php.buildpack = "php_buildpack".to_owned();
    php.stack = "cflinuxfs3".to_owned();
    let php = sim.add_app(php);
    c.error(
        "error__400_build_buildpack_disabled",
        &api.build(&php).await.body,
    );
    let stacks = api.ok("/v3/stacks").await;
    c.shape("stack__active", &stacks["resources"][0]);
    sim.set_stack_state("cflinuxfs3", cf_sim::StackState::Deprecated);
    sim.set_stack_state("cflinuxfs3", cf_sim::StackState::Disabled);
    let mut old_stack = AppSpec::new("fs3");
    old_stack.stack = "cflinuxfs3".to_owned();
    let old_stack = sim.add_app(old_stack);
    let r = api.build(&old_stack).await;
    c.shape("error__422_build_stack_disabled", &r.body);
    c.same(
        "error__422_build_stack_disabled",
        "/errors/0/title",
        &r.body,
    );
    c.same("error__422_build_stack_disabled", "/errors/0/code", &r.body);
    for (state, fixture) in [
        (PackageState::Ready, "package__bits_ready"),
        (
            PackageState::AwaitingUpload,
            "package__bits_awaiting_upload",
        ),
        (
            PackageState::ProcessingUpload,
            "package__bits_processing_upload",
        ),
        (PackageState::Copying, "package__bits_copying"),
        (PackageState::Failed, "package__bits_failed"),
        (PackageState::Expired, "package__bits_expired"),
    ] {
        let p = sim.add_package(&stopped, state).expect("package");
        c.shape(fixture, &api.ok(&format!("/v3/packages/{p}")).await);
    }
    c.shape(
        "package__docker_ready_public_image",
        &api.ok(&format!("/v3/apps/{docker}/packages")).await["resources"][0],
    );
    let mut newer = AppSpec::new("newer");
    newer.newer_package = true;
    let newer = sim.add_app(newer);
    c.shape(
        "packages_list__app_newest_ready",
        &api.ok(&format!(
            "/v3/packages?app_guids={newer}&states=READY&order_by=-created_at&per_page=1"
        ))
        .await,
    );

    // ---- processes and stats ----
    let mut seeded = AppSpec::new("seeded");
    seeded.revisions_enabled = false;
    let seeded = sim.add_app(seeded);
    c.shape(
        "process__web_no_revision",
        &api.ok(&format!("/v3/processes/{seeded}")).await,
    );
    c.shape(
        "process_stats__negative_uptime",
        &api.ok(&format!("/v3/processes/{seeded}/stats")).await,
    );
    c.shape(
        "process_stats__no_instances_reported_all_down",
        &api.ok(&format!("/v3/processes/{stopped}/stats")).await,
    );
    let mut zero = AppSpec::new("zero");
    zero.instances = 0;
    let zero = sim.add_app(zero);
    c.shape(
        "process_stats__zero_instances",
        &api.ok(&format!("/v3/processes/{zero}/stats")).await,
    );
    // RUNNING, STARTING and CRASHED instances mid-deployment.
    let mixed = sim.add_app(spec("mixed", |s| s.instances = 3));
    let md = api.staged_droplet(&mixed).await;
    sim.set_fault(FaultRule::app(&mixed, Fault::InstancesCrash { error: None }).times(1));
    let r = api.deploy(&mixed, &md, 2).await;
    let crashing = r.new_process();
    let mut stats = api.ok(&format!("/v3/processes/{crashing}/stats")).await;
    let old = api.ok(&format!("/v3/processes/{mixed}/stats")).await;
    if let (Some(list), Some(more)) = (
        stats["resources"].as_array_mut(),
        old["resources"].as_array(),
    ) {
        list.extend(more.iter().cloned());
    }
    c.shape("process_stats__running_starting_crashed_down", &stats);
    sim.set_fault(FaultRule::app(&seeded, Fault::InstancesUnavailable).times(1));
    let r = api.get(&format!("/v3/processes/{seeded}/stats")).await;
    c.shape("error__503_process_stats_instances_unavailable", &r.body);
    c.same(
        "error__503_process_stats_instances_unavailable",
        "/errors/0/code",
        &r.body,
    );

    // ---- spaces, orgs, quotas, roots, auth ----
    let snap = sim.app(&app).expect("app");
    let space_quota = sim
        .set_space_quota(
            &snap.org,
            &snap.space,
            cf_sim::QuotaLimits {
                memory_mb: Some(20_480),
                instances: Some(40),
            },
        )
        .expect("space quota");
    c.shape(
        "space__with_metadata",
        &api.ok(&format!("/v3/spaces/{}", snap.space_guid)).await,
    );
    c.shape(
        "space_quota__prod",
        &api.ok(&format!("/v3/space_quotas/{space_quota}")).await,
    );
    c.shape(
        "space_quotas_list__by_organization",
        &api.ok(&format!(
            "/v3/space_quotas?organization_guids={}&per_page=5000",
            snap.org_guid
        ))
        .await,
    );
    let org_quota = api
        .ok(&format!("/v3/organizations/{}", snap.org_guid))
        .await["relationships"]["quota"]["data"]["guid"]
        .as_str()
        .expect("every org has a quota")
        .to_owned();
    c.shape(
        "organization_quota__default",
        &api.ok(&format!("/v3/organization_quotas/{org_quota}"))
            .await,
    );
    c.shape(
        "organization_quotas_list__by_organization",
        &api.ok(&format!(
            "/v3/organization_quotas?organization_guids={}&per_page=5000",
            snap.org_guid
        ))
        .await,
    );
    // Refusals by a real quota: the space's memory, the org's instances.
    let mut tight = AppSpec::new("tight");
    tight.org = "payments".to_owned();
    tight.space = "prod".to_owned();
    tight.instances = 1;
    let tight = sim.add_app(tight);
    let td = api.staged_droplet(&tight).await;
    sim.set_space_quota(
        "payments",
        "prod",
        cf_sim::QuotaLimits {
            memory_mb: Some(256),
            instances: None,
        },
    )
    .expect("space quota");
    c.error(
        "error__422_deployment_space_memory_quota_exceeded",
        &api.deploy(&tight, &td, 1).await.body,
    );
    sim.set_space_quota("payments", "prod", cf_sim::QuotaLimits::default())
        .expect("space quota");
    sim.set_org_quota(
        "payments",
        cf_sim::QuotaLimits {
            memory_mb: None,
            instances: Some(1),
        },
    )
    .expect("org quota");
    c.error(
        "error__422_deployment_org_app_instance_limit_exceeded",
        &api.deploy(&tight, &td, 1).await.body,
    );
    c.shape(
        "organization__with_metadata",
        &api.ok(&format!("/v3/organizations/{}", snap.org_guid))
            .await,
    );
    c.shape("root__v3_228", &api.ok("/").await);
    let token: Value = token_response(&sim).await.json().await.expect("json");
    c.shape("uaa__token_client_credentials", &token);
    c.shape("v3__root_links", &api.ok("/v3").await);
    let unauthenticated = reqwest::get(format!("{}/v3/apps", sim.url()))
        .await
        .expect("request");
    let body: Value = unauthenticated.json().await.expect("json");
    c.error("error__401_not_authenticated", &body);
    sim.set_fault(
        FaultRule::all(Fault::RateLimited {
            retry_after_secs: 1,
        })
        .times(1),
    );
    c.error(
        "error__429_rate_limit_exceeded",
        &api.get("/v3/apps").await.body,
    );
    sim.set_fault(FaultRule::all(Fault::StagerUnavailable).times(1));
    let r = api.build(&seeded).await;
    c.shape("error__503_build_stager_unavailable", &r.body);
    c.same(
        "error__503_build_stager_unavailable",
        "/errors/0/title",
        &r.body,
    );
    // ---- audit events ----
    // A droplet that crashes after it is deployed: its crash events, listed
    // with the filters restager sends (types, target_guids, created_ats[gt]).
    let crashing = sim.add_app(AppSpec::new("checkout-api-crashing"));
    let droplet = sim
        .app(&crashing)
        .and_then(|a| a.current_droplet)
        .expect("droplet");
    let since = (chrono::Utc::now() - chrono::Duration::seconds(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    sim.crash_droplet_after_deploy(&droplet, std::time::Duration::from_millis(5))
        .expect("droplet");
    let crashes = format!(
        "/v3/audit_events?types=audit.app.process.crash&target_guids={crashing}&created_ats[gt]={since}"
    );
    let list = crate::common::eventually("two crash events", || {
        let (api, crashes) = (&api, crashes.as_str());
        async move {
            let body = api.ok(crashes).await;
            (body["pagination"]["total_results"].as_u64() >= Some(2)).then_some(body)
        }
    })
    .await;
    c.shape("audit_events_list__process_crash", &list);
    c.shape(
        "audit_events_list__empty",
        &api.ok(&format!(
            "/v3/audit_events?types=audit.app.process.crash&target_guids={crashing}&created_ats[gt]=2999-01-01T00:00:00Z"
        ))
        .await,
    );
    c.error(
        "error__400_audit_events_bad_timestamp",
        &api.get("/v3/audit_events?created_ats[gt]=2026-08-21T09:17:05.5Z")
            .await
            .body,
    );

    sim.expire_tokens();
    c.error(
        "error__401_invalid_auth_token",
        &api.get("/v3/apps").await.body,
    );
    drop(sim);

    // ---- an old Cloud Controller ----
    let (old_sim, old_api) = start(SimConfig {
        api_version: "3.160.0".to_owned(),
        apps: 0,
        ..manual()
    })
    .await;
    compare_old(&mut c, &old_sim, &old_api).await;
    c.finish();
}

/// The 3.160.0 fixtures (CC c9fccf9f, capi-release 1.176.0).
async fn compare_old(c: &mut Corpus, sim: &CfSim, api: &Api) {
    let app = sim.add_app(AppSpec::new("checkout-api"));
    c.shape(
        "app__pre_3_174_no_current_droplet",
        &api.ok(&format!("/v3/apps/{app}")).await,
    );
    sim.add_app(AppSpec::never_staged("b"));
    sim.add_app(AppSpec::new("c"));
    c.shape(
        "apps_list__pre_3_174_include_space_organization",
        &api.ok("/v3/apps?include=space.organization&per_page=3")
            .await,
    );
    c.shape(
        "space__no_quota_pre_3_224_shape",
        &api.ok("/v3/spaces?per_page=1").await["resources"][0],
    );
    c.shape(
        "buildpack__pre_3_194_no_lifecycle",
        &api.ok("/v3/buildpacks?per_page=1").await["resources"][0],
    );
    c.shape(
        "stack__pre_3_210_no_state",
        &api.ok("/v3/stacks").await["resources"][0],
    );
    c.shape("root__v3_160_with_v2", &api.ok("/").await);
    let droplet = api.staged_droplet(&app).await;
    let rel = json!({"app": {"data": {"guid": app}}});
    c.error(
        "error__422_deployment_unknown_field_options",
        &api.deploy(&app, &droplet, 1).await.body,
    );
    c.error(
        "error__422_deployment_unknown_field_options_strategy_canary",
        &api
            .post(
                "/v3/deployments",
                json!({"droplet": {"guid": droplet}, "strategy": "canary", "options": {"max_in_flight": 1}, "relationships": rel}),
            )
            .await
            .body,
    );
    let r = api
        .post(
            "/v3/deployments",
            json!({"droplet": {"guid": droplet}, "relationships": rel}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    c.shape("deployment__pre_3_173_no_options", &r.body);
}
