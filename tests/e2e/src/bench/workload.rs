//! The makespan workload: N apps spread over spaces, each with a staging
//! time and an instance start-up time drawn from seeded, realistic
//! distributions (in modelled seconds), its memory, and its history: what
//! its last staging and rollout took, which is this run's times off by a
//! seeded log-normal error (a restage of the same code with a newer
//! buildpack is never timed exactly alike); and the time scale that turns
//! modelled seconds into wall-clock time for the simulator.

use std::time::Duration;

use serde::Serialize;

use super::stats::Draws;

/// Spaces per org in the generated foundation.
const SPACES_PER_ORG: usize = 5;
/// Memory per instance (MB) and how common each is.
const MEMORY: [(u64, f64); 3] = [(256, 0.4), (512, 0.4), (1024, 0.2)];
/// Mixed into the seed for the draws added after the first ones (memory,
/// history), so the staging and start-up times stay those of earlier runs.
const SECOND_STREAM: u64 = 0x9e37_79b9_7f4a_7c15;

/// Web instance counts and how common each is.
const INSTANCES: [(u32, f64); 6] = [
    (1, 0.30),
    (2, 0.30),
    (3, 0.20),
    (4, 0.10),
    (5, 0.05),
    (6, 0.05),
];

/// Wall-clock milliseconds per modelled second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimeScale {
    pub ms_per_modelled_second: f64,
}

impl TimeScale {
    pub fn wall(self, modelled_secs: f64) -> Duration {
        Duration::from_secs_f64(modelled_secs * self.ms_per_modelled_second / 1000.0)
    }

    pub fn modelled(self, wall: Duration) -> f64 {
        wall.as_secs_f64() * 1000.0 / self.ms_per_modelled_second
    }
}

/// The distributions, in modelled seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Distributions {
    /// Log-normal staging time: median, shape, clamp.
    pub staging_median: f64,
    pub staging_sigma: f64,
    pub staging_range: (f64, f64),
    /// Log-normal start-up time of one instance.
    pub startup_median: f64,
    pub startup_sigma: f64,
    pub startup_range: (f64, f64),
    /// Shape of ln(last time ÷ this time): how far an app's history is
    /// from what its restage now takes.
    pub history_sigma: f64,
}

impl Default for Distributions {
    /// Buildpack staging of 1–5 minutes (dependency download + compile),
    /// instance start-up of 10 s to a minute (a JVM at the top end).
    fn default() -> Self {
        Self {
            staging_median: 120.0,
            staging_sigma: 0.4,
            staging_range: (60.0, 300.0),
            startup_median: 25.0,
            startup_sigma: 0.5,
            startup_range: (10.0, 60.0),
            history_sigma: 0.1,
        }
    }
}

/// One app of the workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppWork {
    pub name: String,
    pub org: String,
    pub space: String,
    pub instances: u32,
    /// Modelled seconds.
    pub staging: f64,
    pub startup: f64,
    pub memory_mb: u64,
    /// What the last staging and one instance's start-up took, modelled seconds.
    pub past_staging: f64,
    pub past_startup: f64,
}

impl AppWork {
    /// The rollout's own work with `max_in_flight` new instances at a time:
    /// one start-up per step (the updater's tick comes on top).
    pub fn rollout(&self, max_in_flight: u32) -> f64 {
        f64::from(self.instances.div_ceil(max_in_flight.max(1))) * self.startup
    }
}

/// `apps` apps over `spaces` spaces (5 per org), drawn from `seed`.
pub fn generate(apps: usize, spaces: usize, seed: u64, dist: &Distributions) -> Vec<AppWork> {
    let mut draws = Draws::new(seed);
    let mut more = Draws::new(seed ^ SECOND_STREAM);
    let spaces = spaces.max(1);
    let weights: Vec<f64> = INSTANCES.iter().map(|(_, w)| *w).collect();
    let memory_weights: Vec<f64> = MEMORY.iter().map(|(_, w)| *w).collect();
    (0..apps)
        .map(|i| {
            let space = draws.below(spaces);
            let instances = INSTANCES[draws.weighted(&weights)].0;
            let staging = draws.lognormal(
                dist.staging_median,
                dist.staging_sigma,
                dist.staging_range.0,
                dist.staging_range.1,
            );
            let startup = draws.lognormal(
                dist.startup_median,
                dist.startup_sigma,
                dist.startup_range.0,
                dist.startup_range.1,
            );
            let memory_mb = MEMORY[more.weighted(&memory_weights)].0;
            let past_staging = staging * (dist.history_sigma * more.normal()).exp();
            let past_startup = startup * (dist.history_sigma * more.normal()).exp();
            AppWork {
                name: format!("app-{i:05}"),
                org: format!("org-{:03}", space / SPACES_PER_ORG),
                space: format!("space-{space:03}"),
                instances,
                staging,
                startup,
                memory_mb,
                past_staging,
                past_startup,
            }
        })
        .collect()
}

/// Rounds `secs` up to the next multiple of `step` (the cf CLI notices a
/// phase's end on its next poll).
pub fn round_up(secs: f64, step: f64) -> f64 {
    if step <= 0.0 {
        return secs;
    }
    (secs / step).ceil() * step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_seeded_and_within_the_clamps() {
        let d = Distributions::default();
        let a = generate(500, 50, 1, &d);
        assert_eq!(a, generate(500, 50, 1, &d));
        assert!(a.iter().all(|w| (60.0..=300.0).contains(&w.staging)));
        assert!(a.iter().all(|w| (10.0..=60.0).contains(&w.startup)));
        assert!(a.iter().all(|w| (1..=6).contains(&w.instances)));
        let spaces: std::collections::HashSet<_> = a.iter().map(|w| &w.space).collect();
        assert!(spaces.len() > 40);
        assert!(a.iter().all(|w| [256, 512, 1024].contains(&w.memory_mb)));
        // History is near this run's times, not equal to them.
        let off = |w: &AppWork| (w.past_staging / w.staging).ln().abs();
        assert!(a.iter().all(|w| off(w) < 0.6));
        assert!(a.iter().any(|w| off(w) > 0.05));
    }

    #[test]
    fn cli_polls_round_phases_up() {
        assert_eq!(round_up(7.0, 3.0), 9.0);
        assert_eq!(round_up(9.0, 3.0), 9.0);
        assert_eq!(round_up(0.5, 3.0), 3.0);
    }
}
