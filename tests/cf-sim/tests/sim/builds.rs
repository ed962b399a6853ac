use std::time::Duration;

use cf_sim::{AppSpec, BuildState, Fault, FaultRule, LifecycleKind, StackState, StagingFailure};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{manual, spec, start};

#[tokio::test]
async fn build_stages_with_the_version_installed_when_it_finishes() {
    let (sim, api) = start(cf_sim::SimConfig {
        staging_duration: Duration::from_millis(40),
        ..manual()
    })
    .await;
    let app = sim.add_app(spec("shop", |s| {
        s.buildpack_version = Some("1.10.27".to_owned())
    }));
    let pkg = api.ready_package(&app).await;
    let r = api
        .post(
            "/v3/builds",
            json!({"package": {"guid": pkg}, "metadata": {"labels": {"restager.io/job": "j-1"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["state"], "STAGING");
    assert!(b["droplet"].is_null() && b["error"].is_null());
    assert_eq!(b["package"]["guid"], pkg);
    assert_eq!(b["relationships"]["app"]["data"]["guid"], app);
    assert_eq!(b["lifecycle"]["data"]["buildpacks"][0], "ruby_buildpack");
    // A client_credentials token: guid = client id, name and email "".
    assert_eq!(b["created_by"]["guid"], "restager");
    assert_eq!(b["created_by"]["name"], "");
    assert_eq!(b["metadata"]["labels"]["restager.io/job"], "j-1");
    // A release lands while staging runs: the droplet gets it.
    sim.install_buildpack("ruby_buildpack", "1.10.30");

    let guid = b["guid"].as_str().expect("guid");
    let done = api.settled_build(guid).await;
    assert_eq!(done["state"], "STAGED");
    let droplet = done["droplet"]["guid"].as_str().expect("droplet");
    let d = api.ok(&format!("/v3/droplets/{droplet}")).await;
    assert_eq!(d["state"], "STAGED");
    assert_eq!(d["buildpacks"][0]["version"], "1.10.30");
    assert_eq!(d["buildpacks"][0]["detect_output"], "ruby");
    assert_eq!(d["stack"], "cflinuxfs4");
    assert_eq!(
        d["links"]["package"]["href"],
        format!("{}/v3/packages/{pkg}", sim.url())
    );
    // Staging alone does not change what runs.
    assert_eq!(
        sim.app(&app)
            .and_then(|a| a.current_version("ruby_buildpack").map(str::to_owned)),
        Some("1.10.27".to_owned())
    );
    let found = api
        .ok("/v3/builds?label_selector=restager.io/job=j-1")
        .await;
    assert_eq!(found["resources"][0]["guid"], guid);
    assert_eq!(
        api.total("/v3/builds?label_selector=restager.io/job=j-2")
            .await,
        0
    );
    assert_eq!(
        api.total(&format!("/v3/builds?app_guids={app}&states=STAGED"))
            .await,
        1
    );
}

#[tokio::test]
async fn only_one_build_may_be_staging() {
    let (sim, api) = start(cf_sim::SimConfig {
        staging_duration: Duration::from_secs(30),
        ..manual()
    })
    .await;
    let app = sim.add_app(AppSpec::new("one"));
    assert_eq!(api.build(&app).await.status, StatusCode::CREATED);
    let r = api.build(&app).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error(), (170017, "CF-StagingInProgress".to_owned()));
    assert_eq!(
        r.detail(),
        "Only one build can be STAGING at a time per application."
    );

    let other = sim.add_app(AppSpec::new("two"));
    sim.start_build_as_human(&other).expect("human build");
    let r = api.build(&other).await;
    assert_eq!(r.error().0, 170017);
    let staging = api
        .ok(&format!("/v3/builds?app_guids={other}&states=STAGING"))
        .await;
    assert_eq!(staging["resources"][0]["created_by"]["name"], "alice");

    let third = sim.add_app(AppSpec::new("three"));
    sim.set_fault(FaultRule::app(&third, Fault::ConcurrentStaging).times(1));
    assert_eq!(api.build(&third).await.error().0, 170017);
}

#[tokio::test]
async fn staging_failures_use_cc_error_strings() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("broken"));
    sim.set_fault(FaultRule::app(
        &app,
        Fault::StagingFails(StagingFailure::NoAppDetected),
    ));
    let r = api.build(&app).await;
    let b = api
        .settled_build(r.body["guid"].as_str().expect("guid"))
        .await;
    assert_eq!(b["state"], "FAILED");
    assert!(b["droplet"].is_null());
    assert_eq!(
        b["error"],
        "NoAppDetectedError - An app was not successfully detected by any available buildpack"
    );
    sim.clear_faults();

    sim.set_fault(
        FaultRule::app(
            &app,
            Fault::StagingFails(StagingFailure::InsufficientResources),
        )
        .times(1),
    );
    let r = api.build(&app).await;
    let b = api
        .settled_build(r.body["guid"].as_str().expect("guid"))
        .await;
    assert_eq!(b["error"], "InsufficientResources - Insufficient resources");
    assert!(StagingFailure::InsufficientResources.is_transient());
    assert!(!StagingFailure::BuildpackCompileFailed.is_transient());
    // Transient: the retry stages.
    api.staged_droplet(&app).await;
    let states: Vec<BuildState> = sim.builds_for(&app).iter().map(|b| b.state).collect();
    assert_eq!(
        states,
        vec![BuildState::Failed, BuildState::Failed, BuildState::Staged]
    );
}

#[tokio::test]
async fn a_stuck_build_stays_staging() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("stuck"));
    sim.set_fault(FaultRule::app(&app, Fault::StagingStuck).times(1));
    let r = api.build(&app).await;
    let guid = r.body["guid"].as_str().expect("guid");
    tokio::time::sleep(Duration::from_millis(30)).await;
    sim.tick();
    assert_eq!(
        api.ok(&format!("/v3/builds/{guid}")).await["state"],
        "STAGING"
    );
    assert_eq!(api.build(&app).await.error().0, 170017);
}

#[tokio::test]
async fn build_creation_guards() {
    let (sim, api) = start(manual()).await;
    let mut expired = AppSpec::new("expired");
    expired.package_expired = true;
    let e = sim.add_app(expired);
    let pkg = sim.app(&e).expect("app").droplets[0]
        .package
        .clone()
        .expect("package");
    let r = api
        .post("/v3/builds", json!({"package": {"guid": pkg}}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.detail()
            .contains("Cannot stage package whose state is not ready.")
    );

    let r = api
        .post("/v3/builds", json!({"package": {"guid": "nope"}}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.detail(),
        "Unable to use package. Ensure that the package exists and you have access to it."
    );

    let app = sim.add_app(AppSpec::new("quota"));
    sim.set_fault(FaultRule::app(&app, Fault::BuildQuotaExceeded).times(1));
    let r = api.build(&app).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error(), (10008, "CF-UnprocessableEntity".to_owned()));
    assert_eq!(
        r.detail(),
        "organization's memory limit exceeded: staging requires 1024M memory"
    );

    sim.set_fault(FaultRule::app(&app, Fault::StagerUnavailable).times(1));
    let r = api.build(&app).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error(), (170010, "CF-StagerUnavailable".to_owned()));
    assert_eq!(api.build(&app).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn real_org_quota_limits_staging() {
    let (sim, api) = start(cf_sim::SimConfig {
        org_memory_quota_mb: Some(2560),
        // The first build must still be staging when the second asks for memory.
        staging_duration: Duration::from_secs(60),
        ..manual()
    })
    .await;
    // 2 × 1024M running leave 512M of the default org quota: a 1024M
    // staging does not fit (staging is checked, not counted: quotas.rs).
    let mut spec = AppSpec::new("a");
    spec.instances = 1;
    spec.memory_mb = 1024;
    let a = sim.add_app(spec.clone());
    spec.name = "b".to_owned();
    sim.add_app(spec);
    let r = api.build(&a).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.detail()
            .starts_with("organization's memory limit exceeded")
    );
}

#[tokio::test]
async fn stack_states_gate_staging() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(spec("old-stack", |s| s.stack = "cflinuxfs3".to_owned()));
    sim.set_stack_state("cflinuxfs3", StackState::Disabled);
    let r = api.build(&app).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error(), (250004, "CF-StackValidationFailed".to_owned()));
    assert_eq!(
        r.detail(),
        "ERROR: Staging failed. The stack 'cflinuxfs3' is 'DISABLED' and cannot be used for staging."
    );
    sim.set_stack_state("cflinuxfs3", StackState::Deprecated);
    let r = api.build(&app).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let warning = r
        .headers
        .get("x-cf-warnings")
        .and_then(|v| v.to_str().ok())
        .expect("X-Cf-Warnings");
    assert!(
        warning.contains("cflinuxfs3") && warning.contains("DEPRECATED"),
        "{warning}"
    );
}

#[tokio::test]
async fn docker_builds_make_image_droplets() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(spec("container", |s| s.lifecycle = LifecycleKind::Docker));
    let current = api.ok(&format!("/v3/apps/{app}/droplets/current")).await;
    assert!(current["buildpacks"].is_null());
    assert!(current["stack"].is_null());
    assert_eq!(current["image"], "registry.example.com/container:latest");
    let pkg = api.ok(&format!("/v3/apps/{app}/packages")).await;
    assert_eq!(pkg["resources"][0]["type"], "docker");
    let droplet = api.staged_droplet(&app).await;
    let d = api.ok(&format!("/v3/droplets/{droplet}")).await;
    assert!(d["buildpacks"].is_null());
    assert_eq!(d["image"], "registry.example.com/container:latest");
}
