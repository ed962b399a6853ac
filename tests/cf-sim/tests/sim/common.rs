use std::time::Duration;

use cf_sim::{AppSpec, CfSim, Fault, FaultRule, SimConfig};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Manual ticks and instant startup: every rollout step is deterministic.
pub fn manual() -> SimConfig {
    SimConfig {
        apps: 0,
        tick: Duration::ZERO,
        instance_startup: Duration::ZERO,
        staging_duration: Duration::from_millis(5),
        ..SimConfig::default()
    }
}

/// `AppSpec::new(name)` with the fields a test cares about changed by `edit`.
pub fn spec(name: &str, edit: impl FnOnce(&mut AppSpec)) -> AppSpec {
    let mut spec = AppSpec::new(name);
    edit(&mut spec);
    spec
}

/// The next build of `app` fails with CC's staging error `id`.
pub fn fail_next_staging(sim: &CfSim, app: &str, id: &str, details: &str) {
    sim.set_fault(
        FaultRule::app(
            app,
            Fault::StagingFailsWith {
                error_id: id.to_owned(),
                details: details.to_owned(),
            },
        )
        .times(1),
    );
}

/// [`manual`] with `apps` seeded apps.
pub fn manual_with_apps(apps: usize) -> SimConfig {
    SimConfig { apps, ..manual() }
}

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The first CC error entry's (code, title).
    pub fn error(&self) -> (u64, String) {
        let e = &self.body["errors"][0];
        (
            e["code"].as_u64().expect("error code"),
            e["title"].as_str().expect("error title").to_owned(),
        )
    }

    /// The created or shown resource's guid.
    pub fn guid(&self) -> String {
        self.body["guid"].as_str().expect("guid").to_owned()
    }

    /// The guid of the first process a deployment created.
    pub fn new_process(&self) -> String {
        self.body["new_processes"][0]["guid"]
            .as_str()
            .expect("process")
            .to_owned()
    }

    pub fn detail(&self) -> String {
        self.body["errors"][0]["detail"]
            .as_str()
            .expect("error detail")
            .to_owned()
    }
}

/// UAA's answer to the sim's own client credentials, sent as a form.
pub async fn token_response(sim: &CfSim) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/oauth/token", sim.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sim.client_id()),
            ("client_secret", sim.client_secret()),
        ])
        .send()
        .await
        .expect("token request")
}

pub async fn token(sim: &CfSim) -> String {
    let resp = token_response(sim).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

pub async fn start(config: SimConfig) -> (CfSim, Api) {
    let sim = CfSim::start(config).await.expect("sim starts");
    let token = token(&sim).await;
    let api = Api {
        http: reqwest::Client::new(),
        base: sim.url(),
        token,
    };
    (sim, api)
}

impl Api {
    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request reaches the sim");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(self.http.patch(self.url(path)).json(&body)).await
    }

    /// GET that must succeed.
    pub async fn ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.body);
        r.body
    }

    /// `pagination.total_results` of a GET that must succeed.
    pub async fn total(&self, path: &str) -> Value {
        self.ok(path).await["pagination"]["total_results"].clone()
    }

    /// Follow `next.href` from `path`, collecting every resource.
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(url) = next {
            let body = self.ok(&url).await;
            out.extend(body["resources"].as_array().expect("resources").clone());
            next = body["pagination"]["next"]["href"]
                .as_str()
                .map(str::to_owned);
        }
        out
    }

    /// The newest READY package of an app.
    pub async fn ready_package(&self, app: &str) -> String {
        let body = self
            .ok(&format!(
                "/v3/packages?app_guids={app}&states=READY&order_by=-created_at&per_page=1"
            ))
            .await;
        body["resources"][0]["guid"]
            .as_str()
            .expect("a READY package")
            .to_owned()
    }

    /// POST a build for the app's newest READY package.
    pub async fn build(&self, app: &str) -> Reply {
        let pkg = self.ready_package(app).await;
        self.post("/v3/builds", serde_json::json!({"package": {"guid": pkg}}))
            .await
    }

    /// Poll a build until it leaves STAGING.
    pub async fn settled_build(&self, guid: &str) -> Value {
        for _ in 0..400 {
            let b = self.ok(&format!("/v3/builds/{guid}")).await;
            if b["state"] != "STAGING" {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("build {guid} still STAGING");
    }

    /// Build and wait for the droplet.
    pub async fn staged_droplet(&self, app: &str) -> String {
        let r = self.build(app).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let b = self
            .settled_build(r.body["guid"].as_str().expect("build guid"))
            .await;
        assert_eq!(b["state"], "STAGED", "{b}");
        b["droplet"]["guid"].as_str().expect("droplet").to_owned()
    }

    /// `POST /v3/deployments/:guid/actions/cancel`.
    pub async fn cancel(&self, deployment: &str) -> Reply {
        self.deployment_action(deployment, "cancel").await
    }

    /// `POST /v3/deployments/:guid/actions/continue`.
    pub async fn continue_(&self, deployment: &str) -> Reply {
        self.deployment_action(deployment, "continue").await
    }

    async fn deployment_action(&self, deployment: &str, action: &str) -> Reply {
        self.post(
            &format!("/v3/deployments/{deployment}/actions/{action}"),
            serde_json::json!({}),
        )
        .await
    }

    pub async fn deploy(&self, app: &str, droplet: &str, max_in_flight: u32) -> Reply {
        self.post(
            "/v3/deployments",
            serde_json::json!({
                "droplet": {"guid": droplet},
                "strategy": "rolling",
                "options": {"max_in_flight": max_in_flight},
                "relationships": {"app": {"data": {"guid": app}}},
            }),
        )
        .await
    }
}

/// Poll `probe` until it yields a value; panic with `what` after a generous
/// deadline (the simulator's timings are milliseconds; this only guards hangs).
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
