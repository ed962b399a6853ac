//! Read-only views of the simulator's state for test assertions.

use std::collections::BTreeMap;

use tokio::time::Instant;

use crate::model::{AppState, BuildState, DeploymentState, LifecycleKind};
use crate::world::World;

/// A buildpack name and the version a droplet was staged with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildpackVersion {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropletSnapshot {
    pub guid: String,
    pub buildpacks: Vec<BuildpackVersion>,
    pub stack: Option<String>,
    pub package: Option<String>,
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSnapshot {
    pub guid: String,
    pub state: BuildState,
    pub error: Option<String>,
    pub package: String,
    pub droplet: Option<String>,
    /// Made through the API with the client's credentials (not by a person).
    pub by_client: bool,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSnapshot {
    pub guid: String,
    pub state: DeploymentState,
    pub status_value: String,
    pub status_reason: String,
    /// `status.details.error`, when set.
    pub error: Option<String>,
    pub droplet: String,
    pub previous_droplet: Option<String>,
    pub new_process: Option<String>,
    pub max_in_flight: u32,
    pub desired_instances: u32,
    pub by_client: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `rolling` or `canary`.
    pub strategy: String,
    /// A canary's `canary_current_step` (1-based); `None` for rolling.
    pub canary_step: Option<u32>,
}

/// One audit event as `GET /v3/audit_events` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEventSnapshot {
    pub guid: String,
    /// `type`, e.g. `audit.app.process.crash`.
    pub kind: String,
    pub actor_guid: Option<String>,
    pub actor_type: Option<String>,
    pub target_guid: Option<String>,
    pub data: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSnapshot {
    pub guid: String,
    pub kind: String,
    pub instances: u32,
    pub running: u32,
    pub starting: u32,
    pub crashed: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSnapshot {
    pub guid: String,
    pub name: String,
    pub state: AppState,
    pub lifecycle: LifecycleKind,
    pub stack: String,
    pub space: String,
    pub space_guid: String,
    pub org: String,
    pub org_guid: String,
    pub labels: BTreeMap<String, String>,
    pub current_droplet: Option<String>,
    /// Buildpacks of the current droplet.
    pub current_buildpacks: Vec<BuildpackVersion>,
    pub droplets: Vec<DropletSnapshot>,
    pub builds: Vec<BuildSnapshot>,
    pub deployments: Vec<DeploymentSnapshot>,
    /// Live processes, oldest first (two `web` ones during a rollout).
    pub processes: Vec<ProcessSnapshot>,
}

impl AppSnapshot {
    /// Instances across all live web processes.
    pub fn web_instances(&self) -> u32 {
        self.processes
            .iter()
            .filter(|p| p.kind == "web")
            .map(|p| p.instances)
            .sum()
    }

    /// Version of `buildpack` in the current droplet.
    pub fn current_version(&self, buildpack: &str) -> Option<&str> {
        self.current_buildpacks
            .iter()
            .find(|b| b.name == buildpack)
            .map(|b| b.version.as_str())
    }
}

impl World {
    /// Audit events targeting `app` (every event with `None`), oldest first.
    pub(crate) fn audit_snapshot(&self, app: Option<&str>) -> Vec<AuditEventSnapshot> {
        let rows: Vec<&crate::audit::AuditEvent> = match app {
            Some(a) => self.events.for_app(a).collect(),
            None => self.events.iter().collect(),
        };
        rows.into_iter()
            .map(|e| AuditEventSnapshot {
                guid: e.guid.clone(),
                kind: e.kind.clone(),
                actor_guid: e.actor.as_ref().map(|a| a.guid.clone()),
                actor_type: e.actor.as_ref().map(|a| a.kind.clone()),
                target_guid: e.target.as_ref().map(|t| t.guid.clone()),
                data: e.data.clone(),
                created_at: e.timestamp,
            })
            .collect()
    }

    pub(crate) fn droplet_snapshot(&self, guid: &str) -> Option<DropletSnapshot> {
        let d = self.droplets.get(guid)?;
        Some(DropletSnapshot {
            guid: d.guid.clone(),
            buildpacks: d
                .buildpacks
                .iter()
                .flatten()
                .map(|b| BuildpackVersion {
                    name: b.name.clone(),
                    // Empty when the buildpack reported no version.
                    version: b.version.clone().unwrap_or_default(),
                })
                .collect(),
            stack: d.stack.clone(),
            package: d.package_guid.clone(),
            image: d.image.clone(),
        })
    }

    pub(crate) fn builds_snapshot(&self, app: &str) -> Vec<BuildSnapshot> {
        self.builds
            .for_app(app)
            .map(|b| BuildSnapshot {
                guid: b.guid.clone(),
                state: b.state,
                error: b.error.clone(),
                package: b.package_guid.clone(),
                droplet: b.droplet_guid.clone(),
                by_client: b.created_by.is_client,
                labels: b.labels.clone(),
            })
            .collect()
    }

    pub(crate) fn deployments_snapshot(&self, app: &str) -> Vec<DeploymentSnapshot> {
        self.deployments
            .for_app(app)
            .map(|d| DeploymentSnapshot {
                guid: d.guid.clone(),
                state: d.state,
                status_value: d.status_value.to_owned(),
                status_reason: d.status_reason.to_owned(),
                error: d.error.clone(),
                droplet: d.droplet_guid.clone(),
                previous_droplet: d.previous_droplet_guid.clone(),
                new_process: d.new_process_guid.clone(),
                max_in_flight: d.max_in_flight,
                desired_instances: d.desired_instances,
                by_client: d.created_by.is_client,
                labels: d.labels.clone(),
                annotations: d.annotations.clone(),
                strategy: d.strategy.clone(),
                canary_step: (d.strategy == "canary").then_some(d.canary_current_step),
            })
            .collect()
    }

    pub(crate) fn app_snapshot(&self, guid: &str, now: Instant) -> Option<AppSnapshot> {
        let app = self.apps.get(guid)?;
        let space = self.spaces.get(&app.space_guid);
        let org = space.and_then(|s| self.orgs.get(&s.org_guid));
        let started = app.state == AppState::Started;
        let processes = self
            .live_processes(guid)
            .into_iter()
            .map(|p| {
                let counts = self.instance_counts(p, started, now);
                ProcessSnapshot {
                    guid: p.guid.clone(),
                    kind: p.kind.clone(),
                    instances: p.instances(),
                    running: counts.running,
                    starting: counts.starting,
                    crashed: counts.crashed,
                }
            })
            .collect();
        let current = app
            .current_droplet
            .as_deref()
            .and_then(|d| self.droplet_snapshot(d));
        Some(AppSnapshot {
            guid: app.guid.clone(),
            name: app.name.clone(),
            state: app.state,
            lifecycle: app.lifecycle,
            stack: app.stack.clone(),
            space: space.map(|s| s.name.clone()).unwrap_or_default(),
            space_guid: app.space_guid.clone(),
            org: org.map(|o| o.name.clone()).unwrap_or_default(),
            org_guid: org.map(|o| o.guid.clone()).unwrap_or_default(),
            labels: app.labels.clone(),
            current_droplet: app.current_droplet.clone(),
            current_buildpacks: current.map(|d| d.buildpacks).unwrap_or_default(),
            droplets: self
                .droplets
                .for_app(guid)
                .filter_map(|d| self.droplet_snapshot(&d.guid))
                .collect(),
            builds: self.builds_snapshot(guid),
            deployments: self.deployments_snapshot(guid),
            processes,
        })
    }
}
