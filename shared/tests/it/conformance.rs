//! Conformance with real Cloud Controller: every body in the corpus
//! (`tests/support/corpus/cc/`, taken from cloudfoundry/cloud_controller_ng's
//! presenters, docs and request specs; provenance in its PROVENANCE.md)
//! parses with restager's own types, and the edge cases drive the real logic
//! — discovery over a foundation served from those very bodies, the engine's
//! reading of builds and deployments, and error classification.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use restager_shared::cf::{
    App, Build, Buildpack, BuildpackState, CfClient, CfClientOptions, CfError, CurrentDroplet,
    Deployment, DeploymentStatusReason, Droplet, InstanceState, Organization, OrganizationQuota,
    Package, PackageState, Page, Process, ProcessStats, RootInfo, Space, SpaceQuota, Stack,
    StackState,
};
use restager_shared::config::{CfSettings, ScopeSettings, Secret};
use restager_shared::discovery::{self, DiscoveryError, Plan};
use restager_shared::domain::{Action, Notice, Version};
use restager_shared::engine::staging_failure;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

const CC_HOSTS: [&str; 3] = [
    "https://api.sys.example.com",
    "https://login.sys.example.com",
    "https://uaa.sys.example.com",
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/corpus/cc")
}

fn text(name: &str) -> String {
    let path = corpus_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(name: &str) -> Value {
    serde_json::from_str(&text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("the corpus directory exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

fn parse<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&text(name)).unwrap_or_else(|e| panic!("{name} does not parse: {e}"))
}

/// A list page whose every resource must be readable.
fn page<T: DeserializeOwned>(name: &str) -> Vec<T> {
    let (items, unreadable, _) = parse::<Page<T>>(name).into_parts();
    assert!(
        unreadable.is_empty(),
        "{name}: unreadable resources {unreadable:?}"
    );
    items
}

#[test]
fn every_corpus_file_parses_with_restagers_types() {
    let names = files();
    assert!(names.len() > 100, "the corpus has {} files", names.len());
    for name in &names {
        let kind = name.split("__").next().unwrap_or_default();
        match kind {
            "app" => drop(parse::<App>(name)),
            "apps_list" => drop(page::<App>(name)),
            "droplet" => drop(parse::<Droplet>(name)),
            "droplets_list" | "app_droplets_list" => drop(page::<Droplet>(name)),
            "package" => drop(parse::<Package>(name)),
            "packages_list" => drop(page::<Package>(name)),
            "build" => drop(parse::<Build>(name)),
            "builds_list" => drop(page::<Build>(name)),
            "deployment" => drop(parse::<Deployment>(name)),
            "deployments_list" => drop(page::<Deployment>(name)),
            "process" => drop(parse::<Process>(name)),
            "processes_list" => drop(page::<Process>(name)),
            "process_stats" => drop(parse::<ProcessStats>(name)),
            "buildpack" => drop(parse::<Buildpack>(name)),
            "buildpacks_list" => drop(page::<Buildpack>(name)),
            "stack" => drop(parse::<Stack>(name)),
            "stacks_list" => drop(page::<Stack>(name)),
            "space" => drop(parse::<Space>(name)),
            "organization" => drop(parse::<Organization>(name)),
            "root" => {
                let root: RootInfo = parse(name);
                assert!(root.token_base().is_some(), "{name} names UAA");
                assert!(root.api_version().is_some(), "{name} has a v3 version");
            }
            "app_current_droplet_relationship" => {
                let rel: restager_shared::cf::ToOne = parse(name);
                assert!(rel.guid().is_some(), "{name}");
            }
            "error" => {
                let status: u16 = name
                    .trim_start_matches("error__")
                    .get(..3)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("{name} starts with its status"));
                let err = CfError::from_response("GET /x", status, text(name).as_bytes());
                let CfError::Api { code, title, .. } = &err else {
                    panic!("{name}: {err:?}");
                };
                assert!(code.is_some() || name.contains("uaa"), "{name}: {err}");
                assert!(!title.is_empty() || name.contains("uaa"), "{name}: {err}");
            }
            "space_quota" => drop(parse::<SpaceQuota>(name)),
            "space_quotas_list" => drop(page::<SpaceQuota>(name)),
            "organization_quota" => drop(parse::<OrganizationQuota>(name)),
            "organization_quotas_list" => drop(page::<OrganizationQuota>(name)),
            // Bodies restager reads only as JSON, or sends itself, or reads
            // in later work (audit events, /v3 info): well-formed JSON.
            "request" | "uaa" | "info" | "v3" | "audit_events_list" => drop(json(name)),
            other => panic!("{name}: no type is named for corpus kind `{other}`"),
        }
    }
}

#[test]
fn quotas_read_unlimited_as_none_and_name_their_spaces_and_orgs() {
    let prod: SpaceQuota = parse("space_quota__prod.json");
    assert_eq!(prod.apps.total_memory_in_mb, Some(20_480));
    assert_eq!(prod.apps.total_instances, Some(40));
    let space: Space = parse("space__with_metadata.json");
    assert_eq!(
        space.quota_guid(),
        Some(prod.guid.as_str()),
        "the space names its quota"
    );
    assert_eq!(
        prod.relationships.spaces.guids().collect::<Vec<_>>(),
        [space.guid.as_str()]
    );
    assert_eq!(
        prod.relationships.organization.guid(),
        space.organization_guid()
    );
    let listed = page::<SpaceQuota>("space_quotas_list__by_organization.json");
    assert_eq!(listed.len(), 2);
    let dev = &listed[1];
    assert_eq!(dev.apps.total_memory_in_mb, None, "null is unlimited");
    assert_eq!(dev.apps.total_instances, Some(12));
    assert_eq!(
        dev.relationships.spaces.guids().count(),
        0,
        "no visible space"
    );
    let no_quota: Space = parse("space__no_quota_pre_3_224_shape.json");
    assert_eq!(no_quota.quota_guid(), None);

    let default: OrganizationQuota = parse("organization_quota__default.json");
    assert_eq!(default.apps.total_memory_in_mb, Some(102_400));
    assert_eq!(default.apps.total_instances, None);
    let org: Organization = parse("organization__with_metadata.json");
    assert_eq!(org.quota_guid(), Some(default.guid.as_str()));
    assert!(
        default
            .relationships
            .organizations
            .guids()
            .any(|g| g == org.guid),
        "the quota names the org"
    );
    let orgs = page::<OrganizationQuota>("organization_quotas_list__by_organization.json");
    assert_eq!(orgs, [default]);
}

#[test]
fn nullable_fields_are_optional_as_cc_renders_them() {
    let never: App = parse("app__never_staged_guid_null.json");
    assert_eq!(never.current_droplet(), CurrentDroplet::None);
    let old: App = parse("app__pre_3_174_no_current_droplet.json");
    assert_eq!(old.current_droplet(), CurrentDroplet::NotReported);
    let staged: App = parse("app__started_buildpack.json");
    assert!(matches!(staged.current_droplet(), CurrentDroplet::Guid(_)));
    let no_stack: App = parse("app__lifecycle_stack_null.json");
    assert_eq!(no_stack.stack(), None);

    let multi: Droplet = parse("droplet__staged_multi_buildpack_detect_output_null.json");
    let ruby = multi.buildpack("ruby_buildpack").expect("ruby entry");
    assert_eq!(ruby.parsed_version(), Some(v("1.10.21")));
    assert!(
        multi
            .buildpacks
            .iter()
            .flatten()
            .any(|b| b.detect_output.is_none())
    );
    let docker: Droplet = parse("droplet__docker_staged.json");
    assert!(docker.image.is_some());
    let uploaded: Droplet = parse("droplet__uploaded_no_package_link.json");
    assert_eq!(uploaded.package_guid(), None);

    let stopped: Deployment =
        parse("deployment__stopped_app_previous_droplet_null_revision_null.json");
    assert_eq!(stopped.previous_droplet_guid(), None);
    let awaiting: Buildpack = parse("buildpack__awaiting_upload_filename_null_stack_null.json");
    assert_eq!(awaiting.state, BuildpackState::AwaitingUpload);
    assert_eq!((awaiting.filename, awaiting.stack), (None, None));
    let old_stack: Stack = parse("stack__pre_3_210_no_state.json");
    assert_eq!(old_stack.state, StackState::Active);

    let negative: ProcessStats = parse("process_stats__negative_uptime.json");
    assert!(
        negative
            .resources
            .iter()
            .any(|i| i.uptime.is_some_and(|u| u < 0))
    );
    let mixed: ProcessStats = parse("process_stats__running_starting_crashed_down.json");
    for state in [
        InstanceState::Running,
        InstanceState::Starting,
        InstanceState::Crashed,
        InstanceState::Down,
    ] {
        assert!(
            mixed.resources.iter().any(|i| i.state == state),
            "{state} instance"
        );
    }
    for name in files().iter().filter(|n| n.starts_with("package__")) {
        let p: Package = parse(name);
        assert!(
            !matches!(p.state, PackageState::Other(_)),
            "{name}: {:?}",
            p.state
        );
    }
}

fn v(s: &str) -> Version {
    Version::parse(s).expect("version")
}

#[test]
fn every_staging_error_id_cc_keeps_is_classified() {
    // (file, permanent?) — build_model.rb keeps these ids; everything else
    // arrives as StagingError with its text.
    let expected = [
        ("build__failed_no_app_detected.json", true),
        ("build__failed_buildpack_compile_failed.json", true),
        ("build__failed_buildpack_release_failed.json", true),
        ("build__failed_cnb_generic_build_failed.json", true),
        ("build__failed_cnb_download_buildpack_failed.json", true),
        ("build__failed_cnb_detect_failed.json", true),
        ("build__failed_cnb_build_failed.json", true),
        ("build__failed_cnb_export_failed.json", true),
        ("build__failed_cnb_launch_failed.json", true),
        ("build__failed_cnb_restore_failed.json", true),
        (
            "build__failed_staging_error_missing_docker_registry.json",
            true,
        ),
        (
            "build__failed_staging_error_start_command_not_specified.json",
            true,
        ),
        ("build__failed_insufficient_resources.json", false),
        ("build__failed_no_compatible_cell.json", false),
        ("build__failed_staging_time_expired.json", false),
        ("build__failed_stager_error.json", false),
        ("build__failed_staging_error_cell_communication.json", false),
        ("build__failed_staging_error_generic.json", false),
        ("build__failed_staging_error_stager_unavailable.json", false),
        ("build__failed_staging_error_no_droplet.json", false),
    ];
    let failed: Vec<String> = files()
        .into_iter()
        .filter(|n| n.starts_with("build__failed_"))
        .collect();
    assert_eq!(failed.len(), expected.len(), "every failed build is judged");
    for (name, permanent) in expected {
        let build: Build = parse(name);
        let outcome = staging_failure(&build.guid, build.error.as_deref(), build.error_id());
        assert_eq!(outcome.is_final(), permanent, "{name}: {outcome}");
        assert!(
            outcome
                .reason()
                .is_some_and(|r| r.contains(build.error.as_deref().unwrap_or("?"))),
            "{name}: the reason quotes CC: {outcome}"
        );
    }
    let listed = page::<Build>("builds_list__failed_all_error_ids.json");
    assert!(listed.iter().all(|b| b.error_id().is_some()));
}

#[test]
fn deployments_read_as_cc_states_them() {
    let cases = [
        ("deployment__active_deploying_rolling.json", true, false),
        ("deployment__active_paused_canary.json", true, false),
        ("deployment__active_canceling.json", true, false),
        ("deployment__finalized_deployed.json", false, true),
        ("deployment__finalized_canceled.json", false, false),
        ("deployment__finalized_superseded.json", false, false),
        ("deployment__pre_3_173_no_options.json", true, false),
        ("deployment__pre_3_92_top_level_state.json", true, false),
    ];
    for (name, active, deployed) in cases {
        let d: Deployment = parse(name);
        assert_eq!(d.is_active(), active, "{name}");
        assert_eq!(d.is_deployed(), deployed, "{name}");
        assert!(
            !matches!(d.status.reason, DeploymentStatusReason::Other(_)),
            "{name}"
        );
    }
    let paused: Deployment = parse("deployment__active_paused_canary.json");
    assert_eq!(paused.status.reason, DeploymentStatusReason::Paused);
    let erring: Deployment = parse("deployment__active_deploying_with_error.json");
    assert!(erring.error().is_some());
    let old: Deployment = parse("deployment__pre_3_173_no_options.json");
    assert!(old.options.is_none());
}

#[test]
fn error_bodies_classify_as_restager_needs() {
    let e = |name: &str| {
        let status: u16 = name
            .trim_start_matches("error__")
            .get(..3)
            .and_then(|s| s.parse().ok())
            .expect("status");
        CfError::from_response("POST /v3/x", status, text(name).as_bytes())
    };
    assert!(e("error__422_build_staging_in_progress.json").is_staging_in_progress());
    let disk = e("error__422_build_disk_limit_exceeded.json");
    assert!(disk.is_disk_limit_exceeded() && !disk.is_quota(), "{disk}");
    for quota in [
        "error__422_build_org_memory_limit_exceeded.json",
        "error__422_build_space_memory_limit_exceeded.json",
        "error__422_deployment_org_memory_quota_exceeded.json",
        "error__422_deployment_space_memory_quota_exceeded.json",
        "error__422_deployment_org_app_instance_limit_exceeded.json",
    ] {
        assert!(e(quota).is_quota(), "{quota}: {}", e(quota));
    }
    assert!(e("error__422_build_stack_disabled.json").is_stack_disabled());
    assert!(e("error__403_deployments_disabled.json").is_deployments_disabled());
    assert!(e("error__404_app_not_found.json").is_not_found());
    assert!(e("error__401_invalid_auth_token.json").is_auth());
    for transient in [
        "error__429_rate_limit_exceeded.json",
        "error__500_unknown.json",
        "error__503_service_unavailable_database.json",
    ] {
        assert!(e(transient).is_transient(), "{transient}");
    }
    let unknown_options = e("error__422_deployment_unknown_field_options.json");
    assert!(
        unknown_options
            .detail()
            .is_some_and(|d| d.contains("Unknown field(s): 'options'")),
        "{unknown_options}"
    );
    assert!(!unknown_options.is_quota());
}

// ---------------------------------------------------------------------------
// A foundation served from the corpus's own bodies, over real HTTP.

#[derive(Default)]
struct Foundation {
    /// Path (no query) → body, with CC's hosts as `https://api.sys.example.com`.
    routes: BTreeMap<String, String>,
    /// `GET /v3/apps` pages by `page=` number.
    app_pages: Vec<String>,
    requests: Vec<String>,
}

type Shared = Arc<Mutex<(Foundation, String)>>;

async fn serve(state: State<Shared>, req: Request) -> Response {
    let uri = req.uri().clone();
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let mut guard = state.lock().expect("fixture lock");
    let (f, base) = &mut *guard;
    f.requests.push(format!("{} {path}", req.method()));
    let body = if path == "/v3/apps" {
        let n: usize = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("page="))
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        f.app_pages.get(n.saturating_sub(1)).cloned()
    } else {
        f.routes.get(&path).cloned()
    };
    match body {
        Some(b) => {
            let mut b = b;
            for host in CC_HOSTS {
                b = b.replace(host, base);
            }
            ([("content-type", "application/json")], b).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            text("error__404_droplet_not_found.json"),
        )
            .into_response(),
    }
}

struct Fixture {
    state: Shared,
    cf: CfClient,
}

impl Fixture {
    async fn start(f: Foundation) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state: Shared = Arc::new(Mutex::new((f, base.clone())));
        let app = Router::new().fallback(serve).with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let settings = CfSettings {
            api_url: Url::parse(&base).expect("url"),
            client_id: "restager".into(),
            client_secret: Secret::new("s"),
            skip_ssl_validation: false,
        };
        let cf = CfClient::with_options(&settings, CfClientOptions::default()).expect("client");
        Self { state, cf }
    }

    /// Discovery's plan for the Ruby buildpack notice, with no scope settings.
    async fn plan_ruby(&self) -> Result<Plan, DiscoveryError> {
        discovery::plan(
            &self.cf,
            &ruby_notice(),
            Action::Restage,
            &ScopeSettings::default(),
        )
        .await
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().expect("lock").0.requests.clone()
    }
}

fn route(f: &mut Foundation, path: &str, body: String) {
    f.routes.insert(path.to_string(), body);
}

/// Root, token, buildpacks, stacks and droplets as a 3.228 foundation has them.
fn current_foundation() -> Foundation {
    let mut f = Foundation::default();
    route(&mut f, "/", text("root__v3_228.json"));
    route(
        &mut f,
        "/oauth/token",
        text("uaa__token_client_credentials.json"),
    );
    route(&mut f, "/v3/droplets", text("droplets_list__by_guids.json"));
    let mut buildpacks = json("buildpacks_list__first_page_next.json");
    // One page, so the listing ends here.
    buildpacks["pagination"]["next"] = Value::Null;
    route(&mut f, "/v3/buildpacks", buildpacks.to_string());
    route(&mut f, "/v3/stacks", text("stacks_list__all_states.json"));
    // What the hints read (the fixture ignores filters; restager must not
    // be thrown by what it did not ask for).
    route(
        &mut f,
        "/v3/space_quotas",
        text("space_quotas_list__by_organization.json"),
    );
    route(
        &mut f,
        "/v3/organization_quotas",
        text("organization_quotas_list__by_organization.json"),
    );
    route(
        &mut f,
        "/v3/processes",
        text("processes_list__app_during_deployment.json"),
    );
    route(&mut f, "/v3/builds", text("builds_list__app_staging.json"));
    route(
        &mut f,
        "/v3/deployments",
        text("deployments_list__app_active.json"),
    );
    f.app_pages = vec![
        text("apps_list__include_space_organization.json"),
        text("apps_list__include_space_organization_last_page.json"),
    ];
    f
}

fn ruby_notice() -> Notice {
    Notice::Buildpack {
        buildpack: "ruby_buildpack".into(),
        version: v("1.10.21"),
        stack: None,
    }
}

fn skipped_reason<'a>(plan: &'a discovery::Plan, app: &str) -> Option<&'a str> {
    plan.skipped
        .iter()
        .find(|s| s.app.name == app)
        .map(|s| s.reason.as_str())
}

#[tokio::test]
async fn discovery_over_cc_bodies_plans_every_app_by_its_real_shape() {
    let fx = Fixture::start(current_foundation()).await;
    let scope = ScopeSettings::default();

    let ruby = discovery::plan(&fx.cf, &ruby_notice(), Action::Restage, &scope)
        .await
        .expect("a page with a never-staged app still plans");
    let queued: Vec<&str> = ruby.jobs.iter().map(|j| j.app.name.as_str()).collect();
    assert_eq!(queued, ["checkout-api"], "{ruby:?}");
    assert_eq!(ruby.jobs[0].app.space_name, "prod");
    // The hints from CC's bodies: prod's quota (20 GiB, 40 instances) has
    // room, but the run has one job there; the oldest of checkout-api's two
    // web processes (mid-deployment) has 3 instances; its only build is
    // still STAGING and its only deployment ACTIVE, so no history.
    let hints = &ruby.jobs[0].schedule;
    assert_eq!(hints.space_allowance, Some(1), "{hints:?}");
    assert_eq!(hints.web_instances, Some(3), "{hints:?}");
    assert_eq!((hints.staging_ms, hints.step_ms), (None, None), "{hints:?}");
    assert!(
        ruby.notes.is_empty(),
        "a 3.228 CC needs no notes: {:?}",
        ruby.notes
    );

    let stack_notice = Notice::Stack {
        stack: "cflinuxfs4".into(),
        version: v("1.300.0"),
    };
    let stack = discovery::plan(&fx.cf, &stack_notice, Action::Restage, &scope)
        .await
        .expect("stack plan");
    let mut queued: Vec<&str> = stack.jobs.iter().map(|j| j.app.name.as_str()).collect();
    queued.sort_unstable();
    assert_eq!(queued, ["checkout-api", "ledger"], "{stack:?}");
    let never = skipped_reason(&stack, "new-service").expect("never-staged app is reported");
    assert!(never.contains("no current droplet"), "{never}");
    let docker = skipped_reason(&stack, "legacy-proxy").expect("docker app reported");
    assert!(docker.contains("docker"), "{docker}");
    let stopped = skipped_reason(&stack, "invoice-worker").expect("stopped app reported");
    assert!(stopped.contains("STOPPED"), "{stopped}");
    // O(pages): two app pages, one droplet batch, no per-app request.
    let per_app = fx
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /v3/apps/"))
        .count();
    assert_eq!(per_app, 0);
}

#[tokio::test]
async fn one_unreadable_app_is_skipped_with_its_field_and_the_rest_is_planned() {
    let mut f = current_foundation();
    let mut page: Value = json("apps_list__include_space_organization.json");
    // A second copy of checkout-api whose name is not a string, as a
    // hand-patched row or a future CC might send.
    let mut odd = page["resources"][0].clone();
    odd["guid"] = Value::from("0dd0dd00-0000-4000-8000-000000000001");
    odd["name"] = Value::from(42);
    page["resources"]
        .as_array_mut()
        .expect("resources")
        .push(odd);
    f.app_pages[0] = page.to_string();
    let fx = Fixture::start(f).await;
    let plan = fx
        .plan_ruby()
        .await
        .expect("one bad record never fails the run");
    assert_eq!(plan.jobs.len(), 1, "{plan:?}");
    let bad = plan
        .skipped
        .iter()
        .find(|s| s.app.guid == "0dd0dd00-0000-4000-8000-000000000001")
        .expect("the unreadable app is reported");
    assert!(
        bad.reason
            .starts_with("unreadable: name: invalid type: integer `42`"),
        "{}",
        bad.reason
    );
    assert_eq!(bad.app.space_name, "prod", "placed from its relationship");
}

#[tokio::test]
async fn a_page_that_is_not_cc_json_is_an_outage() {
    let mut f = current_foundation();
    f.app_pages[0] = "<html><body>502 Bad Gateway</body></html>".into();
    let fx = Fixture::start(f).await;
    let err = fx.plan_ruby().await.expect_err("HTML is not a page");
    assert!(err.to_string().contains("not a valid"), "{err}");
}

#[tokio::test]
async fn an_older_cc_costs_one_droplet_lookup_per_candidate_and_says_so() {
    let mut f = current_foundation();
    route(&mut f, "/", text("root__v3_160_with_v2.json"));
    f.app_pages = vec![text("apps_list__pre_3_174_include_space_organization.json")];
    let app: App = parse("app__pre_3_174_no_current_droplet.json");
    route(
        &mut f,
        &format!("/v3/apps/{}/droplets/current", app.guid),
        text("droplet__staged_buildpack.json"),
    );
    let fx = Fixture::start(f).await;
    let plan = fx.plan_ruby().await.expect("plan");
    assert_eq!(
        plan.jobs.len(),
        1,
        "the app is found without the relationship: {plan:?}"
    );
    let droplet: Droplet = parse("droplet__staged_buildpack.json");
    assert_eq!(plan.jobs[0].droplet_guid, droplet.guid);
    let listing_note = plan
        .notes
        .iter()
        .find(|n| n.contains("3.174"))
        .expect("the cost is explained");
    assert!(
        listing_note.contains("3.160.0") && listing_note.contains("1 candidate app"),
        "{listing_note}"
    );
    assert!(
        plan.notes.iter().any(|n| n.contains("3.173")),
        "deployment options are said to be off: {:?}",
        plan.notes
    );
    let lookups = fx
        .requests()
        .iter()
        .filter(|r| r.ends_with("/droplets/current"))
        .count();
    assert_eq!(lookups, 1);
}
