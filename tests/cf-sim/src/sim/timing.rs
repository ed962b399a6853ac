//! Per-app timings, for benchmarks: how long one app's builds stage and how
//! long each of its new instances takes to start, instead of the
//! foundation-wide `SimConfig::{staging_duration, instance_startup}`; and,
//! afterwards, how long the foundation itself took for each client-made
//! build and deployment (by the simulator's clock, not the client's polls).
//!
//! A time scale is the caller's choice of units: draw modelled seconds, pass
//! them here (and as `SimConfig::tick` and the client's poll interval)
//! multiplied by the same factor, and divide the measured times by it.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{ActionError, CfSim};
use crate::model::BuildState;
use crate::world::World;

/// How one app behaves on this foundation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppTiming {
    /// How long a build of this app stays STAGING.
    pub staging: Duration,
    /// How long each new instance of this app stays STARTING.
    pub instance_startup: Duration,
}

/// The per-app overrides held by the world.
#[derive(Debug, Default)]
pub(crate) struct Timings {
    by_app: HashMap<String, AppTiming>,
}

impl World {
    /// How long a build of `app_guid` stages.
    pub(crate) fn staging_duration_for(&self, app_guid: &str) -> Duration {
        self.timings
            .by_app
            .get(app_guid)
            .map_or(self.cfg.staging_duration, |t| t.staging)
    }

    /// How long a new instance of `app_guid` takes to start.
    pub(crate) fn instance_startup_for(&self, app_guid: &str) -> Duration {
        self.timings
            .by_app
            .get(app_guid)
            .map_or(self.cfg.instance_startup, |t| t.instance_startup)
    }
}

/// One client-made build or deployment: when it was created and when it
/// settled (STAGED/FAILED, or FINALIZED), `None` while it has not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseTimes {
    /// The build's or deployment's guid (to find its polls in the request log).
    pub guid: String,
    pub created: DateTime<Utc>,
    pub settled: Option<DateTime<Utc>>,
}

impl PhaseTimes {
    /// `settled − created`, once settled.
    pub fn took(&self) -> Option<Duration> {
        self.settled
            .and_then(|s| s.signed_duration_since(self.created).to_std().ok())
    }
}

/// The client-made builds and deployments of one app, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestageTimes {
    pub builds: Vec<PhaseTimes>,
    pub deployments: Vec<PhaseTimes>,
}

impl CfSim {
    /// Give one app its own staging and instance start-up times (builds and
    /// instances started from now on use them).
    pub fn set_app_timing(&self, app_guid: &str, timing: AppTiming) -> Result<(), ActionError> {
        let mut w = self.shared.lock();
        if w.apps.get(app_guid).is_none() {
            return Err(ActionError::UnknownApp(app_guid.to_owned()));
        }
        w.timings.by_app.insert(app_guid.to_owned(), timing);
        Ok(())
    }

    /// When this app's client-made builds and deployments started and
    /// settled. A build settles exactly its staging time after creation (the
    /// simulator only notices on its next request or tick, which is not the
    /// foundation's doing); a deployment finalizes on an updater tick.
    pub fn restage_times(&self, app_guid: &str) -> Option<RestageTimes> {
        let w = self.shared.lock();
        w.apps.get(app_guid)?;
        let staging = w.staging_duration_for(app_guid);
        let builds = phases_oldest_first(w.builds.for_app(app_guid), |b| {
            b.created_by.is_client.then(|| PhaseTimes {
                guid: b.guid.clone(),
                created: b.created_at,
                settled: (b.state != BuildState::Staging).then(|| {
                    chrono::Duration::from_std(staging).map_or(b.updated_at, |d| b.created_at + d)
                }),
            })
        });
        let deployments = phases_oldest_first(w.deployments.for_app(app_guid), |d| {
            d.created_by.is_client.then(|| PhaseTimes {
                guid: d.guid.clone(),
                created: d.created_at,
                settled: (d.status_value == "FINALIZED").then_some(d.last_status_change),
            })
        });
        Some(RestageTimes {
            builds,
            deployments,
        })
    }
}

/// The phases `phase` gives (`None` skips a row), oldest first.
fn phases_oldest_first<T>(
    rows: impl Iterator<Item = T>,
    phase: impl Fn(T) -> Option<PhaseTimes>,
) -> Vec<PhaseTimes> {
    let mut phases: Vec<PhaseTimes> = rows.filter_map(phase).collect();
    phases.sort_by_key(|p| p.created);
    phases
}
