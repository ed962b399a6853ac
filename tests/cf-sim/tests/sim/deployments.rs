use std::time::Duration;

use cf_sim::{AppSpec, AppState, CfSim, DeploymentState, Fault, FaultRule};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Api, manual, spec, start};

/// (new web instances, old web instances) of an app mid-rollout.
fn split(sim: &CfSim, app: &str, new_process: &str) -> (u32, u32) {
    let snap = sim.app(app).expect("app");
    let mut new = 0;
    let mut old = 0;
    for p in snap.processes.iter().filter(|p| p.kind == "web") {
        if p.guid == new_process {
            new += p.instances;
        } else {
            old += p.instances;
        }
    }
    (new, old)
}

async fn app_with(sim: &CfSim, api: &Api, instances: u32) -> (String, String) {
    let mut spec = AppSpec::new(format!("app-{instances}-{}", sim.apps().len()));
    spec.instances = instances;
    let app = sim.add_app(spec);
    let droplet = api.staged_droplet(&app).await;
    (app, droplet)
}

#[tokio::test]
async fn rolling_deployment_steps_by_max_in_flight() {
    let (sim, api) = start(manual()).await;
    let (app, droplet) = app_with(&sim, &api, 5).await;
    let before = sim
        .app(&app)
        .expect("app")
        .current_droplet
        .expect("droplet");
    let r = api.deploy(&app, &droplet, 2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let d = &r.body;
    assert_eq!(d["status"]["value"], "ACTIVE");
    assert_eq!(d["status"]["reason"], "DEPLOYING");
    assert!(d["status"]["details"]["last_successful_healthcheck"].is_string());
    assert!(d["status"]["details"]["last_status_change"].is_string());
    assert!(d["status"]["details"].get("error").is_none());
    assert_eq!(d["strategy"], "rolling");
    assert_eq!(d["options"]["max_in_flight"], 2);
    assert_eq!(d["droplet"]["guid"], droplet);
    assert_eq!(d["previous_droplet"]["guid"], before);
    assert_eq!(d["new_processes"][0]["type"], "web");
    // Revisions are on by default: the deployment names the revision it
    // made (the app's first revision is that of the droplet it was pushed with).
    assert!(d["revision"]["guid"].is_string(), "{d}");
    assert_eq!(d["revision"]["version"], 2);
    assert!(d.get("state").is_none(), "no top-level state since 3.92.0");
    assert!(d["links"]["cancel"]["href"].is_string());
    let guid = d["guid"].as_str().expect("guid").to_owned();
    let new_process = d["new_processes"][0]["guid"]
        .as_str()
        .expect("process")
        .to_owned();

    // The droplet is assigned at once.
    let app_json = api.ok(&format!("/v3/apps/{app}")).await;
    assert_eq!(
        app_json["relationships"]["current_droplet"]["data"]["guid"],
        droplet
    );

    let mut steps = vec![split(&sim, &app, &new_process)];
    for _ in 0..5 {
        sim.tick();
        steps.push(split(&sim, &app, &new_process));
    }
    assert_eq!(
        steps,
        vec![(2, 5), (4, 3), (5, 1), (5, 0), (5, 0), (5, 0)],
        "new starts at min(mif, desired); old shrinks to desired - routable_new"
    );
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(d["status"]["value"], "FINALIZED");
    assert_eq!(d["status"]["reason"], "DEPLOYED");
    assert_eq!(
        sim.deployments_for(&app)[0].state,
        DeploymentState::Deployed
    );
    assert!(d["links"].get("cancel").is_none());
    let snap = sim.app(&app).expect("app");
    assert_eq!(snap.web_instances(), 5);
    assert_eq!(snap.processes.iter().filter(|p| p.kind == "web").count(), 1);

    let processes = api.ok(&format!("/v3/apps/{app}/processes")).await;
    assert_eq!(processes["resources"][0]["guid"], new_process);
    let stats = api.ok(&format!("/v3/processes/{new_process}/stats")).await;
    let states: Vec<&str> = stats["resources"]
        .as_array()
        .expect("stats")
        .iter()
        .map(|i| i["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, vec!["RUNNING"; 5]);
    assert_eq!(stats["resources"][0]["routable"], true);
}

#[tokio::test]
async fn one_instance_app_keeps_serving_until_the_new_one_is_routable() {
    let (sim, api) = start(manual()).await;
    let (app, droplet) = app_with(&sim, &api, 1).await;
    let r = api.deploy(&app, &droplet, 1).await;
    let new_process = r.new_process();
    assert_eq!(split(&sim, &app, &new_process), (1, 1));
    sim.tick();
    assert_eq!(split(&sim, &app, &new_process), (1, 0));
}

#[tokio::test]
async fn starting_instances_hold_the_rollout() {
    let (sim, api) = start(cf_sim::SimConfig {
        instance_startup: Duration::from_millis(60),
        ..manual()
    })
    .await;
    let (app, droplet) = app_with(&sim, &api, 2).await;
    let r = api.deploy(&app, &droplet, 1).await;
    let new_process = r.new_process();
    let stats = api.ok(&format!("/v3/processes/{new_process}/stats")).await;
    assert_eq!(stats["resources"][0]["state"], "STARTING");
    assert_eq!(stats["resources"][0]["routable"], false);
    sim.tick();
    assert_eq!(
        split(&sim, &app, &new_process),
        (1, 2),
        "nothing moves while starting"
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    sim.tick();
    assert_eq!(split(&sim, &app, &new_process), (2, 1));
}

#[tokio::test]
async fn background_updater_finishes_a_deployment() {
    let (sim, api) = start(cf_sim::SimConfig {
        tick: Duration::from_millis(5),
        instance_startup: Duration::from_millis(5),
        ..manual()
    })
    .await;
    let (app, droplet) = app_with(&sim, &api, 3).await;
    let r = api.deploy(&app, &droplet, 1).await;
    let guid = r.guid();
    let mut reason = String::new();
    for _ in 0..300 {
        let d = api.ok(&format!("/v3/deployments/{guid}")).await;
        reason = d["status"]["reason"].as_str().expect("reason").to_owned();
        if reason != "DEPLOYING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(reason, "DEPLOYED");
    assert_eq!(sim.app(&app).expect("app").web_instances(), 3);
}

#[tokio::test]
async fn a_new_deployment_supersedes_the_active_one() {
    let (sim, api) = start(manual()).await;
    let (app, d1) = app_with(&sim, &api, 3).await;
    let first = api.deploy(&app, &d1, 1).await.guid();
    let d2 = api.staged_droplet(&app).await;
    let second = api.deploy(&app, &d2, 1).await;
    assert_eq!(second.body["previous_droplet"]["guid"], d1);
    let f = api.ok(&format!("/v3/deployments/{first}")).await;
    assert_eq!(f["status"]["value"], "FINALIZED");
    assert_eq!(f["status"]["reason"], "SUPERSEDED");
    let states: Vec<DeploymentState> = sim.deployments_for(&app).iter().map(|d| d.state).collect();
    assert_eq!(
        states[0],
        DeploymentState::Deployed,
        "superseded while deploying"
    );
    let active = api
        .ok(&format!(
            "/v3/deployments?app_guids={app}&status_values=ACTIVE"
        ))
        .await;
    assert_eq!(active["pagination"]["total_results"], 1);
    assert_eq!(active["resources"][0]["guid"], second.body["guid"]);
    for _ in 0..6 {
        sim.tick();
    }
    let snap = sim.app(&app).expect("app");
    assert_eq!(snap.web_instances(), 3);
    assert_eq!(snap.current_droplet.as_deref(), Some(d2.as_str()));
}

#[tokio::test]
async fn a_human_push_supersedes_our_deployment() {
    let (sim, api) = start(manual()).await;
    let (app, droplet) = app_with(&sim, &api, 2).await;
    let ours = api.deploy(&app, &droplet, 1).await.guid();
    let theirs = sim.human_push(&app).expect("push");
    let d = api.ok(&format!("/v3/deployments/{ours}")).await;
    assert_eq!(d["status"]["reason"], "SUPERSEDED");
    let deployments = sim.deployments_for(&app);
    assert_eq!(deployments.len(), 2);
    assert!(!deployments[1].by_client);
    assert_eq!(deployments[1].droplet, theirs);

    // The fault version: the human push lands on the next tick.
    let (other, d2) = app_with(&sim, &api, 2).await;
    sim.set_fault(FaultRule::app(&other, Fault::HumanPushDuringDeploy).times(1));
    let ours = api.deploy(&other, &d2, 1).await.guid();
    sim.tick();
    let d = api.ok(&format!("/v3/deployments/{ours}")).await;
    assert_eq!(d["status"]["reason"], "SUPERSEDED");
}

#[tokio::test]
async fn a_human_push_between_build_and_deploy_moves_current_droplet() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("busy"));
    let before = sim.app(&app).expect("app").current_droplet;
    sim.set_fault(FaultRule::app(&app, Fault::HumanPushBeforeDeploy).times(1));
    let ours = api.staged_droplet(&app).await;
    let now = sim.app(&app).expect("app").current_droplet;
    assert_ne!(now, before);
    assert_ne!(now.as_deref(), Some(ours.as_str()));
    assert!(
        sim.deployments_for(&app).is_empty(),
        "no deployment was ACTIVE"
    );
}

#[tokio::test]
async fn deploying_a_stopped_app_starts_it_and_finalizes_at_once() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(spec("sleepy", |s| s.state = AppState::Stopped));
    let droplet = api.staged_droplet(&app).await;
    let stats = api.ok(&format!("/v3/processes/{app}/stats")).await;
    assert_eq!(stats["resources"][0]["state"], "DOWN");
    let r = api.deploy(&app, &droplet, 1).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["status"]["value"], "FINALIZED");
    assert_eq!(r.body["status"]["reason"], "DEPLOYED");
    let a = api.ok(&format!("/v3/apps/{app}")).await;
    assert_eq!(a["state"], "STARTED");
}

#[tokio::test]
async fn crashing_instances_leave_the_deployment_deploying_for_ever() {
    let (sim, api) = start(manual()).await;
    let (app, droplet) = app_with(&sim, &api, 3).await;
    sim.set_fault(FaultRule::app(
        &app,
        Fault::InstancesCrash {
            error: Some("Failed to start: exit status 1".to_owned()),
        },
    ));
    let r = api.deploy(&app, &droplet, 1).await;
    let guid = r.guid();
    let new_process = r.new_process();
    for _ in 0..20 {
        sim.tick();
    }
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(d["status"]["value"], "ACTIVE");
    assert_eq!(d["status"]["reason"], "DEPLOYING");
    assert_eq!(
        d["status"]["details"]["error"],
        "Failed to start: exit status 1"
    );
    assert_eq!(
        split(&sim, &app, &new_process),
        (1, 3),
        "no progress, old kept"
    );
    let stats = api.ok(&format!("/v3/processes/{new_process}/stats")).await;
    assert_eq!(stats["resources"][0]["state"], "CRASHED");
    let failed = api.ok("/v3/deployments?status_values=FAILED").await;
    assert_eq!(failed["pagination"]["total_results"], 0);

    // Cancel restores the previous droplet and the original instance count.
    let previous = d["previous_droplet"]["guid"].clone();
    let c = api.cancel(&guid).await;
    assert_eq!(c.status, StatusCode::OK);
    assert!(c.body.is_null(), "empty body");
    let a = api.ok(&format!("/v3/apps/{app}")).await;
    assert_eq!(
        a["relationships"]["current_droplet"]["data"]["guid"],
        previous
    );
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(
        (d["status"]["value"].clone(), d["status"]["reason"].clone()),
        (json!("ACTIVE"), json!("CANCELING"))
    );
    sim.tick();
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(d["status"]["value"], "FINALIZED");
    assert_eq!(d["status"]["reason"], "CANCELED");
    assert_eq!(
        sim.deployments_for(&app)[0].state,
        DeploymentState::Canceled
    );
    let snap = sim.app(&app).expect("app");
    assert_eq!(snap.web_instances(), 3);
    assert_eq!(snap.processes.iter().filter(|p| p.kind == "web").count(), 1);
    assert_eq!(snap.processes[0].running, 3);

    let again = api.cancel(&guid).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        again.detail(),
        "Cannot cancel a deployment with status: FINALIZED and reason: CANCELED"
    );
}

#[tokio::test]
async fn cancel_after_deployed_is_422() {
    let (sim, api) = start(manual()).await;
    let (app, droplet) = app_with(&sim, &api, 1).await;
    let guid = api.deploy(&app, &droplet, 1).await.guid();
    sim.tick();
    let r = api.cancel(&guid).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error(), (10008, "CF-UnprocessableEntity".to_owned()));
    assert_eq!(
        r.detail(),
        "Cannot cancel a deployment with status: FINALIZED and reason: DEPLOYED"
    );
}

#[tokio::test]
async fn deployment_requests_are_validated() {
    let (sim, api) = start(manual()).await;
    let (app, droplet) = app_with(&sim, &api, 1).await;
    let (other, foreign) = app_with(&sim, &api, 1).await;
    let rel = json!({"app": {"data": {"guid": app}}});
    let cases = [
        (
            json!({"droplet": {"guid": droplet}, "options": {"max_in_flight": 0}, "relationships": rel}),
            "Max in flight must be an integer greater than 0",
        ),
        (
            json!({"droplet": {"guid": droplet}, "strategy": "blue-green", "relationships": rel}),
            "Strategy 'blue-green' is not a supported deployment strategy",
        ),
        (
            json!({"droplet": {"guid": droplet}, "revision": {"guid": "r"}, "relationships": rel}),
            // errors.add(:droplet, ...) → the attribute leads the full message.
            "Droplet Cannot set both fields 'droplet' and 'revision'",
        ),
        (
            json!({"droplet": {"guid": droplet}, "options": {"speed": 3}, "relationships": rel}),
            "Options has unsupported key(s): speed",
        ),
        (
            json!({"droplet": {"guid": foreign}, "relationships": rel}),
            "Unable to assign current droplet. Ensure the droplet exists and belongs to this app.",
        ),
        (
            json!({"droplet": {"guid": droplet}, "relationships": {"app": {"data": {"guid": "nope"}}}}),
            "Unable to use app. Ensure that the app exists and you have access to it.",
        ),
    ];
    for (body, detail) in cases {
        let r = api.post("/v3/deployments", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{detail}");
        assert_eq!(r.detail(), detail);
    }
    assert!(sim.deployments_for(&app).is_empty());
    assert!(sim.deployments_for(&other).is_empty());
    // No droplet: redeploy the current one (cf restart --strategy rolling).
    let r = api
        .post("/v3/deployments", json!({"relationships": rel}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["options"]["max_in_flight"], 1);
}

#[tokio::test]
async fn quota_faults_at_create_and_mid_deploy() {
    let (sim, api) = start(manual()).await;
    let (app, droplet) = app_with(&sim, &api, 3).await;
    sim.set_fault(FaultRule::app(&app, Fault::DeploymentQuotaExceeded).times(1));
    let r = api.deploy(&app, &droplet, 1).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.detail(),
        "memory quota_exceeded for organization sim-org. This organization's quota may not be large enough to support rolling deployments or your configured max-in-flight."
    );
    assert_ne!(
        sim.app(&app).expect("app").current_droplet.as_deref(),
        Some(droplet.as_str()),
        "a refused deployment assigns nothing"
    );

    sim.set_fault(FaultRule::app(&app, Fault::MidDeployQuotaExceeded).times(2));
    let r = api.deploy(&app, &droplet, 1).await;
    let guid = r.guid();
    let new_process = r.new_process();
    sim.tick();
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(d["status"]["details"]["error"], "memory quota_exceeded");
    assert_eq!(d["status"]["value"], "ACTIVE");
    assert_eq!(split(&sim, &app, &new_process).0, 1, "no progress");
    sim.tick();
    sim.tick();
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert!(
        d["status"]["details"].get("error").is_none(),
        "cleared: {d}"
    );
    assert_eq!(split(&sim, &app, &new_process).0, 2);
}

#[tokio::test]
async fn zero_web_instances_finalize_on_the_first_tick_and_workers_restart() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(spec("worker-only", |s| {
        s.instances = 0;
        s.worker_instances = 2;
    }));
    let droplet = api.staged_droplet(&app).await;
    let r = api.deploy(&app, &droplet, 1).await;
    assert_eq!(r.body["status"]["value"], "ACTIVE");
    sim.tick();
    let d = sim.deployments_for(&app);
    assert_eq!(d[0].state, DeploymentState::Deployed);
    assert_eq!(d[0].status_reason, "DEPLOYED");
    let snap = sim.app(&app).expect("app");
    let worker = snap
        .processes
        .iter()
        .find(|p| p.kind == "worker")
        .expect("worker kept");
    assert_eq!(worker.instances, 2);
}

#[tokio::test]
async fn deployments_are_found_by_label_and_counted_in_peaks() {
    let (sim, api) = start(manual()).await;
    let (a, da) = app_with(&sim, &api, 2).await;
    let (b, db) = app_with(&sim, &api, 2).await;
    assert_eq!(sim.peak_active_restages(), 1, "builds were sequential");
    let r = api
        .post(
            "/v3/deployments",
            json!({
                "droplet": {"guid": da},
                "relationships": {"app": {"data": {"guid": a}}},
                "metadata": {"labels": {"restager.io/job": "job-a"}},
            }),
        )
        .await;
    assert_eq!(r.body["metadata"]["labels"]["restager.io/job"], "job-a");
    api.deploy(&b, &db, 1).await;
    assert_eq!(sim.peak_active_restages(), 2);
    assert_eq!(sim.peak_active_per_space(), 2);
    let found = api
        .ok("/v3/deployments?label_selector=restager.io/job=job-a")
        .await;
    assert_eq!(found["pagination"]["total_results"], 1);
    assert_eq!(
        found["resources"][0]["relationships"]["app"]["data"]["guid"],
        a
    );
    let newest = api
        .ok("/v3/deployments?order_by=-created_at&per_page=1")
        .await;
    assert_eq!(
        newest["resources"][0]["relationships"]["app"]["data"]["guid"],
        b
    );
    // Human work does not count.
    sim.reset_peaks();
    for _ in 0..4 {
        sim.tick();
    }
    sim.human_push(&a).expect("push");
    assert_eq!(
        sim.peak_active_restages(),
        2,
        "reset keeps the current level"
    );
}

#[tokio::test]
async fn stopped_app_path_assign_droplet_without_starting() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(spec("parked", |s| s.state = AppState::Stopped));
    let droplet = api.staged_droplet(&app).await;
    let r = api
        .patch(
            &format!("/v3/apps/{app}/relationships/current_droplet"),
            json!({"data": {"guid": droplet}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["data"]["guid"], droplet);
    let snap = sim.app(&app).expect("app");
    assert_eq!(snap.state, AppState::Stopped);
    assert_eq!(snap.current_droplet.as_deref(), Some(droplet.as_str()));
    let other = sim.add_app(AppSpec::new("other"));
    let foreign = sim
        .app(&other)
        .and_then(|a| a.current_droplet)
        .expect("droplet");
    let r = api
        .patch(
            &format!("/v3/apps/{app}/relationships/current_droplet"),
            json!({"data": {"guid": foreign}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let started = api
        .post(&format!("/v3/apps/{app}/actions/start"), json!({}))
        .await;
    assert_eq!(started.body["state"], "STARTED");
    let stopped = api
        .post(&format!("/v3/apps/{app}/actions/stop"), json!({}))
        .await;
    assert_eq!(stopped.body["state"], "STOPPED");
}

#[tokio::test]
async fn stats_can_be_unavailable() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("stats"));
    sim.set_fault(FaultRule::app(&app, Fault::InstancesUnavailable).times(1));
    let r = api.get(&format!("/v3/processes/{app}/stats")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error(), (220002, "CF-InstancesUnavailable".to_owned()));
    assert_eq!(
        api.get(&format!("/v3/processes/{app}/stats")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn canary_pauses_after_the_canary_instances_until_continued() {
    let (sim, api) = start(manual()).await;
    let (app, droplet) = app_with(&sim, &api, 4).await;
    let r = api
        .post(
            "/v3/deployments",
            json!({
                "droplet": {"guid": droplet},
                "strategy": "canary",
                "options": {"canary": {"steps": [{"instance_weight": 50}]}},
                "relationships": {"app": {"data": {"guid": app}}},
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        sim.deployments_for(&app)[0].state,
        DeploymentState::Prepaused
    );
    assert_eq!(r.body["status"]["reason"], "DEPLOYING");
    assert_eq!(r.body["status"]["canary"]["steps"]["total"], 1);
    let guid = r.guid();
    let new_process = r.new_process();
    // DeploymentCreate#starting_process_instances: min(max_in_flight 1, canary 2).
    assert_eq!(split(&sim, &app, &new_process), (1, 4));
    let early = api.continue_(&guid).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    sim.tick();
    sim.tick();
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(
        (
            d["status"]["value"].as_str(),
            d["status"]["reason"].as_str()
        ),
        (Some("ACTIVE"), Some("PAUSED"))
    );
    assert!(d["links"]["continue"]["href"].is_string());
    // canary_step_plan for 4 instances at weight 50: 2 canaries, old kept
    // at 4 − 2 + 1 = 3.
    assert_eq!(split(&sim, &app, &new_process), (2, 3));
    sim.tick();
    assert_eq!(
        split(&sim, &app, &new_process),
        (2, 3),
        "paused: nothing moves"
    );
    let c = api.continue_(&guid).await;
    assert_eq!(c.status, StatusCode::OK);
    assert!(c.body.is_null(), "head :ok: empty body");
    for _ in 0..6 {
        sim.tick();
    }
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(d["status"]["reason"], "DEPLOYED");
    assert_eq!(split(&sim, &app, &new_process), (4, 0));
}
