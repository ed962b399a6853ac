//! Shared by the discovery and webhook tests: a CF client for the simulator
//! and the expected outcome of a notice computed straight from the
//! simulator's own state (not through restager's parsing or matching).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cf_sim::{AppSnapshot, AppState, CfSim, LifecycleKind, OPT_OUT_LABEL, SimConfig};
use restager_shared::cf::{CfClient, CfClientOptions};
use restager_shared::config::{CfSettings, Secret};
use url::Url;

pub const RUBY: &str = "ruby_buildpack";

pub fn options(per_page: u32) -> CfClientOptions {
    CfClientOptions {
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        backoff_base: Duration::from_millis(2),
        backoff_max: Duration::from_millis(10),
        max_retries: 2,
        per_page,
        ..CfClientOptions::default()
    }
}

pub fn client_at(url: &str, per_page: u32) -> CfClient {
    let settings = CfSettings {
        api_url: Url::parse(url).expect("url parses"),
        client_id: "restager".to_string(),
        client_secret: Secret::new("restager-secret"),
        skip_ssl_validation: false,
    };
    CfClient::with_options(&settings, options(per_page)).expect("client builds")
}

pub fn client(sim: &CfSim) -> CfClient {
    client_at(&sim.url(), 5000)
}

pub async fn sim(apps: usize) -> CfSim {
    CfSim::start(SimConfig::with_apps(apps))
        .await
        .expect("simulator starts")
}

/// `1.10.3 < 1.10.29`: dotted numbers compared one by one, missing parts as 0.
pub fn older(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> {
        s.trim_end_matches('.')
            .split('.')
            .map(|p| p.parse().expect("numeric version part"))
            .collect()
    };
    let (a, b) = (parse(a), parse(b));
    let len = a.len().max(b.len());
    for i in 0..len {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

/// What a buildpack notice must do to one app, derived from the sim's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expect {
    Job,
    OptedOut,
    Current,
    Stopped,
    NoPackage,
    NotInstalledForStack,
}

impl Expect {
    /// A word the skip reason must contain.
    pub fn keyword(self) -> &'static str {
        match self {
            Expect::Job => "",
            Expect::OptedOut => "opted out",
            Expect::Current => "already current",
            Expect::Stopped => "STOPPED",
            Expect::NoPackage => "no package",
            Expect::NotInstalledForStack => "is not installed for",
        }
    }
}

pub fn opted_out(app: &AppSnapshot) -> bool {
    app.labels.get(OPT_OUT_LABEL).map(String::as_str) == Some("true")
}

fn has_package(app: &AppSnapshot) -> bool {
    app.droplets
        .iter()
        .find(|d| Some(&d.guid) == app.current_droplet.as_ref())
        .is_some_and(|d| d.package.is_some())
}

/// Every app a `buildpack` `target` notice affects, by guid. `installed`
/// gives the version installed per stack.
pub fn expected_buildpack(
    sim: &CfSim,
    buildpack: &str,
    target: &str,
    installed: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, Expect> {
    let mut out = BTreeMap::new();
    for app in sim.apps() {
        if app.lifecycle != LifecycleKind::Buildpack {
            continue;
        }
        let Some(version) = app.current_version(buildpack) else {
            continue;
        };
        let expect = if opted_out(&app) {
            Expect::OptedOut
        } else if !older(version, target) {
            Expect::Current
        } else if app.state != AppState::Started {
            Expect::Stopped
        } else if !has_package(&app) {
            Expect::NoPackage
        } else if installed(&app.stack).is_none_or(|v| older(&v, target)) {
            Expect::NotInstalledForStack
        } else {
            Expect::Job
        };
        out.insert(app.guid.clone(), expect);
    }
    out
}

/// Every app a stack notice affects (restage action), by guid.
pub fn expected_stack(sim: &CfSim, stack: &str) -> BTreeMap<String, Expect> {
    let mut out = BTreeMap::new();
    for app in sim.apps() {
        if app.lifecycle != LifecycleKind::Buildpack || app.stack != stack {
            continue;
        }
        let expect = if opted_out(&app) {
            Expect::OptedOut
        } else if app.state != AppState::Started {
            Expect::Stopped
        } else if !has_package(&app) {
            Expect::NoPackage
        } else {
            Expect::Job
        };
        out.insert(app.guid.clone(), expect);
    }
    out
}

pub fn jobs_of(expected: &BTreeMap<String, Expect>) -> BTreeSet<String> {
    expected
        .iter()
        .filter(|(_, e)| **e == Expect::Job)
        .map(|(g, _)| g.clone())
        .collect()
}
