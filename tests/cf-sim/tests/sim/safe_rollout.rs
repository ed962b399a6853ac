//! What a safe rollout (health verification with automatic rollback, and
//! canaries) meets: a droplet that crashes after it is DEPLOYED, Diego's
//! crash loop and its audit events, and CC's canary steps.

use std::time::Duration;

use cf_sim::{AppSpec, CfSim, DeploymentState, Fault, FaultRule, SimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Api, eventually, manual, start};

fn crashy() -> SimConfig {
    SimConfig {
        crash_backoff: Duration::from_millis(20),
        ..manual()
    }
}

async fn app_with(sim: &CfSim, name: &str, instances: u32) -> String {
    let mut spec = AppSpec::new(name);
    spec.instances = instances;
    sim.add_app(spec)
}

/// Tick the updater until the deployment leaves ACTIVE/DEPLOYING.
async fn settle(sim: &CfSim, api: &Api, guid: &str) -> Value {
    let (sim, api) = (sim, api);
    eventually("the deployment to settle", move || async move {
        sim.tick();
        let d = api.ok(&format!("/v3/deployments/{guid}")).await;
        (d["status"]["reason"] != "DEPLOYING").then_some(d)
    })
    .await
}

fn states(stats: &Value) -> Vec<String> {
    stats["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|i| i["state"].as_str().expect("state").to_owned())
        .collect()
}

async fn crash_events(api: &Api, app: &str) -> Vec<Value> {
    api.all(&format!(
        "/v3/audit_events?types=audit.app.process.crash&target_guids={app}&order_by=created_at"
    ))
    .await
}

#[tokio::test]
async fn a_droplet_that_crashes_after_deploy_crash_loops_until_rolled_back() {
    let (sim, api) = start(crashy()).await;
    let app = app_with(&sim, "flaky", 2).await;
    let old = sim
        .app(&app)
        .and_then(|a| a.current_droplet)
        .expect("droplet");
    sim.set_fault(
        FaultRule::app(
            &app,
            Fault::CrashAfterDeploy {
                after: Duration::from_millis(80),
            },
        )
        .times(1),
    );
    let bad = api.staged_droplet(&app).await;
    let r = api.deploy(&app, &bad, 2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let guid = r.guid();
    let process = r.new_process();
    // The rollout itself is healthy.
    let d = settle(&sim, &api, &guid).await;
    assert_eq!(
        (
            d["status"]["value"].as_str(),
            d["status"]["reason"].as_str()
        ),
        (Some("FINALIZED"), Some("DEPLOYED"))
    );
    // Then its instances crash and Diego keeps restarting them.
    let stats_path = format!("/v3/processes/{process}/stats");
    let api_ref = &api;
    let path = stats_path.as_str();
    eventually("a CRASHED instance in stats", move || async move {
        let stats = api_ref.ok(path).await;
        states(&stats).iter().any(|s| s == "CRASHED").then_some(())
    })
    .await;
    let app_ref = app.as_str();
    let events = eventually("crash_count to reach 3", move || async move {
        let events = crash_events(api_ref, app_ref).await;
        events
            .iter()
            .any(|e| e["data"]["index"] == 0 && e["data"]["crash_count"].as_u64() >= Some(3))
            .then_some(events)
    })
    .await;
    let first = &events[0];
    assert_eq!(
        first["actor"],
        json!({"guid": process, "type": "process", "name": "web"})
    );
    assert_eq!(
        first["target"],
        json!({"guid": app, "type": "app", "name": "flaky"})
    );
    let data = &first["data"];
    assert_eq!(data["reason"], "CRASHED");
    assert_eq!(data["exit_status"], 1);
    assert_eq!(
        data["exit_description"],
        "APP/PROC/WEB: Exited with status 1"
    );
    assert_eq!(data["crash_count"], 1);
    assert_eq!(data["version"], process, "the process version");
    assert!(data["instance"].is_string() && data["cell_id"].is_string());
    assert!(data["crash_timestamp"].as_i64().is_some_and(|t| t > 0));
    let counts: Vec<u64> = events
        .iter()
        .filter(|e| e["data"]["index"] == 0)
        .map(|e| e["data"]["crash_count"].as_u64().expect("count"))
        .collect();
    assert_eq!(counts, (1..=counts.len() as u64).collect::<Vec<_>>());
    // CC's legacy app.crash event comes with each one.
    let legacy = api
        .ok(&format!(
            "/v3/audit_events?types=app.crash&target_guids={app}"
        ))
        .await;
    assert!(legacy["pagination"]["total_results"].as_u64() >= Some(3));
    assert_eq!(legacy["resources"][0]["actor"]["type"], "app");
    // The deployment stays DEPLOYED: CC never fails a finalized deployment.
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(d["status"]["reason"], "DEPLOYED");

    // Roll back to the previous droplet: its instances are healthy.
    let r = api.deploy(&app, &old, 2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let back = r.guid();
    let good = r.new_process();
    let d = settle(&sim, &api, &back).await;
    assert_eq!(d["status"]["reason"], "DEPLOYED");
    assert_eq!(
        sim.app(&app).and_then(|a| a.current_droplet),
        Some(old.clone())
    );
    let gone = api.get(&stats_path).await;
    assert_eq!(
        gone.status,
        StatusCode::NOT_FOUND,
        "the bad process is gone"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = api.ok(&format!("/v3/processes/{good}/stats")).await;
    assert_eq!(states(&stats), ["RUNNING", "RUNNING"]);
    assert!(
        crash_events(&api, &app)
            .await
            .iter()
            .all(|e| e["actor"]["guid"] == process.as_str()),
        "no crash of the rolled-back droplet"
    );
}

#[tokio::test]
async fn crash_events_since_a_whole_second() {
    let (sim, api) = start(crashy()).await;
    let app = app_with(&sim, "since", 1).await;
    let droplet = sim
        .app(&app)
        .and_then(|a| a.current_droplet)
        .expect("droplet");
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let since = before.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    sim.crash_droplet_after_deploy(&droplet, Duration::from_millis(30))
        .expect("known droplet");
    let (api_ref, app_ref) = (&api, app.as_str());
    let path = format!(
        "/v3/audit_events?types=audit.app.process.crash&target_guids={app_ref}&created_ats[gt]={since}"
    );
    let path = path.as_str();
    let events = eventually("crash events after `since`", move || async move {
        let body = api_ref.ok(path).await;
        (body["pagination"]["total_results"].as_u64() >= Some(2)).then_some(body)
    })
    .await;
    assert_eq!(
        events["resources"][0]["actor"]["guid"], app,
        "seeded web guid = app guid"
    );
    assert!(
        sim.crash_droplet_after_deploy("nope", Duration::ZERO)
            .is_err()
    );
}

async fn create_canary(api: &Api, app: &str, droplet: &str, steps: Option<Value>) -> Value {
    let mut options = json!({"max_in_flight": 2});
    if let Some(steps) = steps {
        options["canary"] = json!({"steps": steps});
    }
    let r = api
        .post(
            "/v3/deployments",
            json!({
                "droplet": {"guid": droplet},
                "strategy": "canary",
                "options": options,
                "relationships": {"app": {"data": {"guid": app}}},
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

/// (new, old) web instances.
fn split(sim: &CfSim, app: &str, new_process: &str) -> (u32, u32) {
    let snap = sim.app(app).expect("app");
    let mut out = (0, 0);
    for p in snap.processes.iter().filter(|p| p.kind == "web") {
        if p.guid == new_process {
            out.0 += p.instances;
        } else {
            out.1 += p.instances;
        }
    }
    out
}

#[tokio::test]
async fn canary_steps_pause_at_each_instance_weight_then_roll_the_rest() {
    let (sim, api) = start(manual()).await;
    let app = app_with(&sim, "stepped", 10).await;
    let droplet = api.staged_droplet(&app).await;
    let d = create_canary(
        &api,
        &app,
        &droplet,
        Some(json!([{"instance_weight": 10}, {"instance_weight": 50}, {"instance_weight": 100}])),
    )
    .await;
    let guid = d["guid"].as_str().expect("guid").to_owned();
    let new = d["new_processes"][0]["guid"]
        .as_str()
        .expect("process")
        .to_owned();
    assert_eq!(
        d["status"]["canary"]["steps"],
        json!({"current": 1, "total": 3})
    );
    assert_eq!(
        sim.deployments_for(&app)[0].state,
        DeploymentState::Prepaused
    );

    // DeploymentModel#canary_step_plan for 10 instances: (canary, original)
    // = (1, 10), (5, 6), (10, 0).
    for (step, want) in [(1, (1, 10)), (2, (5, 6)), (3, (10, 0))] {
        let d = settle(&sim, &api, &guid).await;
        assert_eq!(
            (
                d["status"]["value"].as_str(),
                d["status"]["reason"].as_str()
            ),
            (Some("ACTIVE"), Some("PAUSED")),
            "step {step}: {d}"
        );
        assert_eq!(d["status"]["canary"]["steps"]["current"], step);
        assert!(d["links"]["continue"]["href"].is_string());
        assert_eq!(split(&sim, &app, &new), want, "step {step}");
        sim.tick();
        assert_eq!(split(&sim, &app, &new), want, "paused: nothing moves");
        let c = api.continue_(&guid).await;
        assert_eq!(c.status, StatusCode::OK);
        assert!(c.body.is_null(), "head :ok");
        let d = api.ok(&format!("/v3/deployments/{guid}")).await;
        assert_eq!(d["status"]["reason"], "DEPLOYING");
        assert!(d["links"].get("continue").is_none());
        let not_paused = api.continue_(&guid).await;
        assert_eq!(not_paused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            not_paused.detail(),
            "Cannot continue a deployment with status: ACTIVE and reason: DEPLOYING"
        );
        let expected = if step < 3 {
            DeploymentState::Prepaused
        } else {
            DeploymentState::Deploying
        };
        assert_eq!(sim.deployments_for(&app)[0].state, expected);
    }
    let d = settle(&sim, &api, &guid).await;
    assert_eq!(d["status"]["reason"], "DEPLOYED");
    assert_eq!(d["status"]["canary"]["steps"]["current"], 3);
    assert_eq!(split(&sim, &app, &new), (10, 0));
    let done = api.continue_(&guid).await;
    assert_eq!(
        done.detail(),
        "Cannot continue a deployment with status: FINALIZED and reason: DEPLOYED"
    );
    assert_eq!(
        api.total(&format!(
            "/v3/audit_events?types=audit.app.deployment.continue&target_guids={app}"
        ))
        .await,
        3
    );
}

#[tokio::test]
async fn a_crashing_canary_stays_paused_until_cancel_restores_the_previous_droplet() {
    let (sim, api) = start(crashy()).await;
    let app = app_with(&sim, "canary-crash", 4).await;
    let old = sim
        .app(&app)
        .and_then(|a| a.current_droplet)
        .expect("droplet");
    sim.set_fault(FaultRule::app(
        &app,
        Fault::CrashAfterDeploy {
            after: Duration::from_millis(50),
        },
    ));
    let droplet = api.staged_droplet(&app).await;
    let d = create_canary(&api, &app, &droplet, None).await;
    assert_eq!(
        d["status"]["canary"]["steps"],
        json!({"current": 1, "total": 1})
    );
    let guid = d["guid"].as_str().expect("guid").to_owned();
    let canary = d["new_processes"][0]["guid"]
        .as_str()
        .expect("process")
        .to_owned();
    let d = settle(&sim, &api, &guid).await;
    assert_eq!(d["status"]["reason"], "PAUSED");
    // One canary; the original web process keeps 4 − 1 + 1 = 4.
    assert_eq!(split(&sim, &app, &canary), (1, 4));

    let (sim_ref, api_ref) = (&sim, &api);
    let path = format!("/v3/processes/{canary}/stats");
    let path = path.as_str();
    eventually("the canary to crash", move || async move {
        sim_ref.tick();
        let stats = api_ref.ok(path).await;
        (states(&stats) == ["CRASHED"]).then_some(())
    })
    .await;
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(
        (
            d["status"]["value"].as_str(),
            d["status"]["reason"].as_str()
        ),
        (Some("ACTIVE"), Some("PAUSED"))
    );
    let events = crash_events(&api, &app).await;
    assert!(
        events.len() >= 3,
        "crashes 1, 2 restart at once: {events:?}"
    );
    assert!(events.iter().all(|e| e["actor"]["guid"] == canary.as_str()));
    let old_stats = api.ok(&format!("/v3/processes/{app}/stats")).await;
    assert_eq!(states(&old_stats), ["RUNNING"; 4]);

    let c = api.cancel(&guid).await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(
        sim.app(&app).and_then(|a| a.current_droplet),
        Some(old),
        "cancel reassigns the previous droplet"
    );
    sim.tick();
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(d["status"]["reason"], "CANCELED");
    assert_eq!(api.get(path).await.status, StatusCode::NOT_FOUND);
    let snap = sim.app(&app).expect("app");
    let webs: Vec<_> = snap.processes.iter().filter(|p| p.kind == "web").collect();
    assert_eq!(webs.len(), 1);
    assert_eq!((webs[0].instances, webs[0].running), (4, 4));
}

#[tokio::test]
async fn canary_needs_3_173_and_steps_3_189() {
    let at = |v: &str| SimConfig {
        api_version: v.to_owned(),
        ..manual()
    };
    let (sim, api) = start(at("3.172.0")).await;
    let app = app_with(&sim, "old-cc", 2).await;
    let droplet = api.staged_droplet(&app).await;
    let r = api
        .post(
            "/v3/deployments",
            json!({"droplet": {"guid": droplet}, "strategy": "canary", "relationships": {"app": {"data": {"guid": app}}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.detail(),
        "Strategy 'canary' is not a supported deployment strategy"
    );
    let r = api
        .post("/v3/deployments/any/actions/continue", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), (10000, "CF-NotFound".to_owned()));

    // 3.173–3.188: canary without steps (the key is not read) and no status.canary.
    let (sim, api) = start(at("3.180.0")).await;
    let app = app_with(&sim, "mid-cc", 4).await;
    let droplet = api.staged_droplet(&app).await;
    let d = create_canary(&api, &app, &droplet, Some(json!([{"instance_weight": 50}]))).await;
    assert!(d["status"].get("canary").is_none(), "{d}");
    assert!(d["options"].get("canary").is_none(), "{d}");
    let guid = d["guid"].as_str().expect("guid").to_owned();
    let new = d["new_processes"][0]["guid"]
        .as_str()
        .expect("process")
        .to_owned();
    let d = settle(&sim, &api, &guid).await;
    assert_eq!(d["status"]["reason"], "PAUSED");
    assert_eq!(split(&sim, &app, &new), (1, 4), "one canary instance");
}

#[tokio::test]
async fn instances_crash_fault_records_one_crash_per_instance() {
    let (sim, api) = start(manual()).await;
    let app = app_with(&sim, "never-healthy", 2).await;
    let droplet = api.staged_droplet(&app).await;
    sim.set_fault(FaultRule::app(&app, Fault::InstancesCrash { error: None }));
    let r = api.deploy(&app, &droplet, 2).await;
    let process = r.new_process();
    for _ in 0..5 {
        sim.tick();
    }
    let events = crash_events(&api, &app).await;
    let mut seen: Vec<(u64, u64)> = events
        .iter()
        .map(|e| {
            assert_eq!(e["actor"]["guid"], process.as_str());
            (
                e["data"]["index"].as_u64().expect("index"),
                e["data"]["crash_count"].as_u64().expect("count"),
            )
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [(0, 1), (1, 1)],
        "crashed as they started, stay CRASHED"
    );
    let stats = api.ok(&format!("/v3/processes/{process}/stats")).await;
    assert_eq!(states(&stats), ["CRASHED", "CRASHED"]);
}

/// Web instances of each live web process, by guid.
fn web_instances(sim: &CfSim, app: &str) -> Vec<(String, u32)> {
    let snap = sim.app(app).expect("app");
    snap.processes
        .iter()
        .filter(|p| p.kind == "web")
        .map(|p| (p.guid.clone(), p.instances))
        .collect()
}

/// A 4-instance app whose canary is PAUSED, then superseded by a rolling
/// deployment: `(app, canary deployment, canary process, rolling deployment)`.
async fn superseded_canary(sim: &CfSim, api: &Api) -> (String, String, String, String) {
    let app = app_with(sim, "superseded-canary", 4).await;
    let droplet = api.staged_droplet(&app).await;
    let d = create_canary(api, &app, &droplet, None).await;
    let canary = d["guid"].as_str().expect("guid").to_owned();
    let process = d["new_processes"][0]["guid"]
        .as_str()
        .expect("process")
        .to_owned();
    assert_eq!(
        settle(sim, api, &canary).await["status"]["reason"],
        "PAUSED"
    );
    let r = api.deploy(&app, &droplet, 1).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let rolling = r.guid();
    let d = api.ok(&format!("/v3/deployments/{canary}")).await;
    assert_eq!(
        (
            d["status"]["value"].as_str(),
            d["status"]["reason"].as_str()
        ),
        (Some("FINALIZED"), Some("SUPERSEDED"))
    );
    // DeploymentCreate#supersede_deployment: a paused canary is CANCELED.
    let snap = sim.deployments_for(&app);
    assert_eq!(snap[0].state, DeploymentState::Canceled);
    assert_eq!(
        (snap[0].strategy.as_str(), snap[0].canary_step),
        ("canary", Some(1))
    );
    (app, canary, process, rolling)
}

#[tokio::test]
async fn the_next_scale_pass_scales_a_superseded_canary_to_zero() {
    let (sim, api) = start(manual()).await;
    let (app, _, canary_process, rolling) = superseded_canary(&sim, &api).await;
    let original = web_instances(&sim, &app)[0].0.clone();
    sim.tick();
    // ScaleDownCanceledProcesses: the canary's instance is gone. The
    // down-scaler counted it still (5 old instances where 4 − 1 routable new
    // one = 3 are wanted), so the original process gave up 2.
    let webs = web_instances(&sim, &app);
    assert!(
        webs.contains(&(canary_process.clone(), 0)),
        "the superseded canary keeps no instance: {webs:?}"
    );
    assert!(webs.contains(&(original, 2)), "{webs:?}");
    let d = settle(&sim, &api, &rolling).await;
    assert_eq!(d["status"]["reason"], "DEPLOYED");
    let webs = web_instances(&sim, &app);
    assert_eq!(webs.len(), 1, "finalize destroys the others: {webs:?}");
    assert_eq!(webs[0].1, 4);
}

#[tokio::test]
async fn canceling_after_a_superseded_canary_keeps_the_original_process() {
    let (sim, api) = start(manual()).await;
    let (app, _, canary_process, rolling) = superseded_canary(&sim, &api).await;
    let original = web_instances(&sim, &app)[0].0.clone();
    let c = api.cancel(&rolling).await;
    assert_eq!(c.status, StatusCode::OK);
    sim.tick();
    let d = api.ok(&format!("/v3/deployments/{rolling}")).await;
    assert_eq!(d["status"]["reason"], "CANCELED");
    // Cancel#find_interim_web_process takes only processes of DEPLOYED
    // superseded deployments: the canary's (CANCELED) is not one, however
    // healthy, so the original process takes the 4 instances back.
    let webs = web_instances(&sim, &app);
    assert_eq!(webs, [(original, 4)], "not the canary {canary_process}");
}

#[tokio::test]
async fn a_continue_after_an_operators_is_refused_as_not_paused() {
    let (sim, api) = start(manual()).await;
    let app = app_with(&sim, "raced", 4).await;
    let droplet = api.staged_droplet(&app).await;
    let d = create_canary(
        &api,
        &app,
        &droplet,
        Some(json!([{"instance_weight": 25}, {"instance_weight": 50}])),
    )
    .await;
    let guid = d["guid"].as_str().expect("guid").to_owned();
    assert_eq!(
        settle(&sim, &api, &guid).await["status"]["reason"],
        "PAUSED"
    );
    sim.set_fault(FaultRule::app(&app, Fault::OperatorContinuesFirst).times(1));

    let ours = api.continue_(&guid).await;

    assert_eq!(ours.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ours.error(), (10008, "CF-UnprocessableEntity".to_owned()));
    assert_eq!(
        ours.detail(),
        "Cannot continue a deployment with status: ACTIVE and reason: DEPLOYING"
    );
    let d = api.ok(&format!("/v3/deployments/{guid}")).await;
    assert_eq!(
        d["status"]["canary"]["steps"]["current"], 2,
        "moved on once"
    );
    let continues = api
        .all(&format!(
            "/v3/audit_events?types=audit.app.deployment.continue&target_guids={app}"
        ))
        .await;
    assert_eq!(continues.len(), 1, "only the operator's: {continues:?}");
    assert_eq!(continues[0]["actor"]["type"], "user");
    assert_ne!(continues[0]["actor"]["guid"], sim.client_id());
    // The fault fired once: the next pause is ours to continue.
    assert_eq!(
        settle(&sim, &api, &guid).await["status"]["reason"],
        "PAUSED"
    );
    assert_eq!(api.continue_(&guid).await.status, StatusCode::OK);
}
