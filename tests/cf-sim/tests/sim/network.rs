use std::time::Duration;

use cf_sim::{AppSpec, Fault, FaultRule, RateLimit};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{manual, start};

#[tokio::test]
async fn rate_limit_fault_answers_429_with_retry_after() {
    let (sim, api) = start(manual()).await;
    sim.set_fault(
        FaultRule::all(Fault::RateLimited {
            retry_after_secs: 7,
        })
        .times(1),
    );
    let r = api.get("/v3/apps").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "7");
    assert_eq!(r.headers["content-type"], "text/plain");
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(r.headers.contains_key(h), "{h}");
    }
    // text/plain, yet the body is CC's JSON error.
    assert_eq!(r.error(), (10013, "CF-RateLimitExceeded".to_owned()));
    assert_eq!(api.get("/v3/apps").await.status, StatusCode::OK);
}

#[tokio::test]
async fn configured_rate_limit_counts_requests_per_window() {
    let (_sim, api) = start(cf_sim::SimConfig {
        rate_limit: Some(RateLimit {
            limit: 3,
            window: Duration::from_secs(3600),
        }),
        ..manual()
    })
    .await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = api.get("/v3/apps").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["x-ratelimit-limit"], "3");
        remaining.push(
            r.headers["x-ratelimit-remaining"]
                .to_str()
                .expect("ascii")
                .to_owned(),
        );
    }
    assert_eq!(remaining, vec!["2", "1", "0"]);
    let r = api.get("/v3/apps").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(wait > 3000 && wait <= 3600, "{wait}");
    // `/v3` itself is exempt.
    assert_eq!(api.get("/v3").await.status, StatusCode::OK);
}

#[tokio::test]
async fn router_errors_502_and_503() {
    let (sim, api) = start(manual()).await;
    sim.set_fault(FaultRule::all(Fault::BadGateway).times(1));
    sim.set_fault(FaultRule::all(Fault::ServiceUnavailable).times(1));
    assert_eq!(api.get("/v3/apps").await.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        api.get("/v3/apps").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(api.get("/v3/apps").await.status, StatusCode::OK);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses[statuses.len() - 3..], [502, 503, 200]);
}

#[tokio::test]
async fn connection_reset_on_get_gives_no_response() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("flaky"));
    sim.set_fault(FaultRule::app(&app, Fault::ConnectionReset).times(1));
    // POSTs are never reset by this fault; other apps' GETs neither.
    assert_eq!(api.get("/v3/apps").await.status, StatusCode::OK);
    let err = api
        .http
        .get(format!("{}/v3/apps/{app}", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect_err("the connection is reset");
    assert!(!err.is_status(), "{err:?}");
    let log = sim.requests();
    let last = log.last().expect("logged");
    assert_eq!(last.path, format!("/v3/apps/{app}"));
    assert_eq!(last.status, 0);
    assert_eq!(
        api.get(&format!("/v3/apps/{app}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_lost_build_response_then_retry_meets_staging_in_progress() {
    let (sim, api) = start(cf_sim::SimConfig {
        staging_duration: Duration::from_secs(30),
        ..manual()
    })
    .await;
    let app = sim.add_app(AppSpec::new("lost"));
    let pkg = api.ready_package(&app).await;
    sim.set_fault(FaultRule::all(Fault::LostResponse).times(1));
    let err = api
        .http
        .post(format!("{}/v3/builds", api.base))
        .bearer_auth(&api.token)
        .json(&json!({"package": {"guid": pkg}}))
        .send()
        .await;
    assert!(err.is_err(), "no response arrives");
    assert_eq!(sim.builds_for(&app).len(), 1, "but the build was created");
    let r = api
        .post("/v3/builds", json!({"package": {"guid": pkg}}))
        .await;
    assert_eq!(r.error().0, 170017);
}

#[tokio::test]
async fn every_request_is_recorded() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("logged"));
    sim.clear_requests();
    api.get("/v3/apps?names=logged").await;
    let pkg = api.ready_package(&app).await;
    api.post("/v3/builds", json!({"package": {"guid": pkg}}))
        .await;
    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/v3/apps");
    assert_eq!(log[0].query.as_deref(), Some("names=logged"));
    assert_eq!(log[0].status, 200);
    assert_eq!(log[2].method, "POST");
    assert_eq!(log[2].body, Some(json!({"package": {"guid": pkg}})));
    assert_eq!(log[2].status, 201);
    assert_eq!(sim.count("POST", "/v3/builds"), 1);
    assert_eq!(sim.count("get", "/v3/"), 2);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn random_faults_are_seeded() {
    async fn pattern(seed: u64) -> Vec<u16> {
        let (sim, api) = start(cf_sim::SimConfig { seed, ..manual() }).await;
        sim.set_fault(FaultRule::random(0.5, Fault::BadGateway));
        let mut out = Vec::new();
        for _ in 0..16 {
            out.push(api.get("/v3/stacks").await.status.as_u16());
        }
        out
    }
    let a = pattern(7).await;
    assert_eq!(a, pattern(7).await);
    assert!(a.contains(&502) && a.contains(&200), "{a:?}");
}
