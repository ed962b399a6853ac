//! Per-app staging and start-up times (benchmarks draw them per app) and the
//! foundation-side times the simulator reports for client-made work.

use std::time::Duration;

use cf_sim::{ActionError, AppSpec, AppTiming, SimConfig};
use reqwest::StatusCode;

use crate::common::{manual, start};

#[tokio::test]
async fn each_app_stages_and_starts_at_its_own_pace() {
    let (sim, api) = start(SimConfig {
        staging_duration: Duration::from_secs(60),
        ..manual()
    })
    .await;
    let fast = sim.add_app(AppSpec::new("fast"));
    let slow = sim.add_app(AppSpec::new("slow"));
    let default = sim.add_app(AppSpec::new("default"));
    sim.set_app_timing(
        &fast,
        AppTiming {
            staging: Duration::from_millis(10),
            instance_startup: Duration::ZERO,
        },
    )
    .expect("fast app exists");
    sim.set_app_timing(
        &slow,
        AppTiming {
            staging: Duration::from_millis(400),
            instance_startup: Duration::from_secs(60),
        },
    )
    .expect("slow app exists");

    let fast_build = api.build(&fast).await;
    let slow_build = api.build(&slow).await;
    let default_build = api.build(&default).await;
    for r in [&fast_build, &slow_build, &default_build] {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let fast_done = api.settled_build(&fast_build.guid()).await;
    assert_eq!(fast_done["state"], "STAGED");
    let slow_now = api.ok(&format!("/v3/builds/{}", slow_build.guid())).await;
    assert_eq!(slow_now["state"], "STAGING", "the slow app stages longer");
    let default_now = api
        .ok(&format!("/v3/builds/{}", default_build.guid()))
        .await;
    assert_eq!(default_now["state"], "STAGING", "SimConfig's 60 s applies");
    let slow_done = api.settled_build(&slow_build.guid()).await;
    assert_eq!(slow_done["state"], "STAGED");

    // Instances: the fast app's are up at once, the slow app's keep starting.
    for (app, done) in [(&fast, &fast_done), (&slow, &slow_done)] {
        let droplet = done["droplet"]["guid"].as_str().expect("droplet");
        let r = api.deploy(app, droplet, 2).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    for _ in 0..3 {
        sim.tick();
    }
    let fast_app = sim.app(&fast).expect("fast");
    let slow_app = sim.app(&slow).expect("slow");
    assert_eq!(
        fast_app
            .deployments
            .last()
            .map(|d| d.status_reason.as_str()),
        Some("DEPLOYED")
    );
    assert_eq!(
        slow_app
            .deployments
            .last()
            .map(|d| d.status_reason.as_str()),
        Some("DEPLOYING")
    );
    let new_web = slow_app.processes.last().expect("new web process");
    assert_eq!((new_web.starting, new_web.running), (2, 0));

    let times = sim.restage_times(&fast).expect("fast app");
    assert_eq!(times.builds.len(), 1);
    assert_eq!(times.builds[0].took(), Some(Duration::from_millis(10)));
    assert_eq!(times.deployments.len(), 1);
    assert!(times.deployments[0].took().is_some(), "{times:?}");
    let times = sim.restage_times(&slow).expect("slow app");
    assert_eq!(times.builds[0].took(), Some(Duration::from_millis(400)));
    assert_eq!(times.deployments[0].took(), None, "still deploying");
}

#[tokio::test]
async fn timing_an_unknown_app_is_refused() {
    let (sim, _api) = start(manual()).await;
    let timing = AppTiming {
        staging: Duration::from_millis(1),
        instance_startup: Duration::from_millis(1),
    };
    assert_eq!(
        sim.set_app_timing("nope", timing),
        Err(ActionError::UnknownApp("nope".to_owned()))
    );
    assert!(sim.restage_times("nope").is_none());
}
