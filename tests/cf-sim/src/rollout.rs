//! Deployments: creation (cf-api.md 1.5), the updater's rolling steps (1.6)
//! and cancel (1.7). A deployment never becomes FAILED: crashing instances
//! leave it ACTIVE/DEPLOYING for ever.

use chrono::Utc;
use serde_json::Value;
use tokio::time::Instant;

use crate::api::error::ApiError;
use crate::faults::Fault;
use crate::model::{
    Actor, AppState, Deployment, DeploymentState, DropletState, Labels, Process, Revision,
    ScalingOptions,
};
use crate::quota::{Breach, QuotaUsage};
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
    /// DeploymentCreateMessage#audit_hash: the requested keys as sent.
    pub audit: Value,
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
            audit: serde_json::json!({
                "droplet": {"guid": droplet},
                "strategy": "rolling",
                "relationships": {"app": {"data": {"guid": app_guid}}},
            }),
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
        let req_is_canary = req.strategy == "canary";
        // DeploymentCreate#starting_process_instances: the first canary
        // step's instances, else the desired ones, at most max_in_flight.
        let starting = if req_is_canary {
            crate::model::canary_plan(
                req.canary_steps.as_deref(),
                original,
                req.scaling.web_instances,
            )
            .first()
            .map_or(1, |s| s.0)
        } else {
            desired
        };
        let first_step = req.max_in_flight.min(starting);
        // DeploymentCreate: the new web process takes options.memory_in_mb / disk_in_mb.
        let memory_mb = req
            .scaling
            .memory_in_mb
            .or(newest_web.as_ref().map(|w| w.0))
            .unwrap_or(1024);

        if !stopped {
            // The new web process starts with `first_step` instances
            // (DeploymentCreate: `process.reload.update(state: STARTED)`
            // validates it against both quotas).
            let fault = actor.is_client
                && self
                    .faults
                    .fire_eq(&app_guid, &Fault::DeploymentQuotaExceeded);
            let mut breaches = self.process_breaches(
                &app_guid,
                u64::from(first_step),
                memory_mb,
                QuotaUsage::default(),
            );
            if fault && breaches.is_empty() {
                breaches.push(Breach::OrgMemory);
            }
            if !breaches.is_empty() {
                let space = self
                    .apps
                    .get(&app_guid)
                    .and_then(|a| self.spaces.get(&a.space_guid))
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                let org = self
                    .apps
                    .get(&app_guid)
                    .and_then(|a| self.org_of_app(a))
                    .map(|o| o.name.clone())
                    .unwrap_or_default();
                return Err(ApiError::unprocessable(crate::quota::deployment_refusal(
                    &breaches, &space, &org,
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

        let droplet_for_processes = droplet_guid.clone();
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
            canary_current_step: u32::from(req_is_canary),
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
            deployment.new_process_guid = newest_web.as_ref().map(|w| w.2.clone());
            deployment.set_status(DeploymentState::Deployed, "FINALIZED", "DEPLOYED", ts);
            self.record_deployment_event(&deployment, &req.audit, &actor);
            self.deployments.insert(deployment);
            // Deployed at once: a crash-after-deploy droplet's countdown starts.
            for p in self.processes.guids_for_app(&app_guid) {
                if let Some(proc_) = self.processes.get_mut(&p)
                    && proc_.kind == "web"
                {
                    proc_.droplet_guid = Some(droplet_for_processes.clone());
                }
                self.arm_crashes(&p, now);
            }
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
            droplet_guid: Some(deployment.droplet_guid.clone()),
            crash_anchor: None,
            crash_recorded: Vec::new(),
            destroyed: false,
            revision_guid: deployment.revision.as_ref().map(|r| r.guid.clone()),
            created_at: ts,
            updated_at: ts,
        };
        process.scale_to(first_step, now);
        self.processes.insert(process);
        self.arm_crashes_if_crashing(&process_guid, now);
        deployment.new_process_guid = Some(process_guid);
        // DeploymentCreate#starting_state: a canary starts PREPAUSED.
        if req_is_canary {
            deployment.state = DeploymentState::Prepaused;
        }
        deployment.crash_error = crash.flatten();
        self.record_deployment_event(&deployment, &req.audit, &actor);
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

    /// DeploymentCreate#record_audit_event (app/actions/deployment_create.rb).
    fn record_deployment_event(&mut self, d: &Deployment, audit: &Value, actor: &Actor) {
        self.record_deployment_create(
            &d.guid,
            &d.droplet_guid,
            d.revision.as_ref().map(|r| r.guid.as_str()),
            &d.strategy,
            audit.clone(),
            &d.app_guid,
            actor,
        );
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
        let droplet = match self.deployments.get_mut(guid) {
            Some(d) => {
                d.set_status(DeploymentState::Canceling, "ACTIVE", "CANCELING", ts);
                d.droplet_guid.clone()
            }
            None => return Ok(()),
        };
        // DeploymentCancel#record_audit_event (app/actions/deployment_cancel.rb).
        let actor = self.client_actor();
        self.record_deployment_action(
            crate::audit::types::APP_DEPLOYMENT_CANCEL,
            guid,
            &droplet,
            &app_guid,
            &actor,
        );
        Ok(())
    }

    /// One pass of the deployment updater (plus build settling).
    pub(crate) fn tick(&mut self, now: Instant) {
        self.settle_builds(now);
        self.advance_instances(now);
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
        let counts = self.instance_counts(process, true, now);
        Health {
            routable: counts.running,
            starting: counts.starting,
            unhealthy: counts.crashed + counts.down,
        }
    }

    /// The updater's `scale` for a DEPLOYING deployment
    /// (lib/cloud_controller/deployment_updater/updater.rb): Scale towards
    /// the desired instances, then Finalize.
    fn scale_step(&mut self, guid: &str, now: Instant) {
        let Some(d) = self.deployments.get(guid) else {
            return;
        };
        let desired = d.desired_instances;
        let app_guid = d.app_guid.clone();
        let Some(new_guid) = d.new_process_guid.clone() else {
            return;
        };
        if self.scale_action(guid, desired, desired, now) {
            self.finalize(guid, &app_guid, &new_guid, now);
        }
    }

    /// Actions::Scale#call (deployment_updater/actions/scale.rb) with
    /// DownScaler and UpScaler: nothing happens unless the new process can
    /// scale up or the old ones down; then the old web processes shrink to
    /// `target_total − routable` (oldest first), and the new one grows by
    /// `max_in_flight` towards `interim` while nothing is starting or
    /// unhealthy. True once `interim` new instances exist and are routable.
    fn scale_action(&mut self, guid: &str, target_total: u32, interim: u32, now: Instant) -> bool {
        let Some(d) = self.deployments.get(guid) else {
            return false;
        };
        let app_guid = d.app_guid.clone();
        let mif = d.max_in_flight;
        let by_client = d.created_by.is_client;
        let crash_error = d.crash_error.clone();
        let Some(new_guid) = d.new_process_guid.clone() else {
            return false;
        };
        let Some(new) = self.processes.get(&new_guid) else {
            return false;
        };
        let health = self.health(new, now);
        let new_instances = new.instances();
        let ts = Utc::now();
        let olds: Vec<(String, u32)> = self
            .web_processes(&app_guid)
            .iter()
            .filter(|p| p.guid != new_guid)
            .map(|p| (p.guid.clone(), p.instances()))
            .collect();
        let old_total: u32 = olds.iter().map(|o| o.1).sum();
        let desired_old = target_total.saturating_sub(health.routable);
        let can_downscale = old_total > desired_old;
        let can_scale = health.starting < mif
            && health.unhealthy == 0
            && health.routable >= new_instances.saturating_sub(mif);
        // The simulator's InstancesCrash fault shows its error while
        // instances are unhealthy (CC itself reports none for crashes).
        let shown_crash_error = if health.unhealthy > 0 {
            crash_error
        } else {
            None
        };
        if !can_scale && !can_downscale {
            if let Some(d) = self.deployments.get_mut(guid)
                && shown_crash_error.is_some()
                && d.error != shown_crash_error
            {
                d.error = shown_crash_error;
                d.updated_at = ts;
            }
            return false;
        }
        let finished = new_instances >= interim && health.routable >= interim;
        let scale_to = (!finished && can_scale).then(|| (health.routable + mif).min(interim));
        if let Some(target) = scale_to {
            // A quota failure in scale_up raises inside the transaction:
            // nothing of this pass is kept and with_error_logging stores the
            // message (updater.rb, scale.rb). The up-scale is validated
            // after the down-scale of the same transaction, so what the old
            // processes give up here is already free.
            let freed = if can_downscale {
                self.freed_by_scale_down(&olds, old_total - desired_old)
            } else {
                QuotaUsage::default()
            };
            let memory_mb = self
                .processes
                .get(&new_guid)
                .map(|p| p.memory_mb)
                .unwrap_or(0);
            let fault = by_client
                && self
                    .faults
                    .fire_eq(&app_guid, &Fault::MidDeployQuotaExceeded);
            let mut breaches = self.process_breaches(
                &app_guid,
                u64::from(target.saturating_sub(new_instances)),
                memory_mb,
                freed,
            );
            if fault && breaches.is_empty() {
                breaches.push(Breach::OrgMemory);
            }
            if !breaches.is_empty() {
                if let Some(d) = self.deployments.get_mut(guid) {
                    d.error = Some(crate::quota::joined(&breaches));
                    d.updated_at = ts;
                }
                return false;
            }
        }
        if let Some(d) = self.deployments.get_mut(guid) {
            // Scale#call: ACTIVE/DEPLOYING and the error cleared (the state
            // stays DEPLOYING or PREPAUSED).
            let state = d.state;
            d.set_status(state, "ACTIVE", "DEPLOYING", ts);
            d.error = shown_crash_error;
        }
        self.scale_down_canceled_processes(&app_guid, now);
        // DownScaler#scale_down: oldest first; an interim process scaled to
        // zero is destroyed, the original one kept at zero (scale_down_old_process.rb).
        if can_downscale {
            let mut surplus = old_total - desired_old;
            let oldest = self
                .web_processes(&app_guid)
                .first()
                .map(|p| p.guid.clone());
            for (g, n) in olds {
                if surplus == 0 {
                    break;
                }
                let cut = surplus.min(n);
                surplus -= cut;
                if let Some(p) = self.processes.get_mut(&g) {
                    p.scale_to(n - cut, now);
                    p.updated_at = ts;
                    if n == cut && Some(&g) != oldest.as_ref() {
                        p.destroyed = true;
                    }
                }
            }
        }
        if finished {
            return true;
        }
        if let Some(target) = scale_to
            && let Some(p) = self.processes.get_mut(&new_guid)
        {
            p.scale_to(target, now);
            p.updated_at = ts;
            if let Some(d) = self.deployments.get_mut(guid) {
                d.last_healthy_at = ts;
            }
        }
        false
    }

    /// Memory and instances the down-scale of `surplus` instances frees,
    /// cutting `olds` oldest first as DownScaler does.
    fn freed_by_scale_down(&self, olds: &[(String, u32)], mut surplus: u32) -> QuotaUsage {
        let mut freed = QuotaUsage::default();
        for (g, n) in olds {
            if surplus == 0 {
                break;
            }
            let cut = surplus.min(*n);
            surplus -= cut;
            let mb = self.processes.get(g).map_or(0, |p| p.memory_mb);
            freed.memory_mb += u64::from(cut) * mb;
            freed.instances += u64::from(cut);
        }
        freed
    }

    /// ScaleDownCanceledProcesses (deployment_updater/actions/
    /// scale_down_canceled_processes.rb), run by every Scale pass that goes
    /// ahead: the process of a canary that was superseded while it was
    /// PREPAUSED or PAUSED (state CANCELED, reason SUPERSEDED) goes to zero
    /// instances. The down-scaler still works from the counts it read
    /// before: CC's DownScaler holds the process rows it loaded earlier in
    /// the pass (inferred from scale.rb's order; not seen in a spec).
    fn scale_down_canceled_processes(&mut self, app_guid: &str, now: Instant) {
        let ts = Utc::now();
        let superseded: Vec<String> = self
            .deployments
            .for_app(app_guid)
            .filter(|d| d.state == DeploymentState::Canceled && d.status_reason == "SUPERSEDED")
            .filter_map(|d| d.new_process_guid.clone())
            .collect();
        for guid in superseded {
            if let Some(p) = self.processes.get_mut(&guid)
                && !p.destroyed
                && p.instances() > 0
            {
                p.scale_to(0, now);
                p.updated_at = ts;
            }
        }
    }

    /// The updater's `canary` for a PREPAUSED deployment (updater.rb):
    /// Scale to the current step's `canary + original` total with `canary`
    /// new instances, then PAUSED (and `last_healthy_at`).
    fn canary_step(&mut self, guid: &str, now: Instant) {
        let Some(d) = self.deployments.get(guid) else {
            return;
        };
        let (canary, original) = d.canary_step();
        let new_guid = d.new_process_guid.clone();
        if self.scale_action(guid, canary + original, canary, now) {
            let ts = Utc::now();
            if let Some(d) = self.deployments.get_mut(guid) {
                d.last_healthy_at = ts;
                d.set_status(DeploymentState::Paused, "ACTIVE", "PAUSED", ts);
            }
            // A crash-after-deploy droplet counts as deployed once its canary pauses.
            if let Some(p) = new_guid {
                self.arm_crashes(&p, now);
            }
        }
    }

    /// `POST /v3/deployments/:guid/actions/continue`
    /// (app/actions/deployment_continue.rb): only a PAUSED deployment; with
    /// steps left, the next step (PREPAUSED, ACTIVE/DEPLOYING), else
    /// DEPLOYING, which rolls out the rest.
    pub(crate) fn continue_deployment(&mut self, guid: &str, actor: Actor) -> Result<(), ApiError> {
        let app_guid = self
            .deployments
            .get(guid)
            .map(|d| d.app_guid.clone())
            .ok_or_else(|| ApiError::not_found("Deployment"))?;
        if actor.is_client
            && self
                .faults
                .fire_eq(&app_guid, &Fault::OperatorContinuesFirst)
        {
            // The operator's request is answered on its own; ours then meets
            // the state it left (DeploymentContinue locks the row first).
            let _ = self.continue_deployment(guid, World::human_actor());
        }
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
        let steps = d.canary_steps_requested.as_ref().map(Vec::len);
        let ts = Utc::now();
        match steps {
            Some(n) if (d.canary_current_step as usize) < n => {
                d.canary_current_step += 1;
                d.set_status(DeploymentState::Prepaused, "ACTIVE", "DEPLOYING", ts);
            }
            _ => d.set_status(DeploymentState::Deploying, "ACTIVE", "DEPLOYING", ts),
        }
        let (app, droplet) = (d.app_guid.clone(), d.droplet_guid.clone());
        self.record_deployment_action(
            crate::audit::types::APP_DEPLOYMENT_CONTINUE,
            guid,
            &droplet,
            &app,
            &actor,
        );
        Ok(())
    }

    /// Destroy the old web processes, restart the others, mark DEPLOYED.
    fn finalize(&mut self, guid: &str, app_guid: &str, new_guid: &str, now: Instant) {
        let ts = Utc::now();
        let droplet = self.deployments.get(guid).map(|d| d.droplet_guid.clone());
        for g in self.processes.guids_for_app(app_guid) {
            if let Some(p) = self.processes.get_mut(&g) {
                if p.destroyed || p.guid == new_guid {
                    continue;
                }
                if p.kind == "web" {
                    p.destroyed = true;
                } else {
                    p.restart(now);
                    p.droplet_guid = droplet.clone();
                }
                p.updated_at = ts;
            }
        }
        if let Some(d) = self.deployments.get_mut(guid) {
            d.error = None;
            d.set_status(DeploymentState::Deployed, "FINALIZED", "DEPLOYED", ts);
        }
        // A crash-after-deploy droplet's countdown starts now.
        self.arm_crashes(new_guid, now);
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
        // Cancel#find_interim_web_process (deployment_updater/actions/
        // cancel.rb): the newest process of a SUPERSEDED deployment that had
        // finished (state DEPLOYED) with a running instance; a superseded
        // canary (state CANCELED) never counts.
        let interim = self
            .deployments
            .for_app(&app_guid)
            .filter(|d| d.state == DeploymentState::Deployed && d.status_reason == "SUPERSEDED")
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
