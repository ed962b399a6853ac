//! CfClient against the real Cloud Controller + UAA simulator (`cf-sim`):
//! discovery reads, pagination, the build/deployment calls the restage
//! engine makes, error mapping and network faults.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use cf_sim::{AppSpec, CfSim, Fault, FaultRule, SimConfig};
use restager_shared::cf::{
    AppQuery, BuildState, CfClient, CfClientOptions, CfError, DeploymentStatusReason,
    DeploymentStatusValue, PackageState, StackState,
};
use restager_shared::config::{CfSettings, Secret};
use restager_shared::domain::Version;
use test_support::engine::live_package;
use url::Url;

fn options() -> CfClientOptions {
    CfClientOptions {
        backoff_base: Duration::from_millis(2),
        backoff_max: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
        ..CfClientOptions::default()
    }
}

fn client_for(sim: &CfSim, secret: &str, options: CfClientOptions) -> CfClient {
    let settings = CfSettings {
        api_url: Url::parse(&sim.url()).expect("sim url"),
        client_id: sim.client_id().to_string(),
        client_secret: Secret::new(secret),
        skip_ssl_validation: false,
    };
    CfClient::with_options(&settings, options).expect("client builds")
}

fn client(sim: &CfSim) -> CfClient {
    client_for(sim, sim.client_secret(), options())
}

async fn sim(apps: usize) -> CfSim {
    CfSim::start(SimConfig::with_apps(apps))
        .await
        .expect("simulator starts")
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("restager.io/run".to_string(), "run-1".to_string())])
}

async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn app_listing_pages_and_joins_spaces_and_orgs() {
    let sim = sim(30).await;
    let client = client_for(
        &sim,
        sim.client_secret(),
        CfClientOptions {
            per_page: 7,
            ..options()
        },
    );
    let listing = client.list_apps(&AppQuery::default()).await.expect("apps");
    let expected = sim.apps();
    assert_eq!(listing.apps.len(), expected.len());
    for snap in &expected {
        let app = listing
            .apps
            .iter()
            .find(|a| a.guid == snap.guid)
            .expect("every app listed");
        assert_eq!(app.name, snap.name);
        assert_eq!(app.current_droplet_guid(), snap.current_droplet.as_deref());
        assert_eq!(
            listing.space_of(app).map(|s| s.name.as_str()),
            Some(snap.space.as_str())
        );
        assert_eq!(
            listing.org_of(app).map(|o| o.name.as_str()),
            Some(snap.org.as_str())
        );
    }
    let pages = expected.len().div_ceil(7);
    assert_eq!(sim.count("GET", "/v3/apps"), pages);
    for r in sim.requests().iter().filter(|r| r.path == "/v3/apps") {
        let q = r.query.clone().unwrap_or_default();
        assert!(q.contains("include=space.organization"), "{q}");
        assert!(q.contains("per_page=7"), "{q}");
    }
}

#[tokio::test]
async fn app_filters_reach_cloud_controller() {
    let sim = sim(0).await;
    let mut fs3 = AppSpec::new("old-stack");
    fs3.stack = "cflinuxfs3".into();
    let fs3 = sim.add_app(fs3);
    let mut docker = AppSpec::new("docker-app");
    docker.lifecycle = cf_sim::LifecycleKind::Docker;
    sim.add_app(docker);
    let mut labelled = AppSpec::new("opted-out");
    labelled
        .labels
        .insert(cf_sim::OPT_OUT_LABEL.to_string(), "true".to_string());
    let labelled = sim.add_app(labelled);
    let plain = sim.add_app(AppSpec::new("plain"));
    let client = client(&sim);

    let by_stack = client
        .list_apps(&AppQuery {
            lifecycle_type: Some("buildpack".into()),
            stacks: vec!["cflinuxfs3".into()],
            ..AppQuery::default()
        })
        .await
        .expect("apps");
    let guids: Vec<&str> = by_stack.apps.iter().map(|a| a.guid.as_str()).collect();
    assert_eq!(guids, [fs3.as_str()]);

    let buildpack_only = client
        .list_apps(&AppQuery {
            lifecycle_type: Some("buildpack".into()),
            label_selector: Some(format!("!{}", cf_sim::OPT_OUT_LABEL)),
            ..AppQuery::default()
        })
        .await
        .expect("apps");
    let names: HashSet<&str> = buildpack_only
        .apps
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, HashSet::from(["old-stack", "plain"]));

    let by_guid = client
        .list_apps(&AppQuery {
            guids: vec![labelled.clone(), plain.clone()],
            ..AppQuery::default()
        })
        .await
        .expect("apps");
    let labelled_app = by_guid
        .apps
        .iter()
        .find(|a| a.guid == labelled)
        .expect("labelled app");
    assert_eq!(
        labelled_app
            .metadata
            .labels
            .get(cf_sim::OPT_OUT_LABEL)
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(by_guid.apps.len(), 2);
}

#[tokio::test]
async fn pagination_follows_links_naming_another_host() {
    let sim = sim(12).await;
    sim.set_fault(FaultRule::all(Fault::PaginationHost("localhost".into())));
    let client = client_for(
        &sim,
        sim.client_secret(),
        CfClientOptions {
            per_page: 5,
            ..options()
        },
    );
    let listing = client.list_apps(&AppQuery::default()).await.expect("apps");
    assert_eq!(listing.apps.len(), 12);
    assert_eq!(sim.count("GET", "/v3/apps"), 3);
}

#[tokio::test]
async fn an_app_inserted_between_pages_causes_no_duplicates() {
    let sim = sim(10).await;
    let before: HashSet<String> = sim.apps().into_iter().map(|a| a.guid).collect();
    sim.set_fault(FaultRule::all(Fault::InsertBetweenPages).times(1));
    let client = client_for(
        &sim,
        sim.client_secret(),
        CfClientOptions {
            per_page: 4,
            ..options()
        },
    );
    let listing = client.list_apps(&AppQuery::default()).await.expect("apps");
    let listed: Vec<&str> = listing.apps.iter().map(|a| a.guid.as_str()).collect();
    let unique: HashSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "no duplicates");
    for guid in &before {
        assert!(unique.contains(guid.as_str()), "{guid} was skipped");
    }
}

#[tokio::test]
async fn droplets_are_fetched_in_batches_with_their_buildpacks() {
    let sim = sim(23).await;
    let client = client_for(
        &sim,
        sim.client_secret(),
        CfClientOptions {
            guid_batch_size: 5,
            batch_concurrency: 2,
            ..options()
        },
    );
    let snaps = sim.apps();
    let guids: Vec<String> = snaps
        .iter()
        .filter_map(|a| a.current_droplet.clone())
        .collect();
    let droplets = client
        .list_droplets_by_guids(&guids)
        .await
        .expect("droplets");
    assert_eq!(droplets.len(), guids.len());
    assert_eq!(sim.count("GET", "/v3/droplets"), guids.len().div_ceil(5));
    for d in &droplets {
        let snap = sim.droplet(&d.guid).expect("droplet in sim");
        assert_eq!(d.package_guid(), snap.package.as_deref());
        assert_eq!(d.image, snap.image);
        for bp in &snap.buildpacks {
            let ours = d.buildpack(&bp.name).expect("buildpack listed");
            assert_eq!(ours.version.as_deref(), Some(bp.version.as_str()));
        }
    }
}

#[tokio::test]
async fn current_droplet_and_its_package() {
    let sim = sim(0).await;
    let mut none = AppSpec::new("no-droplet");
    none.has_droplet = false;
    let none = sim.add_app(none);
    let mut newer = AppSpec::new("newer-package");
    newer.newer_package = true;
    let newer = sim.add_app(newer);
    let client = client(&sim);

    assert_eq!(client.get_current_droplet(&none).await.expect("ok"), None);
    let droplet = client
        .get_current_droplet(&newer)
        .await
        .expect("ok")
        .expect("has a droplet");
    let snap = sim.droplet(&droplet.guid).expect("droplet");
    let package_guid = droplet.package_guid().expect("droplet has a package");
    assert_eq!(Some(package_guid), snap.package.as_deref());
    let package = client.get_package(package_guid).await.expect("package");
    assert_eq!(package.state, PackageState::Ready);
    assert_eq!(
        client.get_droplet(&droplet.guid).await.expect("droplet"),
        droplet
    );
}

#[tokio::test]
async fn buildpacks_report_their_installed_version_and_stacks_their_state() {
    let sim = sim(0).await;
    sim.install_buildpack("ruby_buildpack", "1.10.30");
    sim.set_stack_state("cflinuxfs3", cf_sim::StackState::Deprecated);
    let client = client(&sim);
    let buildpacks = client.list_buildpacks().await.expect("buildpacks");
    assert!(!buildpacks.is_empty());
    for bp in &buildpacks {
        let stack = bp.stack.as_deref().expect("stack");
        let installed = sim.installed_version(&bp.name, stack).expect("installed");
        assert_eq!(
            bp.version(),
            Some(Version::parse(&installed).expect("version"))
        );
    }
    let ruby = buildpacks
        .iter()
        .find(|b| b.name == "ruby_buildpack" && b.stack.as_deref() == Some("cflinuxfs4"))
        .expect("ruby");
    assert_eq!(ruby.version(), Some(Version::parse("1.10.30").expect("v")));

    let stacks = client.list_stacks().await.expect("stacks");
    let state = |name: &str| {
        stacks
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.state.clone())
    };
    assert_eq!(state("cflinuxfs4"), Some(StackState::Active));
    assert_eq!(state("cflinuxfs3"), Some(StackState::Deprecated));
}

#[tokio::test]
async fn build_then_rolling_deployment_round_trip() {
    let sim = sim(0).await;
    // Manual updater ticks until the deployment has been seen ACTIVE.
    sim.set_tick(Duration::ZERO);
    let app = sim.add_app(AppSpec::new("web"));
    let client = client(&sim);
    let droplet = client
        .get_current_droplet(&app)
        .await
        .expect("ok")
        .expect("droplet");
    let package = droplet.package_guid().expect("package").to_string();

    let build = client
        .create_build(&package, &labels())
        .await
        .expect("build");
    assert_eq!(build.state, BuildState::Staging);
    assert_eq!(build.metadata.labels, labels());
    let staged = eventually("the build to stage", || {
        let client = client.clone();
        let guid = build.guid.clone();
        async move {
            let b = client.get_build(&guid).await.expect("build");
            (b.state != BuildState::Staging).then_some(b)
        }
    })
    .await;
    assert_eq!(staged.state, BuildState::Staged, "{:?}", staged.error);
    let new_droplet = staged.droplet_guid().expect("droplet").to_string();
    let found = client
        .list_builds(&app, &[BuildState::Staged], Some("restager.io/run=run-1"))
        .await
        .expect("builds");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].guid, build.guid);

    let deployment = client
        .create_deployment(&app, Some(&new_droplet), 2, &labels())
        .await
        .expect("deployment");
    assert!(deployment.is_active());
    assert_eq!(deployment.droplet_guid(), Some(new_droplet.as_str()));
    assert_eq!(
        deployment.previous_droplet_guid(),
        Some(droplet.guid.as_str())
    );
    assert_eq!(
        deployment.options.as_ref().and_then(|o| o.max_in_flight),
        Some(2)
    );
    let active = client
        .list_deployments(
            &app,
            &[DeploymentStatusValue::Active],
            Some("restager.io/run=run-1"),
        )
        .await
        .expect("deployments");
    let active: Vec<&str> = active.iter().map(|d| d.guid.as_str()).collect();
    assert_eq!(active, [deployment.guid.as_str()]);
    sim.set_tick(Duration::from_millis(5));

    let done = eventually("the deployment to finish", || {
        let client = client.clone();
        let guid = deployment.guid.clone();
        async move {
            let d = client.get_deployment(&guid).await.expect("deployment");
            d.is_finalized().then_some(d)
        }
    })
    .await;
    assert!(done.is_deployed(), "{:?}", done.status);
    let finalized = client
        .list_deployments(&app, &[DeploymentStatusValue::Finalized], None)
        .await
        .expect("deployments");
    assert_eq!(finalized.len(), 1);

    let processes = client.list_processes(&app).await.expect("processes");
    let web = processes.iter().find(|p| p.kind == "web").expect("web");
    let stats = eventually("instances to run", || {
        let client = client.clone();
        let guid = web.guid.clone();
        async move {
            let s = client.process_stats(&guid).await.expect("stats");
            (s.routable() == s.resources.len() && !s.resources.is_empty()).then_some(s)
        }
    })
    .await;
    assert_eq!(stats.resources.len() as u32, web.instances);

    let snap = sim.app(&app).expect("app");
    assert_eq!(snap.current_droplet.as_deref(), Some(new_droplet.as_str()));
    let dep = snap
        .deployments
        .iter()
        .find(|d| d.guid == deployment.guid)
        .expect("deployment in sim");
    assert!(dep.by_client);
    assert_eq!(dep.max_in_flight, 2);
    assert_eq!(dep.labels, labels());
}

#[tokio::test]
async fn restart_deployment_without_droplet_and_cancel() {
    let sim = sim(0).await;
    sim.set_tick(Duration::ZERO);
    let app = sim.add_app(AppSpec::new("web"));
    let client = client(&sim);
    let current = sim.app(&app).expect("app").current_droplet;
    let deployment = client
        .create_deployment(&app, None, 1, &BTreeMap::new())
        .await
        .expect("restart deployment");
    assert_eq!(deployment.droplet_guid(), current.as_deref());
    assert_eq!(deployment.status.reason, DeploymentStatusReason::Deploying);

    client
        .cancel_deployment(&deployment.guid)
        .await
        .expect("cancel");
    sim.tick();
    sim.tick();
    let canceled = client
        .get_deployment(&deployment.guid)
        .await
        .expect("deployment");
    assert!(canceled.is_finalized());
    assert_eq!(canceled.status.reason, DeploymentStatusReason::Canceled);
    let err = client
        .cancel_deployment(&deployment.guid)
        .await
        .expect_err("cannot cancel a finalized deployment");
    assert_eq!(err.status(), Some(422), "{err}");
}

#[tokio::test]
async fn cloud_controller_errors_are_typed() {
    // The human's build below must still be STAGING at our POST however
    // slow the machine is (the default is 20 ms).
    let sim = CfSim::start(SimConfig {
        staging_duration: Duration::from_secs(600),
        ..SimConfig::with_apps(0)
    })
    .await
    .expect("simulator starts");
    let app = sim.add_app(AppSpec::new("busy"));
    let client = client(&sim);
    let package = live_package(&sim, &app);

    let err = client.get_app("no-such-app").await.expect_err("404");
    assert!(err.is_not_found(), "{err}");

    sim.start_build_as_human(&app).expect("human build");
    let err = client
        .create_build(&package, &BTreeMap::new())
        .await
        .expect_err("staging in progress");
    assert!(err.is_staging_in_progress(), "{err}");
    assert!(!err.is_transient());

    sim.set_fault(FaultRule::app(app.clone(), Fault::DeploymentQuotaExceeded).times(1));
    let err = client
        .create_deployment(&app, None, 1, &BTreeMap::new())
        .await
        .expect_err("quota");
    assert!(err.is_quota(), "{err}");
}

#[tokio::test]
async fn build_quota_is_recognised() {
    let sim = sim(0).await;
    let app = sim.add_app(AppSpec::new("big"));
    let package = live_package(&sim, &app);
    sim.set_fault(FaultRule::app(app.clone(), Fault::BuildQuotaExceeded).times(1));
    let client = client(&sim);
    let err = client
        .create_build(&package, &BTreeMap::new())
        .await
        .expect_err("quota");
    assert!(err.is_quota(), "{err}");
}

#[tokio::test]
async fn tokens_are_cached_refreshed_and_renewed_after_expiry() {
    let sim = CfSim::start(SimConfig {
        apps: 3,
        token_ttl: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let client = client(&sim);
    let apps = sim.apps();
    for a in &apps {
        client.clone().get_app(&a.guid).await.expect("app");
    }
    assert_eq!(sim.count("POST", "/oauth/token"), 1);
    assert_eq!(sim.count("GET", "/v3/apps/"), 3);

    // Refreshed at half of a 2 s life, before CC would refuse it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.get_app(&apps[0].guid).await.expect("app");
    assert_eq!(sim.count("POST", "/oauth/token"), 2);
    assert!(sim.requests().iter().all(|r| r.status != 401));

    // Revoked early: one 401, one new token, the call succeeds.
    sim.expire_tokens();
    client
        .get_app(&apps[1].guid)
        .await
        .expect("app after re-auth");
    assert_eq!(sim.count("POST", "/oauth/token"), 3);
    assert_eq!(sim.requests().iter().filter(|r| r.status == 401).count(), 1);
    assert_eq!(client.request_counts().reauthentications, 1);
}

#[tokio::test]
async fn wrong_secret_is_unauthorized() {
    let sim = sim(1).await;
    let client = client_for(&sim, "wrong", options());
    let err = client.authenticate().await.expect_err("refused");
    assert!(matches!(err, CfError::Unauthorized { .. }), "{err:?}");
    assert!(!err.to_string().contains("wrong"));
}

#[tokio::test]
async fn gets_survive_rate_limits_outages_and_resets() {
    let sim = sim(2).await;
    let app = sim.apps()[0].guid.clone();
    let client = client(&sim);
    client.authenticate().await.expect("token");

    sim.set_fault(
        FaultRule::all(Fault::RateLimited {
            retry_after_secs: 1,
        })
        .times(1),
    );
    client.get_app(&app).await.expect("after Retry-After");
    sim.set_fault(FaultRule::all(Fault::ServiceUnavailable).times(2));
    client.get_app(&app).await.expect("after two 503s");
    sim.set_fault(FaultRule::all(Fault::BadGateway).times(1));
    client.get_app(&app).await.expect("after a 502");
    sim.set_fault(FaultRule::all(Fault::ConnectionReset).times(1));
    client.get_app(&app).await.expect("after a reset");
    let counts = client.request_counts();
    assert_eq!(counts.rate_limited, 1);
    assert_eq!(counts.retries, 5);
    assert_eq!(sim.count("GET", &format!("/v3/apps/{app}")), 9);
}

#[tokio::test]
async fn posts_are_not_retried_after_a_lost_response() {
    let sim = sim(0).await;
    let app = sim.add_app(AppSpec::new("lost"));
    let package = live_package(&sim, &app);
    let client = client(&sim);
    client.authenticate().await.expect("token");

    sim.set_fault(FaultRule::app(package.clone(), Fault::LostResponse).times(1));
    let err = client
        .create_build(&package, &BTreeMap::new())
        .await
        .expect_err("response lost");
    assert!(matches!(err, CfError::Unavailable { .. }), "{err:?}");
    assert_eq!(sim.count("POST", "/v3/builds"), 1);
    assert_eq!(sim.builds_for(&app).len(), 1, "CC did stage");
    // The caller's own retry learns that the build is already running.
    let err = client
        .create_build(&package, &BTreeMap::new())
        .await
        .expect_err("already staging");
    assert!(err.is_staging_in_progress(), "{err}");

    sim.set_fault(FaultRule::app(package.clone(), Fault::BadGateway).times(1));
    let err = client
        .create_build(&package, &BTreeMap::new())
        .await
        .expect_err("502");
    assert!(err.is_transient());
    assert_eq!(sim.count("POST", "/v3/builds"), 3);
}

#[tokio::test]
async fn request_counts_match_what_the_server_saw() {
    let sim = sim(6).await;
    let client = client(&sim);
    let listing = client.list_apps(&AppQuery::default()).await.expect("apps");
    let guids: Vec<String> = listing
        .apps
        .iter()
        .filter_map(|a| a.current_droplet_guid().map(str::to_string))
        .collect();
    client
        .list_droplets_by_guids(&guids)
        .await
        .expect("droplets");
    client.list_buildpacks().await.expect("buildpacks");
    let counts = client.request_counts();
    assert_eq!(counts.total() as usize, sim.requests().len());
    assert_eq!(counts.token, 1);
    assert_eq!(counts.root, 1);
    assert_eq!(counts.api(), 3);
}

#[tokio::test]
async fn concurrent_401s_lead_to_a_single_new_token() {
    let sim = sim(20).await;
    let client = client(&sim);
    client.authenticate().await.expect("token");
    sim.expire_tokens();
    let mut tasks = Vec::new();
    for app in sim.apps() {
        let c = client.clone();
        tasks.push(tokio::spawn(async move { c.get_app(&app.guid).await }));
    }
    for t in tasks {
        t.await.expect("task ran").expect("app after re-auth");
    }
    assert_eq!(sim.count("POST", "/oauth/token"), 2);
}
