//! The whole simulated foundation behind one lock: records, tokens, faults,
//! the request log and concurrency peaks. State-machine steps live in
//! `staging.rs` and `rollout.rs`; this file holds the shared plumbing.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::config::SimConfig;
use crate::faults::FaultBook;
use crate::model::{
    Actor, App, Build, BuildState, Buildpack, Deployment, Droplet, Org, Package, Process, Space,
    Stack, Table,
};
use crate::record::RecordedRequest;
use crate::version::ApiVersion;

pub(crate) struct RateWindow {
    pub started: Instant,
    pub started_wall: DateTime<Utc>,
    pub count: u32,
}

pub(crate) struct World {
    pub cfg: SimConfig,
    /// `cfg.api_version`, parsed: the release whose behaviour is played.
    pub api: ApiVersion,
    pub base_url: String,
    pub port: u16,
    pub rng: ChaCha8Rng,
    pub orgs: Table<Org>,
    pub spaces: Table<Space>,
    pub org_quotas: Table<crate::quota::OrgQuota>,
    pub space_quotas: Table<crate::quota::SpaceQuota>,
    pub stacks: Table<Stack>,
    pub buildpacks: Table<Buildpack>,
    pub apps: Table<App>,
    pub droplets: Table<Droplet>,
    pub packages: Table<Package>,
    pub builds: Table<Build>,
    pub deployments: Table<Deployment>,
    pub processes: Table<Process>,
    pub events: Table<crate::audit::AuditEvent>,
    /// Processes whose instances can crash (checked by `advance_instances`).
    pub crash_watch: Vec<String>,
    /// Droplets whose instances crash `after` running past their rollout
    /// (`Fault::CrashAfterDeploy`, `CfSim::crash_droplet_after_deploy`).
    pub bad_droplets: HashMap<String, std::time::Duration>,
    /// Builds still STAGING, so settling does not scan every build.
    pub staging: Vec<String>,
    /// Deployments still ACTIVE, so ticks do not scan every deployment.
    pub active: Vec<String>,
    pub faults: FaultBook,
    pub tokens: HashMap<String, Instant>,
    pub requests: Vec<RecordedRequest>,
    pub rate: RateWindow,
    pub peak_active: usize,
    pub peak_per_space: usize,
    pub timings: crate::sim::timing::Timings,
}

impl World {
    pub(crate) fn empty(cfg: SimConfig, port: u16) -> Self {
        let seed = cfg.seed;
        let api = ApiVersion::parse(&cfg.api_version).unwrap_or(ApiVersion::NEWEST);
        Self {
            api,
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            rng: ChaCha8Rng::seed_from_u64(seed),
            orgs: Table::default(),
            spaces: Table::default(),
            org_quotas: crate::quota::default_org_quota(cfg.org_memory_quota_mb),
            space_quotas: Table::default(),
            stacks: Table::default(),
            buildpacks: Table::default(),
            apps: Table::default(),
            droplets: Table::default(),
            packages: Table::default(),
            builds: Table::default(),
            deployments: Table::default(),
            processes: Table::default(),
            events: Table::default(),
            crash_watch: Vec::new(),
            bad_droplets: HashMap::new(),
            staging: Vec::new(),
            active: Vec::new(),
            faults: FaultBook::new(seed),
            tokens: HashMap::new(),
            requests: Vec::new(),
            rate: RateWindow {
                started: Instant::now(),
                started_wall: Utc::now(),
                count: 0,
            },
            peak_active: 0,
            peak_per_space: 0,
            timings: Default::default(),
            cfg,
        }
    }

    /// A v4-shaped guid from the seeded RNG, so a seed reproduces a foundation.
    pub(crate) fn guid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .to_string()
    }

    /// A client_credentials token has no user_name or email: UserAuditInfo
    /// stores "" for both (lib/cloud_controller/user_audit_info.rb), the guid
    /// is the client id.
    pub(crate) fn client_actor(&self) -> Actor {
        Actor {
            guid: self.cfg.client_id.clone(),
            name: String::new(),
            email: String::new(),
            is_client: true,
        }
    }

    pub(crate) fn human_actor() -> Actor {
        Actor {
            guid: "0d2a6c64-5e3e-4c4b-9a51-6b1c9b1f7a11".to_owned(),
            name: "alice".to_owned(),
            email: "alice@example.com".to_owned(),
            is_client: false,
        }
    }

    pub(crate) fn org_of_app(&self, app: &App) -> Option<&Org> {
        let space = self.spaces.get(&app.space_guid)?;
        self.orgs.get(&space.org_guid)
    }

    /// Live web processes of an app, oldest first.
    pub(crate) fn web_processes(&self, app: &str) -> Vec<&Process> {
        self.processes
            .for_app(app)
            .filter(|p| !p.destroyed && p.kind == "web")
            .collect()
    }

    pub(crate) fn live_processes(&self, app: &str) -> Vec<&Process> {
        self.processes
            .for_app(app)
            .filter(|p| !p.destroyed)
            .collect()
    }

    pub(crate) fn active_deployment_of(&self, app: &str) -> Option<&Deployment> {
        self.active
            .iter()
            .filter_map(|g| self.deployments.get(g))
            .find(|d| d.app_guid == app && d.is_active())
    }

    pub(crate) fn staging_build_of(&self, app: &str) -> Option<&Build> {
        self.staging
            .iter()
            .filter_map(|g| self.builds.get(g))
            .find(|b| b.app_guid == app && b.state == BuildState::Staging)
    }

    /// Installed version of a buildpack for a stack, if any.
    pub(crate) fn installed_version(&self, name: &str, stack: &str) -> Option<String> {
        self.buildpacks
            .iter()
            .filter(|b| b.name == name && b.serves(stack))
            // One for this stack wins over one for any stack.
            .min_by_key(|b| b.stack.is_none())
            .and_then(|b| b.version.clone())
    }

    /// Recompute the peaks of apps with a client-made STAGING build or ACTIVE deployment.
    pub(crate) fn update_peaks(&mut self) {
        let mut apps: HashSet<&str> = HashSet::new();
        for b in self.staging.iter().filter_map(|g| self.builds.get(g)) {
            if b.created_by.is_client && b.state == BuildState::Staging {
                apps.insert(&b.app_guid);
            }
        }
        for d in self.active.iter().filter_map(|g| self.deployments.get(g)) {
            if d.created_by.is_client && d.is_active() {
                apps.insert(&d.app_guid);
            }
        }
        let mut per_space: BTreeMap<&str, usize> = BTreeMap::new();
        for app in &apps {
            if let Some(a) = self.apps.get(app) {
                *per_space.entry(a.space_guid.as_str()).or_default() += 1;
            }
        }
        let space_peak = per_space.values().copied().max().unwrap_or(0);
        let total = apps.len();
        self.peak_active = self.peak_active.max(total);
        self.peak_per_space = self.peak_per_space.max(space_peak);
    }
}
