//! Space and org quotas as Cloud Controller checks them: what they list,
//! what counts as used (STARTED processes, not staging), the refusal texts
//! at staging and at deployment creation, and a rollout that holds exactly
//! `max_in_flight` extra instances while it rolls.

use cf_sim::{AppSpec, CfSim, QuotaLimits, QuotaUsage, SimConfig};
use reqwest::StatusCode;

use crate::common::{Api, manual, start};

fn memory(mb: u64) -> QuotaLimits {
    QuotaLimits {
        memory_mb: Some(mb),
        instances: None,
    }
}

fn app(sim: &CfSim, name: &str, space: &str, instances: u32, memory_mb: u64) -> String {
    let mut spec = AppSpec::new(name);
    spec.space = space.to_owned();
    spec.instances = instances;
    spec.memory_mb = memory_mb;
    sim.add_app(spec)
}

#[tokio::test]
async fn quotas_are_listed_with_their_spaces_and_orgs_and_null_for_unlimited() {
    let (sim, api) = start(manual()).await;
    app(&sim, "a", "prod", 2, 512);
    app(&sim, "b", "dev", 1, 512);
    let sq = sim
        .set_space_quota("sim-org", "prod", memory(4096))
        .expect("space quota");
    let oq = sim
        .set_org_quota(
            "sim-org",
            QuotaLimits {
                memory_mb: Some(10_240),
                instances: Some(40),
            },
        )
        .expect("org quota");
    let list = api.ok("/v3/space_quotas?per_page=5000").await;
    let q = &list["resources"][0];
    assert_eq!(q["guid"], sq.as_str());
    assert_eq!(q["apps"]["total_memory_in_mb"], 4096);
    assert!(q["apps"]["total_instances"].is_null(), "unlimited is null");
    assert_eq!(
        q["relationships"]["spaces"]["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let orgs = api.ok("/v3/organization_quotas").await;
    let mine = orgs["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|q| q["guid"] == oq.as_str()))
        .expect("the org's quota");
    assert_eq!(mine["apps"]["total_instances"], 40);
    let spaces = api.ok("/v3/spaces?names=prod").await;
    assert_eq!(
        spaces["resources"][0]["relationships"]["quota"]["data"]["guid"],
        sq.as_str()
    );
    assert!(spaces["resources"][0]["links"]["quota"]["href"].is_string());
    let dev = api.ok("/v3/spaces?names=dev").await;
    assert!(dev["resources"][0]["relationships"]["quota"]["data"].is_null());
    assert!(dev["resources"][0]["links"].get("quota").is_none());
    // Processes across apps, by org.
    let org = spaces["resources"][0]["relationships"]["organization"]["data"]["guid"]
        .as_str()
        .expect("org")
        .to_owned();
    assert_eq!(
        api.total(&format!(
            "/v3/processes?organization_guids={org}&per_page=5000"
        ))
        .await,
        2
    );
}

#[tokio::test]
async fn staging_is_checked_against_what_remains_but_not_counted() {
    let (sim, api) = start(SimConfig {
        // The first build must still be staging when the second asks.
        staging_duration: std::time::Duration::from_secs(60),
        ..manual()
    })
    .await;
    // 2 × 1024 M running in a 4096 M space: 2048 M remain, enough for one
    // 1024 M staging at a time, and staging does not use any of it up.
    let a = app(&sim, "a", "prod", 1, 1024);
    let b = app(&sim, "b", "prod", 1, 1024);
    sim.set_space_quota("sim-org", "prod", memory(4096))
        .expect("quota");
    assert_eq!(api.build(&a).await.status, StatusCode::CREATED);
    assert_eq!(api.build(&b).await.status, StatusCode::CREATED);
    assert_eq!(
        sim.space_usage("sim-org", "prod"),
        Ok(QuotaUsage {
            memory_mb: 2048,
            instances: 2
        })
    );
    // Less than one staging's worth left in the space, then in the org.
    sim.set_space_quota("sim-org", "prod", memory(2560))
        .expect("quota");
    let c = app(&sim, "c", "prod", 0, 1024);
    let r = api.build(&c).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        r.detail(),
        "space's memory limit exceeded: staging requires 1024M memory"
    );
    sim.set_space_quota("sim-org", "prod", memory(100_000))
        .expect("quota");
    sim.set_org_quota("sim-org", memory(2560))
        .expect("org quota");
    let r = api.build(&c).await;
    assert_eq!(
        r.detail(),
        "organization's memory limit exceeded: staging requires 1024M memory"
    );
}

#[tokio::test]
async fn small_apps_stage_with_the_minimum_unchecked() {
    let (sim, api) = start(manual()).await;
    // 256 M apps stage with the 1024 M minimum, which CC does not check.
    let a = app(&sim, "a", "prod", 2, 256);
    sim.set_space_quota("sim-org", "prod", memory(600))
        .expect("quota");
    let r = api.build(&a).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["staging_memory_in_mb"], 1024);
}

async fn deploy(api: &Api, app: &str, droplet: &str) -> crate::common::Reply {
    api.deploy(app, droplet, 1).await
}

#[tokio::test]
async fn a_deployment_the_space_cannot_hold_is_refused_in_its_words() {
    let (sim, api) = start(manual()).await;
    // 3 × 1024 M in a 5120 M space: two more instances fit, one per rollout.
    let apps: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|n| app(&sim, n, "prod", 1, 1024))
        .collect();
    let mut droplets = Vec::new();
    for a in &apps {
        droplets.push(api.staged_droplet(a).await);
    }
    let (c, dc) = (&apps[2], &droplets[2]);
    sim.set_space_quota("sim-org", "prod", memory(5120))
        .expect("quota");
    for i in 0..2 {
        let r = deploy(&api, &apps[i], &droplets[i]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = deploy(&api, c, dc).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.detail(),
        "memory space_quota_exceeded for space prod. This space's quota may not be large enough to support rolling deployments or your configured max-in-flight."
    );
    // Both quotas broken: both errors, in ProcessModel's order, the space's words.
    sim.set_org_quota("sim-org", memory(5120))
        .expect("org quota");
    let r = deploy(&api, c, dc).await;
    assert!(
        r.detail()
            .starts_with("memory space_quota_exceeded, memory quota_exceeded for space prod."),
        "{}",
        r.detail()
    );
    // The instance limit of the org alone: the org's words.
    sim.set_space_quota("sim-org", "prod", memory(100_000))
        .expect("quota");
    sim.set_org_quota(
        "sim-org",
        QuotaLimits {
            memory_mb: None,
            instances: Some(5),
        },
    )
    .expect("org quota");
    let r = deploy(&api, c, dc).await;
    assert_eq!(
        r.detail(),
        "app_instance_limit app_instance_limit_exceeded for organization sim-org. This organization's quota may not be large enough to support rolling deployments or your configured max-in-flight."
    );
}

#[tokio::test]
async fn a_rollout_holds_max_in_flight_extra_instances_and_no_more() {
    let (sim, api) = start(manual()).await;
    // 4 instances of 512 M and room for exactly one more.
    let a = app(&sim, "a", "prod", 4, 512);
    sim.set_space_quota("sim-org", "prod", memory(2560))
        .expect("quota");
    let droplet = api.staged_droplet(&a).await;
    let r = deploy(&api, &a, &droplet).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let guid = r.guid();
    let mut peak = 0;
    for _ in 0..20 {
        sim.tick();
        let d = api.ok(&format!("/v3/deployments/{guid}")).await;
        assert!(
            d["status"]["details"].get("error").is_none(),
            "each step scales down before it scales up: {d}"
        );
        peak = peak.max(sim.space_usage("sim-org", "prod").expect("usage").instances);
        if d["status"]["value"] == "FINALIZED" {
            assert_eq!(d["status"]["reason"], "DEPLOYED");
            assert_eq!(peak, 5);
            return;
        }
    }
    panic!("the rollout did not finish");
}
