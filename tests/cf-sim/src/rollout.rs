//! Deployments: creation (cf-api.md 1.5), the updater's rolling steps (1.6)
//! and cancel (1.7). A deployment never becomes FAILED: crashing instances
//! leave it ACTIVE/DEPLOYING for ever.

use chrono::Utc;
use serde_json::Value;
use tokio::time::Instant;

use crate::api::error::ApiError;
use crate::faults::Fault;
use crate::model::{
    Actor, AppState, Deployment, DeploymentState, DropletState, InstanceState, Labels, Process,
    Revision, ScalingOptions,
};
use crate::world::World;

/// A validated `POST /v3/deployments` body.
pub(crate) struct DeploymentRequest {
    pub app_guid: String,
    pub droplet_guid: Option<String>,
    pub strategy: String,
    pub max_in_flight: u32,
    pub scaling: ScalingOptions,
    /// `options.canary.steps` (read from 3.189.0).
    pub canary_steps: Option<Vec<Value>>,
    pub labels: Labels,
    pub annotations: Labels,
}

impl DeploymentRequest {
    pub(crate) fn rolling(app_guid: &str, droplet: &str) -> Self {
        Self {
            app_guid: app_guid.to_owned(),
            droplet_guid: Some(droplet.to_owned()),
            strategy: "rolling".to_owned(),
            max_in_flight: 1,
            scaling: ScalingOptions::default(),
            canary_steps: None,
            labels: Labels::new(),
            annotations: Labels::new(),
        }
    }
}

const ASSIGN_FAILED: &str =
    "Unable to assign current droplet. Ensure the droplet exists and belongs to this app.";

/// Instance counts of one process as the updater sees them.
struct Health {
    routable: u32,
    starting: u32,
    unhealthy: u32,
}

impl World {
    pub(crate) fn create_deployment(
        &mut self,
        req: DeploymentRequest,
        actor: Actor,
        now: Instant,
    ) -> Result<String, ApiError> {
        let app = self.apps.get(&req.app_guid).ok_or_else(|| {
            ApiError::unprocessable(
                "Unable to use app. Ensure that the app exists and you have access to it.",
            )
        })?;
        let app_guid = app.guid.clone();
        let stopped = app.state == AppState::Stopped;
        let previous_droplet = app.current_droplet.clone();
        let droplet_guid = match req
            .droplet_guid
            .clone()
            .or_else(|| previous_droplet.clone())
        {
            Some(d) => d,
            None => {
                return Err(ApiError::unprocessable(
                    "Invalid droplet. Please specify a droplet in the request or set a current droplet for the app.",
                ));
            }
        };
        let droplet_ok = self
            .droplets
            .get(&droplet_guid)
            .is_some_and(|d| d.app_guid == app_guid && d.state == DropletState::Staged);
        if !droplet_ok {
            return Err(ApiError::unprocessable(ASSIGN_FAILED));
        }
        let previous = self.active_deployment_of(&app_guid).map(|d| d.guid.clone());
        let webs = self.web_processes(&app_guid);
        let newest_web = webs
            .last()
            .map(|p| (p.memory_mb, p.disk_mb, p.guid.clone()));
        let original = match previous.as_deref().and_then(|g| self.deployments.get(g)) {
            Some(d) => d.original_web_instances,
            None => webs.first().map(|p| p.instances()).unwrap_or(0),
        };
        let desired = req.scaling.web_instances.unwrap_or(original);
        // DeploymentModel#canary_step_plan: without steps, one canary instance.
        let canary_instances = (req.strategy == "canary").then(|| {
            let weight = req
                .canary_steps
                .as_ref()
                .and_then(|s| s.first())
                .and_then(|s| s.get("instance_weight"))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            let by_weight = u32::try_from((u64::from(desired) * weight).div_ceil(100)).unwrap_or(1);
            by_weight.clamp(1, desired.max(1))
        });
        let canary_steps = req
            .canary_steps
            .as_ref()
            .map(|s| u32::try_from(s.len()).unwrap_or(1))
            .unwrap_or(1);
        let first_step = canary_instances.unwrap_or_else(|| req.max_in_flight.min(desired));
        // DeploymentCreate: the new web process takes options.memory_in_mb / disk_in_mb.
        let memory_mb = req
            .scaling
            .memory_in_mb
            .or(newest_web.as_ref().map(|w| w.0))
            .unwrap_or(1024);

        if !stopped {
            let fault = actor.is_client
                && self
                    .faults
                    .fire_eq(&app_guid, &Fault::DeploymentQuotaExceeded);
            if fault || self.quota_exceeded(&app_guid, u64::from(first_step) * memory_mb) {
                let org = self
                    .apps
                    .get(&app_guid)
                    .and_then(|a| self.org_of_app(a))
                    .map(|o| o.name.clone())
                    .unwrap_or_default();
                return Err(ApiError::unprocessable(format!(
                    "memory quota_exceeded for organization {org}. This organization's quota may not be large enough to support rolling deployments or your configured max-in-flight."
                )));
            }
        }

        let ts = Utc::now();
        let guid = self.guid();
        if let Some(app) = self.apps.get_mut(&app_guid) {
            app.current_droplet = Some(droplet_guid.clone());
            app.updated_at = ts;
        }
        let revision = self.update_app_revision(&app_guid);
        let command = self
            .droplets
            .get(&droplet_guid)
            .map(|d| d.web_command.clone())
            .unwrap_or_default();

        let mut deployment = Deployment {
            guid: guid.clone(),
            app_guid: app_guid.clone(),
            state: DeploymentState::Deploying,
            status_value: "ACTIVE",
            status_reason: "DEPLOYING",
            error: None,
            strategy: req.strategy,
            max_in_flight: req.max_in_flight,
            scaling: req.scaling.clone(),
            canary_steps_requested: req.canary_steps,
            revision,
            stopped_app: stopped,
            desired_instances: desired,
            original_web_instances: original,
            droplet_guid,
            previous_droplet_guid: previous_droplet,
            new_process_guid: None,
            canary_instances,
            canary_steps,
            crash_error: None,
            created_by: actor.clone(),
            labels: req.labels,
            annotations: req.annotations,
            created_at: ts,
            updated_at: ts,
            last_healthy_at: ts,
            last_status_change: ts,
            pending_human_push: false,
        };

        if stopped {
            // CC starts a stopped app and finalizes at once (pitfall 1).
            if let Some(app) = self.apps.get_mut(&app_guid) {
                app.state = AppState::Started;
            }
            for p in self.processes.guids_for_app(&app_guid) {
                if let Some(p) = self.processes.get_mut(&p) {
                    if p.kind == "web" {
                        p.command = command.clone();
                        if let Some(n) = req.scaling.web_instances {
                            p.scale_to(n, now);
                        }
                    }
                    p.restart(now);
                }
            }
            deployment.new_process_guid = newest_web.map(|w| w.2);
            deployment.set_status(DeploymentState::Deployed, "FINALIZED", "DEPLOYED", ts);
            self.deployments.insert(deployment);
            return Ok(guid);
        }

        if let Some(prev) = previous
            .as_deref()
            .and_then(|g| self.deployments.get_mut(g))
        {
            let state = if prev.state == DeploymentState::Deploying {
                DeploymentState::Deployed
            } else {
                DeploymentState::Canceled
            };
            prev.set_status(state, "FINALIZED", "SUPERSEDED", ts);
        }
        let crash = if actor.is_client {
            self.faults.fire(&app_guid, |f| match f {
                Fault::InstancesCrash { error } => Some(error.clone()),
                _ => None,
            })
        } else {
            None
        };
        let process_guid = self.guid();
        let disk_mb = deployment
            .scaling
            .disk_in_mb
            .or(newest_web.as_ref().map(|w| w.1))
            .unwrap_or(1024);
        let mut process = Process {
            guid: process_guid.clone(),
            app_guid: app_guid.clone(),
            kind: "web".to_owned(),
            command,
            memory_mb,
            disk_mb,
            instance_starts: Vec::new(),
            crashing: crash.is_some(),
            destroyed: false,
            revision_guid: deployment.revision.as_ref().map(|r| r.guid.clone()),
            created_at: ts,
            updated_at: ts,
        };
        process.scale_to(first_step, now);
        self.processes.insert(process);
        deployment.new_process_guid = Some(process_guid);
        if canary_instances.is_some() {
            deployment.state = DeploymentState::Prepaused;
        }
        deployment.crash_error = crash.flatten();
        deployment.pending_human_push = actor.is_client
            && self
                .faults
                .fire_eq(&app_guid, &Fault::HumanPushDuringDeploy);
        self.deployments.insert(deployment);
        self.active.push(guid.clone());
        self.active
            .retain(|g| self.deployments.get(g).is_some_and(|d| d.is_active()));
        self.update_peaks();
        Ok(guid)
    }

    /// RevisionResolver.update_app_revision (app/actions/revision_resolver.rb):
    /// with revisions on, the app's newest revision if it runs the current
    /// droplet, else a new one (version + 1).
    fn update_app_revision(&mut self, app_guid: &str) -> Option<Revision> {
        let app = self.apps.get(app_guid)?;
        if !app.revisions_enabled {
            return None;
        }
        let droplet = app.current_droplet.clone()?;
        if let Some(latest) = app
            .latest_revision
            .as_ref()
            .filter(|r| r.droplet_guid == droplet)
        {
            return Some(latest.clone());
        }
        let version = app.latest_revision.as_ref().map_or(1, |r| r.version + 1);
        let revision = Revision {
            guid: self.guid(),
            version,
            droplet_guid: droplet,
        };
        if let Some(app) = self.apps.get_mut(app_guid) {
            app.latest_revision = Some(revision.clone());
        }
        Some(revision)
    }

    /// `POST /v3/deployments/:guid/actions/cancel`.
    pub(crate) fn cancel_deployment(&mut self, guid: &str) -> Result<(), ApiError> {
        let d = self
            .deployments
            .get(guid)
            .ok_or_else(|| ApiError::not_found("Deployment"))?;
        if !matches!(
            d.state,
            DeploymentState::Deploying
                | DeploymentState::Prepaused
                | DeploymentState::Paused
                | DeploymentState::Canceling
        ) || !d.is_active()
        {
            return Err(ApiError::unprocessable(format!(
                "Cannot cancel a deployment with status: {} and reason: {}",
                d.status_value, d.status_reason
            )));
        }
        let app_guid = d.app_guid.clone();
        // DeploymentCancel re-assigns the previous droplet: with none the
        // assignment fails (app/actions/deployment_cancel.rb, app_assign_droplet.rb).
        let Some(previous) = d.previous_droplet_guid.clone().filter(|p| {
            self.droplets
                .get(p)
                .is_some_and(|d| d.state == DropletState::Staged)
        }) else {
            return Err(ApiError::unprocessable(ASSIGN_FAILED));
        };
        let ts = Utc::now();
        if let Some(app) = self.apps.get_mut(&app_guid) {
            app.current_droplet = Some(previous);
            app.updated_at = ts;
        }
        if let Some(d) = self.deployments.get_mut(guid) {
            d.set_status(DeploymentState::Canceling, "ACTIVE", "CANCELING", ts);
        }
        Ok(())
    }

    /// One pass of the deployment updater (plus build settling).
    pub(crate) fn tick(&mut self, now: Instant) {
        self.settle_builds(now);
        let active = self.active.clone();
        for guid in active {
            let Some(d) = self.deployments.get_mut(&guid) else {
                continue;
            };
            if !d.is_active() {
                continue;
            }
            if d.pending_human_push {
                d.pending_human_push = false;
                let app = d.app_guid.clone();
                self.human_push(&app, now);
                continue;
            }
            match d.state {
                DeploymentState::Deploying => self.scale_step(&guid, now),
                DeploymentState::Prepaused => self.canary_step(&guid, now),
                DeploymentState::Canceling => self.cancel_step(&guid, now),
                DeploymentState::Paused | DeploymentState::Deployed | DeploymentState::Canceled => {
                }
            }
        }
        self.active
            .retain(|g| self.deployments.get(g).is_some_and(|d| d.is_active()));
        self.update_peaks();
    }

    fn health(&self, process: &Process, now: Instant) -> Health {
        let mut h = Health {
            routable: 0,
            starting: 0,
            unhealthy: 0,
        };
        let startup = self.instance_startup_for(&process.app_guid);
        for i in 0..process.instance_starts.len() {
            match process.instance_state(i, true, now, startup) {
                InstanceState::Running => h.routable += 1,
                InstanceState::Starting => h.starting += 1,
                InstanceState::Crashed | InstanceState::Down => h.unhealthy += 1,
            }
        }
        h
    }

    fn scale_step(&mut self, guid: &str, now: Instant) {
        let Some(d) = self.deployments.get(guid) else {
            return;
        };
        let app_guid = d.app_guid.clone();
        let desired = d.desired_instances;
        let mif = d.max_in_flight;
        let by_client = d.created_by.is_client;
        let crash_error = d.crash_error.clone();
        let Some(new_guid) = d.new_process_guid.clone() else {
            return;
        };
        let Some(new) = self.processes.get(&new_guid) else {
            return;
        };
        let health = self.health(new, now);
        let new_instances = new.instances();
        let ts = Utc::now();

        if new_instances >= desired && health.routable >= desired {
            self.finalize(guid, &app_guid, &new_guid, now);
            return;
        }

        // Old web instances shrink as new ones become routable, oldest first.
        let mut surplus = {
            let olds: u32 = self
                .web_processes(&app_guid)
                .iter()
                .filter(|p| p.guid != new_guid)
                .map(|p| p.instances())
                .sum();
            olds.saturating_sub(desired.saturating_sub(health.routable))
        };
        let old_guids: Vec<String> = self
            .web_processes(&app_guid)
            .iter()
            .filter(|p| p.guid != new_guid)
            .map(|p| p.guid.clone())
            .collect();
        for g in old_guids {
            if surplus == 0 {
                break;
            }
            if let Some(p) = self.processes.get_mut(&g) {
                let cut = surplus.min(p.instances());
                p.scale_to(p.instances() - cut, now);
                p.updated_at = ts;
                surplus -= cut;
            }
        }

        let mut error = if health.unhealthy > 0 {
            crash_error
        } else {
            None
        };
        let can_scale = health.starting < mif
            && health.unhealthy == 0
            && health.routable >= new_instances.saturating_sub(mif)
            && new_instances < desired;
        if can_scale {
            let target = (health.routable + mif).min(desired);
            let extra = u64::from(target.saturating_sub(new_instances))
                * self
                    .processes
                    .get(&new_guid)
                    .map(|p| p.memory_mb)
                    .unwrap_or(0);
            let fault = by_client
                && self
                    .faults
                    .fire_eq(&app_guid, &Fault::MidDeployQuotaExceeded);
            if fault || self.quota_exceeded(&app_guid, extra) {
                error = Some("memory quota_exceeded".to_owned());
            } else if let Some(p) = self.processes.get_mut(&new_guid) {
                p.scale_to(target, now);
                p.updated_at = ts;
                if let Some(d) = self.deployments.get_mut(guid) {
                    d.last_healthy_at = ts;
                }
            }
        }
        if let Some(d) = self.deployments.get_mut(guid) {
            if d.error != error {
                d.updated_at = ts;
            }
            d.error = error;
        }
    }

    /// Canary: pause once the canary instances are routable (old ones stay).
    fn canary_step(&mut self, guid: &str, now: Instant) {
        let Some(d) = self.deployments.get(guid) else {
            return;
        };
        let canary = d.canary_instances.unwrap_or(1);
        let crash_error = d.crash_error.clone();
        let Some(new) = d
            .new_process_guid
            .as_deref()
            .and_then(|g| self.processes.get(g))
        else {
            return;
        };
        let health = self.health(new, now);
        let ts = Utc::now();
        if let Some(d) = self.deployments.get_mut(guid) {
            if health.routable >= canary {
                d.error = None;
                d.set_status(DeploymentState::Paused, "ACTIVE", "PAUSED", ts);
            } else if health.unhealthy > 0 {
                d.error = crash_error;
            }
        }
    }

    /// `POST /v3/deployments/:guid/actions/continue`: a PAUSED canary rolls on.
    pub(crate) fn continue_deployment(&mut self, guid: &str) -> Result<(), ApiError> {
        let d = self
            .deployments
            .get_mut(guid)
            .ok_or_else(|| ApiError::not_found("Deployment"))?;
        if d.state != DeploymentState::Paused {
            return Err(ApiError::unprocessable(format!(
                "Cannot continue a deployment with status: {} and reason: {}",
                d.status_value, d.status_reason
            )));
        }
        d.set_status(
            DeploymentState::Deploying,
            "ACTIVE",
            "DEPLOYING",
            Utc::now(),
        );
        Ok(())
    }

    /// Destroy the old web processes, restart the others, mark DEPLOYED.
    fn finalize(&mut self, guid: &str, app_guid: &str, new_guid: &str, now: Instant) {
        let ts = Utc::now();
        for g in self.processes.guids_for_app(app_guid) {
            if let Some(p) = self.processes.get_mut(&g) {
                if p.destroyed || p.guid == new_guid {
                    continue;
                }
                if p.kind == "web" {
                    p.destroyed = true;
                } else {
                    p.restart(now);
                }
                p.updated_at = ts;
            }
        }
        if let Some(d) = self.deployments.get_mut(guid) {
            d.error = None;
            d.set_status(DeploymentState::Deployed, "FINALIZED", "DEPLOYED", ts);
        }
    }

    /// Keep the interim (or oldest) web process at the original count, drop the rest.
    fn cancel_step(&mut self, guid: &str, now: Instant) {
        let Some(d) = self.deployments.get(guid) else {
            return;
        };
        let app_guid = d.app_guid.clone();
        let original = d.original_web_instances;
        let ts = Utc::now();
        let webs: Vec<String> = self
            .web_processes(&app_guid)
            .iter()
            .map(|p| p.guid.clone())
            .collect();
        let interim = self
            .deployments
            .for_app(&app_guid)
            .filter(|d| d.status_reason == "SUPERSEDED")
            .filter_map(|d| d.new_process_guid.as_deref())
            .filter(|g| webs.iter().any(|w| w == g))
            .filter(|g| {
                self.processes
                    .get(g)
                    .is_some_and(|p| self.health(p, now).routable > 0)
            })
            .last()
            .map(str::to_owned);
        let keep = interim.or_else(|| webs.first().cloned());
        for g in webs {
            if let Some(p) = self.processes.get_mut(&g) {
                if Some(&g) == keep.as_ref() {
                    p.scale_to(original, now);
                } else {
                    p.destroyed = true;
                }
                p.updated_at = ts;
            }
        }
        if let Some(d) = self.deployments.get_mut(guid) {
            d.error = None;
            d.set_status(DeploymentState::Canceled, "FINALIZED", "CANCELED", ts);
        }
    }
}
