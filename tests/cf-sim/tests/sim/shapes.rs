//! Shapes and behaviours checked against Cloud Controller's source: never-
//! staged apps, API-version switches, corrupted records, staging errors,
//! buildpack and package states.

use cf_sim::{
    AppSpec, AppState, BuildpackSpec, BuildpackState, CfSim, Corruption, Fault, FaultRule,
    LifecycleKind, PackageState, SimConfig, StackState, StagingFailure, staging_error,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Api, fail_next_staging, manual, manual_with_apps, spec, start};

fn at(version: &str) -> SimConfig {
    SimConfig {
        api_version: version.to_owned(),
        ..manual()
    }
}

async fn deploy_body(api: &Api, body: Value) -> crate::common::Reply {
    api.post("/v3/deployments", body).await
}

#[tokio::test]
async fn a_never_staged_app_has_a_null_current_droplet_guid() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::never_staged("fresh"));
    let staged = sim.add_app(AppSpec::new("old"));
    let snap = sim.app(&app).expect("app");
    assert_eq!(snap.state, AppState::Stopped);
    assert_eq!(snap.current_droplet, None);

    let a = api.ok(&format!("/v3/apps/{app}")).await;
    assert_eq!(
        a["relationships"]["current_droplet"],
        json!({"data": {"guid": null}}),
        "AppPresenter renders guid: app.droplet_guid"
    );
    let list = api.ok(&format!("/v3/apps?guids={app},{staged}")).await;
    assert_eq!(
        list["resources"][0]["relationships"]["current_droplet"]["data"],
        json!({"guid": null})
    );
    assert!(list["resources"][1]["relationships"]["current_droplet"]["data"]["guid"].is_string());

    let r = api
        .get(&format!("/v3/apps/{app}/relationships/current_droplet"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(r.detail(), "Droplet not found");
    let r = api.get(&format!("/v3/apps/{app}/droplets/current")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let page = api
        .ok(&format!("/v3/apps/{app}/droplets?current=true"))
        .await;
    assert_eq!(page["pagination"]["total_results"], 0);
    assert_eq!(page["pagination"]["total_pages"], 1);
    let r = api
        .get(&format!("/v3/apps/{app}/droplets?current=false"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.detail().contains("Current only accepts the value 'true'"));

    let r = api
        .post(&format!("/v3/apps/{app}/actions/start"), json!({}))
        .await;
    assert_eq!(r.detail(), "Assign a droplet before starting this app.");
    let r = deploy_body(
        &api,
        json!({"relationships": {"app": {"data": {"guid": app}}}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Staging it and deploying: the stopped app starts at once; no previous droplet.
    let droplet = api.staged_droplet(&app).await;
    let r = api.deploy(&app, &droplet, 1).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["previous_droplet"], json!({"guid": null}));
    assert_eq!(r.body["new_processes"], json!([]), "stopped-app path");
    assert_eq!(r.body["status"]["value"], "FINALIZED");
    let stats = api.ok(&format!("/v3/processes/{app}/stats")).await;
    assert_eq!(stats["resources"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn never_staged_apps_are_added_after_the_seeded_ones() {
    let plain = CfSim::start(manual_with_apps(30)).await.expect("sim");
    let with = CfSim::start(SimConfig {
        apps: 30,
        never_staged_apps: 4,
        ..manual()
    })
    .await
    .expect("sim");
    let a = plain.apps();
    let b = with.apps();
    assert_eq!(b.len(), 34);
    let key = |s: &cf_sim::AppSnapshot| (s.guid.clone(), s.current_droplet.clone(), s.state);
    assert_eq!(
        a.iter().map(key).collect::<Vec<_>>(),
        b[..30].iter().map(key).collect::<Vec<_>>(),
        "the seeded foundation is unchanged"
    );
    assert!(
        b[30..]
            .iter()
            .all(|s| s.current_droplet.is_none() && s.state == AppState::Stopped)
    );
}

#[tokio::test]
async fn api_3_160_answers_as_that_release() {
    let (sim, api) = start(at("3.160.0")).await;
    assert_eq!(sim.api_version(), "3.160.0");
    let root = api.ok("/").await;
    assert_eq!(
        root["links"]["cloud_controller_v3"]["meta"]["version"],
        "3.160.0"
    );
    assert_eq!(
        root["links"]["cloud_controller_v2"]["meta"]["version"],
        "2.225.0"
    );
    let app = sim.add_app(spec("old-cc", |s| s.instances = 2));
    let a = api.ok(&format!("/v3/apps/{app}")).await;
    assert!(
        a["relationships"].get("current_droplet").is_none(),
        "no current_droplet relationship before 3.174.0: {a}"
    );
    assert!(a["links"].get("clear_buildpack_cache").is_none());
    assert!(a["links"]["current_droplet"]["href"].is_string());
    // The droplet is still found the old ways.
    let current = api.ok(&format!("/v3/apps/{app}/droplets/current")).await;
    let page = api
        .ok(&format!("/v3/apps/{app}/droplets?current=true"))
        .await;
    assert_eq!(page["resources"][0]["guid"], current["guid"]);

    let droplet = api.staged_droplet(&app).await;
    let rel = json!({"app": {"data": {"guid": app}}});
    let r = api.deploy(&app, &droplet, 2).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error(), (10008, "CF-UnprocessableEntity".to_owned()));
    assert_eq!(r.detail(), "Unknown field(s): 'options'");
    let r = deploy_body(
        &api,
        json!({"droplet": {"guid": droplet}, "strategy": "canary", "options": {"max_in_flight": 1}, "relationships": rel}),
    )
    .await;
    assert_eq!(
        r.detail(),
        "Unknown field(s): 'options', Strategy 'canary' is not a supported deployment strategy"
    );
    let r = deploy_body(
        &api,
        json!({"droplet": {"guid": droplet}, "strategy": "canary", "relationships": rel}),
    )
    .await;
    assert_eq!(
        r.detail(),
        "Strategy 'canary' is not a supported deployment strategy"
    );
    assert!(sim.deployments_for(&app).is_empty());
    let r = deploy_body(
        &api,
        json!({"droplet": {"guid": droplet}, "strategy": "rolling", "relationships": rel}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.get("options").is_none(), "{}", r.body);
    assert!(
        r.body["status"]["details"]
            .get("last_status_change")
            .is_none()
    );
    assert!(r.body["status"]["details"]["last_successful_healthcheck"].is_string());

    let bp = api.ok("/v3/buildpacks?per_page=1").await;
    assert!(bp["resources"][0].get("lifecycle").is_none());
    assert_eq!(
        api.get("/v3/buildpacks?lifecycle=buildpack").await.status,
        StatusCode::BAD_REQUEST
    );
    let stacks = api.ok("/v3/stacks").await;
    assert!(stacks["resources"][0].get("state").is_none());
    // Stacks have no states to gate staging with before 3.210.0.
    sim.set_stack_state("cflinuxfs4", StackState::Disabled);
    let other = sim.add_app(AppSpec::new("still-stages"));
    assert_eq!(api.build(&other).await.status, StatusCode::CREATED);
    let stats = api.ok(&format!("/v3/processes/{other}/stats")).await;
    assert!(stats["resources"][0].get("instance_guid").is_none());
    assert!(stats["resources"][0]["routable"].is_boolean());
    let process = api.ok(&format!("/v3/processes/{other}")).await;
    assert!(process.get("user").is_none());
    assert!(process["links"].get("process_instances").is_none());
}

#[tokio::test]
async fn options_and_canary_arrive_before_the_current_droplet_relationship() {
    let (sim, api) = start(at("3.173.0")).await;
    let app = sim.add_app(AppSpec::new("mid"));
    let a = api.ok(&format!("/v3/apps/{app}")).await;
    assert!(a["relationships"].get("current_droplet").is_none());
    let droplet = api.staged_droplet(&app).await;
    let r = api.deploy(&app, &droplet, 2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["options"], json!({"max_in_flight": 2}));
    assert!(
        r.body["status"].get("canary").is_none(),
        "status.canary from 3.189.0"
    );

    let (sim, api) = start(at("3.174.0")).await;
    let app = sim.add_app(AppSpec::new("new"));
    let a = api.ok(&format!("/v3/apps/{app}")).await;
    assert!(a["relationships"]["current_droplet"]["data"]["guid"].is_string());
}

#[tokio::test]
async fn a_corrupted_app_is_malformed_alone() {
    let (sim, api) = start(manual()).await;
    let a = sim.add_app(AppSpec::new("a"));
    let b = sim.add_app(AppSpec::new("b"));
    let c = sim.add_app(AppSpec::new("c"));
    sim.corrupt_app(&b, Corruption::NameNotString)
        .expect("corrupt");
    let page = api.ok("/v3/apps?order_by=created_at").await;
    let res = page["resources"].as_array().expect("resources");
    assert_eq!(res.len(), 3);
    assert_eq!(res[0]["name"], "a");
    assert_eq!(res[1]["name"], 42, "the corrupted one");
    assert_eq!(res[1]["guid"], b);
    assert_eq!(res[2]["name"], "c");
    assert_eq!(api.ok(&format!("/v3/apps/{b}")).await["name"], 42);

    sim.corrupt_app(&c, Corruption::StateNotString)
        .expect("corrupt");
    assert_eq!(api.ok(&format!("/v3/apps/{c}")).await["state"], 7);
    sim.corrupt_app(&a, Corruption::GuidNull).expect("corrupt");
    assert!(api.ok(&format!("/v3/apps/{a}")).await["guid"].is_null());
    sim.corrupt_app(&a, Corruption::SpaceGuidNotString)
        .expect("corrupt");
    let v = api.ok(&format!("/v3/apps/{a}")).await;
    assert_eq!(v["relationships"]["space"]["data"]["guid"], 7);
    assert_eq!(v["guid"], a, "a new corruption replaces the old");
    sim.corrupt_app(&a, Corruption::LabelsNotObject)
        .expect("corrupt");
    assert!(api.ok(&format!("/v3/apps/{a}")).await["metadata"]["labels"].is_array());

    sim.clear_corruption(&b).expect("clear");
    assert_eq!(api.ok(&format!("/v3/apps/{b}")).await["name"], "b");
    assert!(sim.corrupt_app("nope", Corruption::NameNotString).is_err());
}

#[tokio::test]
async fn staging_failures_are_stored_as_cc_stores_them() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("failing"));
    let cases = [
        (
            StagingFailure::NoAppDetected,
            "NoAppDetectedError - An app was not successfully detected by any available buildpack",
        ),
        (
            StagingFailure::BuildpackCompileFailed,
            "BuildpackCompileFailed - App staging failed in the buildpack compile phase",
        ),
        (
            StagingFailure::BuildpackReleaseFailed,
            "BuildpackReleaseFailed - App staging failed in the buildpack release phase",
        ),
        (
            StagingFailure::InsufficientResources,
            "InsufficientResources - Insufficient resources",
        ),
        (
            StagingFailure::StagingTimeExpired,
            "StagingTimeExpired - Staging time expired: staging failed",
        ),
        (
            StagingFailure::NoCompatibleCell,
            "NoCompatibleCell - Found no compatible cell",
        ),
        (
            StagingFailure::CellCommunicationError,
            "StagingError - Staging error: unable to communicate to compatible cells",
        ),
    ];
    for (failure, expected) in cases {
        assert_eq!(failure.error_string(), expected);
        sim.set_fault(FaultRule::app(&app, Fault::StagingFails(failure)).times(1));
        let r = api.build(&app).await;
        let b = api
            .settled_build(r.body["guid"].as_str().expect("guid"))
            .await;
        assert_eq!(b["state"], "FAILED");
        assert_eq!(b["error"], expected);
        assert!(b["links"].get("droplet").is_none());
    }
    // A chosen Diego id and text: kept when CC knows the id, else StagingError.
    for (id, details, expected) in [
        (
            "CellCommunicationError",
            "unable to communicate to compatible cells",
            "StagingError - Staging error: unable to communicate to compatible cells",
        ),
        (
            "StagingError",
            "missing docker registry",
            "StagingError - Staging error: missing docker registry",
        ),
        (
            "StagerError",
            "kpack build failed",
            "StagerError - Stager error: kpack build failed",
        ),
        (
            "CNBDetectFailed",
            "staging failed",
            "CNBDetectFailed - cnb: detecting failed",
        ),
        (
            "SomethingNew",
            "it broke",
            "StagingError - Staging error: it broke",
        ),
    ] {
        assert_eq!(staging_error(id, details), expected);
        fail_next_staging(&sim, &app, id, details);
        let r = api.build(&app).await;
        let b = api
            .settled_build(r.body["guid"].as_str().expect("guid"))
            .await;
        assert_eq!(b["error"], expected);
    }
    // A 503 from the stager still leaves the saved build FAILED.
    sim.set_fault(FaultRule::app(&app, Fault::StagerUnreachable).times(1));
    let r = api.build(&app).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error(), (170010, "CF-StagerUnavailable".to_owned()));
    let last = sim.builds_for(&app).pop().expect("a build");
    assert_eq!(
        last.error.as_deref(),
        Some(format!("StagingError - Staging error: {}", r.detail()).as_str())
    );
    // No STAGING build is left behind: a retry stages.
    let ok = api.staged_droplet(&app).await;
    let staged = api
        .ok(&format!("/v3/builds?app_guids={app}&states=STAGED"))
        .await;
    assert_eq!(staged["resources"][0]["droplet"]["guid"], ok);
    assert_eq!(
        staged["resources"][0]["links"]["droplet"]["href"],
        format!("{}/v3/droplets/{ok}", sim.url())
    );
}

#[tokio::test]
async fn buildpacks_awaiting_upload_disabled_and_for_any_stack() {
    let (sim, api) = start(manual()).await;
    let guid = sim.add_buildpack(BuildpackSpec::awaiting_upload("php_buildpack"));
    assert_eq!(
        sim.buildpack_state(&guid),
        Some(BuildpackState::AwaitingUpload)
    );
    let bp = api.ok("/v3/buildpacks?names=php_buildpack").await;
    let bp = &bp["resources"][0];
    assert_eq!(bp["state"], "AWAITING_UPLOAD");
    assert!(bp["filename"].is_null());
    assert!(bp["stack"].is_null());
    assert_eq!(bp["lifecycle"], "buildpack");
    assert_eq!(sim.installed_version("php_buildpack", "cflinuxfs4"), None);

    // Uploading bits makes it READY and usable on every stack.
    sim.install_buildpack("php_buildpack", "4.6.10");
    assert_eq!(sim.buildpack_state(&guid), Some(BuildpackState::Ready));
    let bp = api.ok("/v3/buildpacks?names=php_buildpack").await;
    assert_eq!(bp["resources"][0]["state"], "READY");
    assert_eq!(bp["resources"][0]["filename"], "php_buildpack-v4.6.10.zip");
    assert_eq!(
        sim.installed_version("php_buildpack", "cflinuxfs3")
            .as_deref(),
        Some("4.6.10")
    );

    let mut disabled = BuildpackSpec::ready("binary_buildpack", "cflinuxfs4", "1.1.0");
    disabled.enabled = false;
    disabled.locked = true;
    sim.add_buildpack(disabled);
    let app = sim.add_app(spec("binary", |s| {
        s.buildpack = "binary_buildpack".to_owned()
    }));
    let r = api.build(&app).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), (290003, "CF-BuildpackInvalid".to_owned()));
    assert_eq!(
        r.detail(),
        "Buildpack is invalid: Requested buildpack(s) 'binary_buildpack' are disabled and cannot be used for staging"
    );
    let listed = api.ok("/v3/buildpacks?names=binary_buildpack").await;
    assert_eq!(listed["resources"][0]["enabled"], false);
    assert_eq!(listed["resources"][0]["locked"], true);
}

#[tokio::test]
async fn packages_in_every_state() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("pkgs"));
    let states = [
        (PackageState::AwaitingUpload, "AWAITING_UPLOAD", false),
        (PackageState::ProcessingUpload, "PROCESSING_UPLOAD", false),
        (PackageState::Failed, "FAILED", false),
        (PackageState::Copying, "COPYING", false),
        (PackageState::Expired, "EXPIRED", true),
        (PackageState::Ready, "READY", true),
    ];
    for (state, name, has_checksum) in states {
        let guid = sim.add_package(&app, state).expect("package");
        let p = api.ok(&format!("/v3/packages/{guid}")).await;
        assert_eq!(p["state"], name);
        assert_eq!(p["data"]["checksum"]["type"], "sha256");
        assert_eq!(
            p["data"]["checksum"]["value"].is_string(),
            has_checksum,
            "{p}"
        );
        assert_eq!(
            p["data"]["error"].is_string(),
            state == PackageState::Failed
        );
        assert!(p["links"]["download"].get("method").is_none());
        if state != PackageState::Ready {
            let r = api
                .post("/v3/builds", json!({"package": {"guid": guid}}))
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}");
            assert_eq!(r.error(), (1004, "CF-BadRequest".to_owned()));
            assert_eq!(
                r.detail(),
                "Bad request: Cannot stage package whose state is not ready."
            );
        }
    }
    let waiting = sim
        .add_package(&app, PackageState::ProcessingUpload)
        .expect("package");
    assert!(sim.set_package_state(&waiting, PackageState::Ready));
    let r = api
        .post("/v3/builds", json!({"package": {"guid": waiting}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(!sim.set_package_state("nope", PackageState::Ready));
    assert!(sim.add_package("nope", PackageState::Ready).is_err());

    let mut docker = AppSpec::new("img");
    docker.lifecycle = LifecycleKind::Docker;
    let d = sim.add_app(docker);
    let p = api.ok(&format!("/v3/apps/{d}/packages")).await;
    let links = p["resources"][0]["links"].as_object().expect("links");
    assert!(!links.contains_key("upload") && !links.contains_key("download"));
}

#[tokio::test]
async fn deployments_show_the_options_they_were_given() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(spec("scaled", |s| s.instances = 3));
    let droplet = api.staged_droplet(&app).await;
    let rel = json!({"app": {"data": {"guid": app}}});
    let r = deploy_body(
        &api,
        json!({"droplet": {"guid": droplet}, "options": {"max_in_flight": 2, "web_instances": 4, "memory_in_mb": 512}, "relationships": rel}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["options"],
        json!({"max_in_flight": 2, "web_instances": 4, "memory_in_mb": 512})
    );
    assert!(r.body["status"].get("canary").is_none());
    let guid = r.guid();
    sim.tick();
    api.cancel(&guid).await;
    sim.tick();

    let r = deploy_body(
        &api,
        json!({"droplet": {"guid": droplet}, "strategy": "canary", "options": {"canary": {"steps": [{"instance_weight": 20}, {"instance_weight": 80}]}}, "relationships": rel}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["options"]["canary"],
        json!({"steps": [{"instance_weight": 20}, {"instance_weight": 80}]})
    );
    assert_eq!(
        r.body["status"]["canary"],
        json!({"steps": {"current": 1, "total": 2}})
    );
    for (options, detail) in [
        (
            json!({"canary": {"steps": [{"instance_weight": 80}, {"instance_weight": 20}]}}),
            "Options canary steps instance weight must be sorted in ascending order",
        ),
        (
            json!({"canary": {"steps": [{"instance_weight": 0}]}}),
            "Options canary steps instance weight must be an Integer between 1-100 (inclusive)",
        ),
        (
            json!({"max_in_flight": 0, "surge": 1}),
            "Options has unsupported key(s): surge, Max in flight must be an integer greater than 0",
        ),
        (
            json!({"web_instances": -1}),
            "Web instances must be greater than or equal to 0",
        ),
    ] {
        let r = deploy_body(
            &api,
            json!({"droplet": {"guid": droplet}, "strategy": "canary", "options": options, "relationships": rel}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{detail}");
        assert_eq!(r.detail(), detail);
    }
    let r = deploy_body(
        &api,
        json!({"droplet": {"guid": droplet}, "options": {"canary": {"steps": []}}, "relationships": rel}),
    )
    .await;
    assert_eq!(
        r.detail(),
        "Options canary are only valid for Canary deployments"
    );

    // With revisions off the deployment names none; cancelling a deployment
    // without a previous droplet fails to re-assign it.
    let mut spec = AppSpec::never_staged("norev");
    spec.revisions_enabled = false;
    spec.state = AppState::Started;
    let bare = sim.add_app(spec);
    let d = api.staged_droplet(&bare).await;
    let r = api.deploy(&bare, &d, 1).await;
    assert!(r.body["revision"].is_null());
    assert_eq!(r.body["previous_droplet"], json!({"guid": null}));
    let guid = r.body["guid"].as_str().expect("guid");
    let c = api.cancel(guid).await;
    assert_eq!(c.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        c.detail(),
        "Unable to assign current droplet. Ensure the droplet exists and belongs to this app."
    );
}

#[tokio::test]
async fn droplets_render_what_the_presenter_knows() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(spec("unversioned", |s| s.unknown_buildpack_version = true));
    let d = api.ok(&format!("/v3/apps/{app}/droplets/current")).await;
    assert!(d["buildpacks"][0]["version"].is_null());
    assert_eq!(d["buildpacks"][0]["buildpack_name"], "ruby");
    assert!(d["links"]["download"]["href"].is_string());
    assert_eq!(
        d["process_types"]["web"],
        "bundle exec rackup config.ru -p $PORT"
    );
    let listed = api.ok(&format!("/v3/apps/{app}/droplets")).await;
    assert_eq!(
        listed["resources"][0]["process_types"],
        json!({"redacted_message": "[PRIVATE DATA HIDDEN IN LISTS]"})
    );
    assert_eq!(
        listed["resources"][0]["execution_metadata"],
        "[PRIVATE DATA HIDDEN IN LISTS]"
    );

    let mut docker = AppSpec::new("img");
    docker.lifecycle = LifecycleKind::Docker;
    let img = sim.add_app(docker);
    let d = api.ok(&format!("/v3/apps/{img}/droplets/current")).await;
    assert!(
        d["links"].get("download").is_none(),
        "only buildpack droplets"
    );
    assert!(d["checksum"].is_null());
}
