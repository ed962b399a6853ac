use std::time::Duration;

use cf_sim::{CfSim, SimConfig};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Api, manual, start};

#[tokio::test]
async fn root_links_point_at_the_sim() {
    let sim = CfSim::start(manual()).await.expect("sim");
    let body: Value = reqwest::get(format!("{}/", sim.url()))
        .await
        .expect("GET /")
        .json()
        .await
        .expect("json");
    let links = &body["links"];
    assert_eq!(links["login"]["href"], sim.url());
    assert_eq!(links["uaa"]["href"], sim.url());
    assert_eq!(
        links["cloud_controller_v3"]["href"],
        format!("{}/v3", sim.url())
    );
    assert_eq!(
        links["cloud_controller_v3"]["meta"]["version"],
        cf_sim::DEFAULT_API_VERSION
    );
}

#[tokio::test]
async fn client_credentials_in_form_or_basic_get_a_bearer_token() {
    let sim = CfSim::start(manual()).await.expect("sim");
    let http = reqwest::Client::new();
    let url = format!("{}/oauth/token", sim.url());
    let form: Value = http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "restager"),
            ("client_secret", "restager-secret"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(form["token_type"], "bearer");
    assert_eq!(form["expires_in"], 43199);
    assert!(form["jti"].is_string() && form["scope"].is_string());
    assert!(form.get("refresh_token").is_none());
    assert_eq!(
        form["access_token"]
            .as_str()
            .expect("token")
            .split('.')
            .count(),
        3,
        "JWT-shaped"
    );

    let basic = http
        .post(&url)
        .basic_auth("restager", Some("restager-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(basic.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_credentials_and_grants_are_refused_like_uaa() {
    let sim = CfSim::start(manual()).await.expect("sim");
    let http = reqwest::Client::new();
    let url = format!("{}/oauth/token", sim.url());
    let bad = http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "restager"),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["error"], "unauthorized");

    let grant = http
        .post(&url)
        .form(&[("grant_type", "password"), ("client_id", "restager")])
        .send()
        .await
        .expect("token");
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    let body: Value = grant.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn v3_needs_a_valid_unexpired_bearer_token() {
    let (sim, api) = start(manual()).await;
    let none = reqwest::get(format!("{}/v3/apps", sim.url()))
        .await
        .expect("get");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let body: Value = none.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], 10002);
    assert_eq!(body["errors"][0]["title"], "CF-NotAuthenticated");

    let forged = Api {
        token: "not-a-token".to_owned(),
        http: api.http.clone(),
        base: api.base.clone(),
    };
    let r = forged.get("/v3/apps").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), (1000, "CF-InvalidAuthToken".to_owned()));

    assert_eq!(api.get("/v3/apps").await.status, StatusCode::OK);
    sim.expire_tokens();
    let r = api.get("/v3/apps").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), (1000, "CF-InvalidAuthToken".to_owned()));
    assert_eq!(r.detail(), "Invalid Auth Token");

    // A fresh token works again.
    let fresh = Api {
        token: crate::common::token(&sim).await,
        http: api.http.clone(),
        base: api.base.clone(),
    };
    assert_eq!(fresh.get("/v3/apps").await.status, StatusCode::OK);
}

#[tokio::test]
async fn tokens_expire_after_their_ttl() {
    let (_sim, api) = start(SimConfig {
        token_ttl: Duration::from_millis(500),
        ..manual()
    })
    .await;
    assert_eq!(api.get("/v3/apps").await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = api.get("/v3/apps").await;
    assert_eq!(r.error(), (1000, "CF-InvalidAuthToken".to_owned()));
}
