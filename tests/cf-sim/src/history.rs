//! A past restage in an app's history, for seeding: the build that staged
//! its live droplet and the rolling deployment that rolled it out, with
//! timestamps as Cloud Controller keeps them (whole seconds; the build's
//! row is created when staging starts and updated when STAGED, the
//! deployment's `last_status_change` is when it FINALIZED). What a
//! predictor of restage times reads.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::model::{Build, BuildOutcome, BuildState, Deployment, DeploymentState, LifecycleKind};
use crate::world::World;

/// How long the app's last staging and rollout took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastRestage {
    /// Its live droplet's build: created to STAGED.
    pub staging: Duration,
    /// Its last rolling deployment: created to FINALIZED (DEPLOYED).
    pub rollout: Duration,
    /// That deployment's `max_in_flight`.
    pub max_in_flight: u32,
}

/// Whole seconds, as CC's timestamps have them.
fn whole(d: Duration) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2))
}

impl World {
    /// Records `past` for `app_guid`, whose droplet went live at `staged`.
    pub(crate) fn seed_history(
        &mut self,
        app_guid: &str,
        past: &PastRestage,
        staged: DateTime<Utc>,
        now: Instant,
    ) {
        let Some(app) = self.apps.get(app_guid) else {
            return;
        };
        let Some(droplet_guid) = app.current_droplet.clone() else {
            return;
        };
        let Some(droplet) = self.droplets.get(&droplet_guid) else {
            return;
        };
        let Some(package_guid) = droplet.package_guid.clone() else {
            return;
        };
        let lifecycle = app.lifecycle;
        let buildpacks = if lifecycle == LifecycleKind::Buildpack {
            vec![app.detected_buildpack.clone()]
        } else {
            Vec::new()
        };
        let stack = app.stack.clone();
        let revision = app.latest_revision.clone();
        let webs = self.web_processes(app_guid);
        let instances = webs.last().map_or(0, |p| p.instances());
        let memory = webs.last().map_or(0, |p| p.memory_mb);
        let web_guid = webs.last().map(|p| p.guid.clone());
        let actor = World::human_actor();
        // The rollout ended before now (an app added "now" staged now).
        let gap = chrono::Duration::seconds(30);
        let staged = staged.min(Utc::now() - whole(past.rollout) - gap);
        let started = staged - whole(past.staging);
        let build_guid = self.guid();
        self.builds.insert(Build {
            guid: build_guid,
            app_guid: app_guid.to_owned(),
            package_guid,
            state: BuildState::Staged,
            error: None,
            droplet_guid: Some(droplet_guid.clone()),
            lifecycle,
            buildpacks,
            stack,
            staging_memory_mb: memory.max(self.cfg.staging_memory_mb),
            staging_disk_mb: 4096,
            created_by: actor.clone(),
            labels: Default::default(),
            annotations: Default::default(),
            created_at: started,
            updated_at: staged,
            settles_at: now,
            outcome: BuildOutcome::Succeed,
        });
        let deployed = staged + gap;
        let finalized = deployed + whole(past.rollout);
        let guid = self.guid();
        self.deployments.insert(Deployment {
            guid,
            app_guid: app_guid.to_owned(),
            state: DeploymentState::Deployed,
            status_value: "FINALIZED",
            status_reason: "DEPLOYED",
            error: None,
            strategy: "rolling".to_owned(),
            max_in_flight: past.max_in_flight.max(1),
            scaling: Default::default(),
            canary_steps_requested: None,
            revision,
            stopped_app: false,
            desired_instances: instances,
            original_web_instances: instances,
            droplet_guid,
            previous_droplet_guid: None,
            new_process_guid: web_guid,
            canary_current_step: 0,
            crash_error: None,
            created_by: actor,
            labels: Default::default(),
            annotations: Default::default(),
            created_at: deployed,
            updated_at: finalized,
            last_healthy_at: finalized,
            last_status_change: finalized,
            pending_human_push: false,
        });
    }
}
