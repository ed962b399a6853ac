//! The demo's Cloud Foundry: the simulator, seeded, with timings fast enough
//! for a whole rollout to take seconds while still passing through every
//! real state (STAGING builds, rolling deployments, instances starting).

use std::collections::BTreeMap;
use std::time::Duration;

use cf_sim::{
    AppSpec, AppState, BuildState, CfSim, DeploymentState, Fault, FaultRule, LifecycleKind,
    SimConfig,
};
use restager_shared::domain::Version;

use crate::commands::CommandError;

/// The stack the demo's buildpack release is reported for.
const STACK: &str = "cflinuxfs4";

/// The app every demo foundation has, however small: it always restages.
const SHOP: &str = "demo-shop";

/// Below this many apps that will restage, none is made to crash: a small
/// demo shows plain restages.
const ROLLBACK_SHOWCASE_MIN: usize = 3;

pub struct Foundation {
    sim: CfSim,
}

/// What a live app is doing right now, as far as progress is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppPhase {
    Idle,
    Staging,
    Deploying,
}

/// An app's current droplet version of the demo's buildpack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVersion {
    pub buildpack_version: Option<String>,
}

impl Foundation {
    /// A foundation of `apps` apps: `apps - 1` seeded ones (a realistic mix
    /// of buildpacks, states and quirks) plus one started ruby app, so even
    /// `--apps 1` has something the release restages.
    pub async fn start(apps: usize, seed: u64) -> Result<Self, CommandError> {
        let config = SimConfig {
            apps: apps.saturating_sub(1),
            seed,
            staging_duration: Duration::from_millis(300),
            instance_startup: Duration::from_millis(150),
            tick: Duration::from_millis(25),
            ..SimConfig::default()
        };
        let sim = CfSim::start(config)
            .await
            .map_err(|e| CommandError::failed("cannot start the simulated foundation", e))?;
        // At the installed version, which `install_newer` then makes outdated.
        let mut shop = AppSpec::new(SHOP);
        shop.org = "demo-org".into();
        shop.space = "demo-space".into();
        sim.add_app(shop);
        let foundation = Self { sim };
        foundation.plant_a_crashing_release();
        Ok(foundation)
    }

    /// One started buildpack app gets a release that crashes shortly after
    /// it is DEPLOYED, so the demo shows verification rolling it back.
    fn plant_a_crashing_release(&self) {
        let mut candidates: Vec<_> = self
            .sim
            .apps()
            .into_iter()
            .filter(|a| {
                a.state == AppState::Started
                    && a.lifecycle == LifecycleKind::Buildpack
                    && a.current_version(super::BUILDPACK).is_some()
                    && !a.labels.contains_key(cf_sim::OPT_OUT_LABEL)
                    && a.name != SHOP
            })
            .collect();
        if candidates.len() < ROLLBACK_SHOWCASE_MIN {
            return;
        }
        candidates.sort_by(|a, b| a.name.cmp(&b.name));
        let chosen = &candidates[candidates.len() / 2];
        self.sim.set_fault(FaultRule::app(
            chosen.guid.clone(),
            Fault::CrashAfterDeploy {
                after: Duration::from_millis(60),
            },
        ));
    }

    pub fn api_url(&self) -> String {
        self.sim.url()
    }

    pub fn client_id(&self) -> String {
        self.sim.client_id().to_string()
    }

    pub fn client_secret(&self) -> String {
        self.sim.client_secret().to_string()
    }

    /// "Releases" the next patch version of `buildpack` and installs it, as
    /// an operator's `cf update-buildpack` would; returns that version.
    pub async fn install_newer(&self, buildpack: &str) -> Result<Version, CommandError> {
        let installed = self
            .sim
            .installed_version(buildpack, STACK)
            .ok_or_else(|| {
                CommandError::Failed(format!(
                    "the simulated foundation has no {buildpack} for {STACK}"
                ))
            })?;
        let current = Version::parse(&installed)
            .map_err(|e| CommandError::failed("the simulated buildpack version", e))?;
        let mut parts = current.parts().to_vec();
        if let Some(last) = parts.last_mut() {
            *last += 1;
        }
        let next = parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".");
        self.sim.install_buildpack(buildpack, &next);
        Version::parse(&next).map_err(|e| CommandError::failed("the released version", e))
    }

    /// Every app's current version of the demo's buildpack, by app guid.
    pub async fn snapshot(&self) -> BTreeMap<String, AppVersion> {
        self.sim
            .apps()
            .into_iter()
            .map(|app| {
                let version = app.current_version(super::BUILDPACK).map(str::to_string);
                (
                    app.guid,
                    AppVersion {
                        buildpack_version: version,
                    },
                )
            })
            .collect()
    }

    /// Which apps have a build staging or a deployment rolling, by app guid.
    pub async fn phases(&self) -> BTreeMap<String, AppPhase> {
        self.sim
            .apps()
            .into_iter()
            .map(|app| {
                let phase = if app
                    .deployments
                    .iter()
                    .any(|d| d.state == DeploymentState::Deploying)
                {
                    AppPhase::Deploying
                } else if app.builds.iter().any(|b| b.state == BuildState::Staging) {
                    AppPhase::Staging
                } else {
                    AppPhase::Idle
                };
                (app.guid, phase)
            })
            .collect()
    }
}
