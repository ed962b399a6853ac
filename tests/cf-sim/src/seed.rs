//! The seeded foundation (orgs, spaces, stacks, buildpacks, apps) and the
//! `add_app` operator action it is built from. Everything random comes from
//! the world's seeded RNG, so a seed always yields the same foundation.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rand::RngExt;
use tokio::time::Instant;

use crate::model::{
    App, AppState, Buildpack, Droplet, DropletBuildpack, DropletState, Labels, LifecycleKind, Org,
    Package, PackageState, Process, Revision, Space, Stack, StackState,
};
use crate::staging::{short_name, web_command};
use crate::world::World;

/// Installed-version history per buildpack, oldest first; the last is installed.
pub const BUILDPACK_VERSIONS: &[(&str, &[&str])] = &[
    (
        "ruby_buildpack",
        &["1.10.24", "1.10.25", "1.10.27", "1.10.28", "1.10.29"],
    ),
    (
        "go_buildpack",
        &["1.10.44", "1.10.45", "1.10.46", "1.10.47", "1.10.48"],
    ),
    (
        "java_buildpack",
        &["5.0.2", "5.0.3", "5.0.4", "5.0.5", "5.0.6"],
    ),
    (
        "nodejs_buildpack",
        &["1.8.30", "1.8.31", "1.8.32", "1.8.33", "1.8.34"],
    ),
    (
        "python_buildpack",
        &["1.8.38", "1.8.39", "1.8.40", "1.8.41", "1.8.42"],
    ),
    (
        "staticfile_buildpack",
        &["1.6.20", "1.6.21", "1.6.22", "1.6.23", "1.6.24"],
    ),
];

/// Label that marks an app as opted out of automatic restages.
pub const OPT_OUT_LABEL: &str = "restager.io/opt-out";

/// An app to add to the foundation (`CfSim::add_app`).
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub name: String,
    /// Org and space names; created when missing.
    pub org: String,
    pub space: String,
    pub buildpack: String,
    /// Version in the current droplet; `None` = the installed one.
    pub buildpack_version: Option<String>,
    /// Whether `lifecycle.data.buildpacks` names the buildpack (else auto-detect).
    pub buildpack_requested: bool,
    pub stack: String,
    pub instances: u32,
    pub state: AppState,
    pub lifecycle: LifecycleKind,
    /// A package exists (false: pushed as a droplet, cannot be restaged).
    pub has_package: bool,
    /// The package behind the droplet is EXPIRED.
    pub package_expired: bool,
    /// A newer READY package exists that never went live.
    pub newer_package: bool,
    /// The app has a current droplet.
    pub has_droplet: bool,
    pub memory_mb: u64,
    /// Instances of an extra `worker` process (0: none).
    pub worker_instances: u32,
    pub labels: Labels,
    /// The app's `revisions` feature (CC's default since 2020: on). With it
    /// off, deployments show `"revision": null`.
    pub revisions_enabled: bool,
    /// The droplet's buildpack reported no version: its `buildpacks[].version`
    /// is null (and the snapshot's version is empty).
    pub unknown_buildpack_version: bool,
    /// A past restage to show in the app's history (its live droplet's
    /// build and a rolling deployment); `None`: the app has neither.
    pub history: Option<crate::history::PastRestage>,
}

impl AppSpec {
    /// A running 2-instance ruby app on cflinuxfs4 at the installed version.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            org: "sim-org".to_owned(),
            space: "sim-space".to_owned(),
            buildpack: "ruby_buildpack".to_owned(),
            buildpack_version: None,
            buildpack_requested: true,
            stack: "cflinuxfs4".to_owned(),
            instances: 2,
            state: AppState::Started,
            lifecycle: LifecycleKind::Buildpack,
            has_package: true,
            package_expired: false,
            newer_package: false,
            has_droplet: true,
            memory_mb: 256,
            worker_instances: 0,
            labels: Labels::new(),
            revisions_enabled: true,
            unknown_buildpack_version: false,
            history: None,
        }
    }

    /// An app pushed with `cf push --no-start`: STOPPED, its bits uploaded
    /// (a READY package), never staged (no droplet: CC renders
    /// `relationships.current_droplet` as `{"data": {"guid": null}}`), one
    /// web instance desired. Nothing to restage.
    pub fn never_staged(name: impl Into<String>) -> Self {
        Self {
            state: AppState::Stopped,
            has_droplet: false,
            instances: 1,
            ..Self::new(name)
        }
    }
}

/// A buildpack to add (`CfSim::add_buildpack`), in any state CC has.
#[derive(Debug, Clone)]
pub struct BuildpackSpec {
    pub name: String,
    /// `None`: usable on any stack (`"stack": null`).
    pub stack: Option<String>,
    /// The version of the uploaded bits; `None`: created but never uploaded
    /// (`state: AWAITING_UPLOAD`, `filename: null`, not used for staging).
    pub version: Option<String>,
    /// `None`: after the last buildpack.
    pub position: Option<u32>,
    pub enabled: bool,
    pub locked: bool,
    /// `buildpack` or `cnb`.
    pub lifecycle: String,
}

impl BuildpackSpec {
    /// A READY buildpack for one stack.
    pub fn ready(
        name: impl Into<String>,
        stack: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            stack: Some(stack.into()),
            version: Some(version.into()),
            position: None,
            enabled: true,
            locked: false,
            lifecycle: "buildpack".to_owned(),
        }
    }

    /// `POST /v3/buildpacks` without an upload yet: AWAITING_UPLOAD, no
    /// filename, no stack.
    pub fn awaiting_upload(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            stack: None,
            version: None,
            position: None,
            enabled: true,
            locked: false,
            lifecycle: "buildpack".to_owned(),
        }
    }
}

/// A sha256-shaped (64 hex digits) checksum derived from `seed` without
/// drawing from the foundation's RNG (so seeded foundations stay as they were).
pub(crate) fn sha256_of(seed: &str) -> String {
    let a = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, seed.as_bytes());
    let b = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, seed.as_bytes());
    format!("{}{}", a.simple(), b.simple())
}

/// Timestamps for a seeded app: when it was created and when its droplet was staged.
pub(crate) struct SeedTimes {
    pub created: DateTime<Utc>,
    pub staged: DateTime<Utc>,
}

impl World {
    pub(crate) fn seed_platform(&mut self, epoch: DateTime<Utc>) {
        let installed_at = epoch - ChronoDuration::days(7);
        for (name, desc, state, default) in [
            (
                "cflinuxfs4",
                "Cloud Foundry Linux-based filesystem (Ubuntu 22.04)",
                StackState::Active,
                true,
            ),
            (
                "cflinuxfs3",
                "Cloud Foundry Linux-based filesystem (Ubuntu 18.04)",
                StackState::Active,
                false,
            ),
        ] {
            let guid = self.guid();
            self.stacks.insert(Stack {
                guid,
                name: name.to_owned(),
                description: desc.to_owned(),
                state,
                default,
                created_at: epoch - ChronoDuration::days(700),
                updated_at: epoch - ChronoDuration::days(700),
            });
        }
        let mut position = 1;
        for stack in ["cflinuxfs4", "cflinuxfs3"] {
            for (name, versions) in BUILDPACK_VERSIONS {
                let guid = self.guid();
                self.buildpacks.insert(Buildpack {
                    guid,
                    name: (*name).to_owned(),
                    stack: Some(stack.to_owned()),
                    version: Some(versions.last().copied().unwrap_or("1.0.0").to_owned()),
                    position,
                    enabled: true,
                    locked: false,
                    lifecycle: "buildpack".to_owned(),
                    created_at: epoch - ChronoDuration::days(600),
                    updated_at: installed_at,
                });
                position += 1;
            }
        }
    }

    /// Seed `n` apps in a realistic mix.
    pub(crate) fn seed_apps(&mut self, n: usize, epoch: DateTime<Utc>, now: Instant) {
        let orgs = (n / 250).clamp(2, 40);
        let words = [
            "billing",
            "catalog",
            "checkout",
            "search",
            "profile",
            "ledger",
            "gateway",
            "reports",
            "notify",
            "orders",
            "inventory",
            "auth",
            "media",
            "pricing",
            "support",
            "metrics",
        ];
        let teams = ["payments", "platform", "growth", "data"];
        let installed_at = epoch - ChronoDuration::days(7);
        for i in 0..n {
            let org = i % orgs;
            let space = ["dev", "staging", "prod"][(i / orgs) % 3];
            let roll: f64 = self.rng.random();
            let buildpack = match roll {
                r if r < 0.20 => "ruby_buildpack",
                r if r < 0.35 => "go_buildpack",
                r if r < 0.60 => "java_buildpack",
                r if r < 0.80 => "nodejs_buildpack",
                r if r < 0.95 => "python_buildpack",
                _ => "staticfile_buildpack",
            };
            let versions = BUILDPACK_VERSIONS
                .iter()
                .find(|(n, _)| *n == buildpack)
                .map(|(_, v)| *v)
                .unwrap_or(&["1.0.0"]);
            let current = self.rng.random_bool(0.45);
            let version = if current {
                versions.last().copied().unwrap_or("1.0.0")
            } else {
                let idx = self
                    .rng
                    .random_range(0..versions.len().saturating_sub(1).max(1));
                versions[idx]
            };
            let docker = self.rng.random_bool(0.03);
            let stack = if self.rng.random_bool(0.15) {
                "cflinuxfs3"
            } else {
                "cflinuxfs4"
            };
            let instances = *[1, 1, 2, 2, 2, 3, 3, 4, 5, 6]
                .get(self.rng.random_range(0..10))
                .unwrap_or(&2);
            let mut spec = AppSpec::new(format!("{}-{:05}", words[i % words.len()], i));
            spec.org = format!("org-{org:02}");
            spec.space = space.to_owned();
            spec.buildpack = buildpack.to_owned();
            spec.buildpack_version = Some(version.to_owned());
            spec.buildpack_requested = self.rng.random_bool(0.6);
            spec.stack = stack.to_owned();
            spec.instances = instances;
            spec.state = if self.rng.random_bool(0.10) {
                AppState::Stopped
            } else {
                AppState::Started
            };
            spec.lifecycle = if docker {
                LifecycleKind::Docker
            } else {
                LifecycleKind::Buildpack
            };
            spec.has_package = !self.rng.random_bool(0.03);
            spec.package_expired = self.rng.random_bool(0.03);
            spec.newer_package = self.rng.random_bool(0.03);
            spec.memory_mb = [256, 512, 1024][self.rng.random_range(0..3)];
            if self.rng.random_bool(0.10) {
                spec.worker_instances = self.rng.random_range(1..3);
                if self.rng.random_bool(0.2) {
                    spec.instances = 0;
                }
            }
            spec.labels
                .insert("team".to_owned(), teams[i % teams.len()].to_owned());
            if self.rng.random_bool(0.03) {
                spec.labels
                    .insert(OPT_OUT_LABEL.to_owned(), "true".to_owned());
            }
            let age_days = i64::try_from(n - i).unwrap_or(0) / 50 + 200;
            let created = epoch - ChronoDuration::days(age_days);
            let staged = if current {
                installed_at + ChronoDuration::minutes(self.rng.random_range(60..8000))
            } else {
                installed_at - ChronoDuration::minutes(self.rng.random_range(60..200_000))
            };
            let times = SeedTimes {
                created: created + ChronoDuration::seconds(i64::try_from(i).unwrap_or(0)),
                staged,
            };
            self.insert_app(&spec, Some(times), now);
        }
    }

    /// `n` never-staged apps after the seeded ones (`SimConfig::never_staged_apps`).
    pub(crate) fn seed_never_staged(&mut self, n: usize, epoch: DateTime<Utc>, now: Instant) {
        for i in 0..n {
            let mut spec = AppSpec::never_staged(format!("unstaged-{i:05}"));
            spec.org = "org-00".to_owned();
            spec.space = "dev".to_owned();
            let created = epoch - ChronoDuration::days(1)
                + ChronoDuration::seconds(i64::try_from(i).unwrap_or(0));
            let times = SeedTimes {
                created,
                staged: created,
            };
            self.insert_app(&spec, Some(times), now);
        }
    }

    fn ensure_space(&mut self, org_name: &str, space_name: &str, at: DateTime<Utc>) -> String {
        let existing = self
            .orgs
            .iter()
            .find(|o| o.name == org_name)
            .map(|o| o.guid.clone());
        let org_guid = match existing {
            Some(guid) => guid,
            None => {
                let guid = self.guid();
                self.orgs.insert(Org {
                    guid: guid.clone(),
                    name: org_name.to_owned(),
                    quota_guid: crate::quota::DEFAULT_ORG_QUOTA.to_owned(),
                    created_at: at,
                    labels: Default::default(),
                    annotations: Default::default(),
                });
                guid
            }
        };
        if let Some(guid) = self
            .spaces
            .iter()
            .find(|s| s.org_guid == org_guid && s.name == space_name)
            .map(|s| s.guid.clone())
        {
            return guid;
        }
        let guid = self.guid();
        self.spaces.insert(Space {
            guid: guid.clone(),
            name: space_name.to_owned(),
            org_guid,
            quota_guid: None,
            created_at: at,
            labels: Default::default(),
            annotations: Default::default(),
        });
        guid
    }

    /// Add an app with its package(s), droplet and processes; returns its guid.
    pub(crate) fn insert_app(
        &mut self,
        spec: &AppSpec,
        times: Option<SeedTimes>,
        now: Instant,
    ) -> String {
        let wall = Utc::now();
        let (created, staged) = match times {
            Some(t) => (t.created, t.staged),
            None => (wall, wall),
        };
        let space_guid = self.ensure_space(&spec.org, &spec.space, created);
        let app_guid = self.guid();
        let docker = spec.lifecycle == LifecycleKind::Docker;
        let image = docker.then(|| format!("registry.example.com/{}:latest", spec.name));
        let mut package_guid = None;
        if spec.has_package {
            let guid = self.guid();
            let checksum = sha256_of(&guid);
            self.packages.insert(Package {
                guid: guid.clone(),
                app_guid: app_guid.clone(),
                state: if spec.package_expired {
                    PackageState::Expired
                } else {
                    PackageState::Ready
                },
                image: image.clone(),
                checksum,
                error: None,
                created_at: staged - ChronoDuration::seconds(90),
                updated_at: staged - ChronoDuration::seconds(60),
            });
            package_guid = Some(guid);
        }
        let mut current_droplet = None;
        // The detected start command comes from a droplet: none before staging.
        let command = if docker || !spec.has_droplet {
            String::new()
        } else {
            web_command(&spec.buildpack)
        };
        if spec.has_droplet {
            let guid = self.guid();
            let version = spec
                .buildpack_version
                .clone()
                .or_else(|| self.installed_version(&spec.buildpack, &spec.stack))
                .unwrap_or_else(|| "1.0.0".to_owned());
            let checksum = sha256_of(&format!("{:016x}{:016x}", self.rng_u64(), self.rng_u64()));
            self.droplets.insert(Droplet {
                guid: guid.clone(),
                app_guid: app_guid.clone(),
                state: DropletState::Staged,
                lifecycle: spec.lifecycle,
                buildpacks: (!docker).then(|| {
                    vec![DropletBuildpack {
                        name: spec.buildpack.clone(),
                        buildpack_name: Some(short_name(&spec.buildpack)),
                        version: (!spec.unknown_buildpack_version).then_some(version),
                        detect_output: Some(short_name(&spec.buildpack)),
                    }]
                }),
                stack: (!docker).then(|| spec.stack.clone()),
                image: image.clone(),
                package_guid: package_guid.clone(),
                web_command: command.clone(),
                checksum,
                labels: Labels::new(),
                created_at: staged,
                updated_at: staged,
            });
            current_droplet = Some(guid);
        }
        if spec.newer_package {
            let guid = self.guid();
            let checksum = sha256_of(&guid);
            self.packages.insert(Package {
                guid,
                app_guid: app_guid.clone(),
                state: PackageState::Ready,
                image: image.clone(),
                checksum,
                error: None,
                created_at: staged + ChronoDuration::seconds(30),
                updated_at: staged + ChronoDuration::seconds(45),
            });
        }
        let mut labels = spec.labels.clone();
        labels
            .entry("env".to_owned())
            .or_insert_with(|| spec.space.clone());
        // An app pushed with revisions on has a first revision for its
        // droplet ("Initial revision.", RevisionResolver); its guid is derived
        // from the app's so the seeded RNG stream stays as it was.
        let latest_revision = current_droplet
            .as_ref()
            .filter(|_| spec.revisions_enabled)
            .map(|droplet| Revision {
                guid: uuid::Uuid::new_v5(
                    &uuid::Uuid::NAMESPACE_OID,
                    format!("{app_guid}/revision/1").as_bytes(),
                )
                .to_string(),
                version: 1,
                droplet_guid: droplet.clone(),
            });
        self.apps.insert(App {
            guid: app_guid.clone(),
            name: spec.name.clone(),
            space_guid,
            state: spec.state,
            lifecycle: spec.lifecycle,
            requested_buildpacks: if spec.buildpack_requested && !docker {
                vec![spec.buildpack.clone()]
            } else {
                Vec::new()
            },
            detected_buildpack: spec.buildpack.clone(),
            stack: spec.stack.clone(),
            docker_image: image,
            current_droplet: current_droplet.clone(),
            revisions_enabled: spec.revisions_enabled,
            latest_revision: latest_revision.clone(),
            corruption: None,
            labels,
            annotations: Labels::new(),
            created_at: created,
            updated_at: staged.max(created),
        });
        let started = now.checked_sub(self.cfg.instance_startup).unwrap_or(now);
        let mut kinds = vec![("web", spec.instances, command)];
        if spec.worker_instances > 0 {
            kinds.push(("worker", spec.worker_instances, "bin/worker".to_owned()));
        }
        for (kind, instances, command) in kinds {
            let guid = if kind == "web" {
                // CC gives the web process the app's guid.
                app_guid.clone()
            } else {
                self.guid()
            };
            self.processes.insert(Process {
                guid,
                app_guid: app_guid.clone(),
                kind: kind.to_owned(),
                command,
                memory_mb: spec.memory_mb,
                disk_mb: 1024,
                instance_starts: vec![started; instances as usize],
                crashing: false,
                droplet_guid: current_droplet.clone(),
                crash_anchor: None,
                crash_recorded: vec![0; instances as usize],
                destroyed: false,
                revision_guid: latest_revision.as_ref().map(|r| r.guid.clone()),
                created_at: created,
                updated_at: staged.max(created),
            });
        }
        if let Some(past) = &spec.history {
            self.seed_history(&app_guid, past, staged, now);
        }
        app_guid
    }
}
