//! Instance life as Diego runs it: STARTING for the app's start-up time,
//! then RUNNING; an instance of a crashing droplet crashes, and Diego
//! restarts it by its restart policy (bbs models/restart_calculator.go: the
//! first two crashes at once, then after `crash_backoff × 2^(n−3)`, capped at
//! 32×, never after 200). Each crash reaches CC as Diego's crash callback and
//! is recorded as an `audit.app.process.crash` event (`crate::audit`).
//!
//! Two kinds of crashing instances:
//! - `Fault::InstancesCrash`: every instance crashes as it starts and stays
//!   CRASHED (one crash each; a simplification kept for existing tests);
//! - a crash-after-deploy droplet (`Fault::CrashAfterDeploy`): its web
//!   instances run normally through the rollout; `after` past the moment the
//!   deployment finalized (or a canary paused) they crash, and from then on
//!   crash again each time they have run `after` since Diego restarted them.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use crate::audit::Crash;
use crate::model::{InstanceState, Process};
use crate::world::World;

/// BBS DefaultImmediateRestarts / DefaultMaxRestarts / max backoff exponent
/// (16 min ÷ 30 s = 2^5).
const IMMEDIATE_RESTARTS: u32 = 3;
const MAX_RESTARTS: u32 = 200;
const MAX_BACKOFF_EXPONENT: u32 = 5;

/// One instance at a moment: its state, when that run started, and every
/// crash so far.
pub(crate) struct Life {
    pub state: InstanceState,
    /// Start of the current run (uptime counts from here).
    pub since: Instant,
    pub crashes: Vec<Instant>,
}

/// `RestartCalculator#ShouldRestart` as a delay: `None` once Diego gives up.
fn restart_delay(crash_count: u32, unit: Duration) -> Option<Duration> {
    if crash_count < IMMEDIATE_RESTARTS {
        Some(Duration::ZERO)
    } else if crash_count < MAX_RESTARTS {
        let exp = (crash_count - IMMEDIATE_RESTARTS).min(MAX_BACKOFF_EXPONENT);
        Some(unit * (1u32 << exp))
    } else {
        None
    }
}

/// How many of a process's instances are in each state at one moment.
#[derive(Default)]
pub(crate) struct InstanceCounts {
    pub running: u32,
    pub starting: u32,
    pub crashed: u32,
    pub down: u32,
}

impl World {
    /// Tallies [`instance_life`](Self::instance_life) over every instance of `p`.
    pub(crate) fn instance_counts(
        &self,
        p: &Process,
        app_started: bool,
        now: Instant,
    ) -> InstanceCounts {
        let mut counts = InstanceCounts::default();
        for i in 0..p.instance_starts.len() {
            let count = match self.instance_life(p, i, app_started, now).state {
                InstanceState::Running => &mut counts.running,
                InstanceState::Starting => &mut counts.starting,
                InstanceState::Crashed => &mut counts.crashed,
                InstanceState::Down => &mut counts.down,
            };
            *count += 1;
        }
        counts
    }

    /// State of instance `index` of `p` at `now`.
    pub(crate) fn instance_life(
        &self,
        p: &Process,
        index: usize,
        app_started: bool,
        now: Instant,
    ) -> Life {
        let Some(&start) = p.instance_starts.get(index) else {
            return Life {
                state: InstanceState::Down,
                since: now,
                crashes: Vec::new(),
            };
        };
        if !app_started {
            return Life {
                state: InstanceState::Down,
                since: start,
                crashes: Vec::new(),
            };
        }
        let startup = self.instance_startup_for(&p.app_guid);
        let after = p
            .droplet_guid
            .as_deref()
            .and_then(|d| self.bad_droplets.get(d))
            .copied()
            .filter(|_| p.kind == "web");
        let plan = match (p.crashing, after, p.crash_anchor) {
            (true, _, _) => Some((Duration::ZERO, None)),
            (false, Some(after), Some(anchor)) => Some((after, Some(anchor))),
            _ => None,
        };
        let mut crashes = Vec::new();
        let mut since = start;
        loop {
            let running_at = since + startup;
            if now < running_at {
                return Life {
                    state: InstanceState::Starting,
                    since,
                    crashes,
                };
            }
            let Some((after, anchor)) = plan else {
                return Life {
                    state: InstanceState::Running,
                    since,
                    crashes,
                };
            };
            // The first crash comes `after` past the rollout (or past this
            // instance's start, if later); later ones `after` past each restart.
            let crash_at = match anchor {
                Some(anchor) if crashes.is_empty() => anchor.max(running_at) + after,
                _ => running_at + after,
            };
            if now < crash_at {
                return Life {
                    state: InstanceState::Running,
                    since,
                    crashes,
                };
            }
            crashes.push(crash_at);
            let count = u32::try_from(crashes.len()).unwrap_or(u32::MAX);
            // InstancesCrash: crashed for good.
            let delay = if anchor.is_none() {
                None
            } else {
                restart_delay(count, self.cfg.crash_backoff)
            };
            match delay {
                Some(d) if crash_at + d <= now => since = crash_at + d,
                _ => {
                    return Life {
                        state: InstanceState::Crashed,
                        since: crash_at,
                        crashes,
                    };
                }
            }
        }
    }

    /// Watch a process for crashes if it can crash: InstancesCrash, or a web
    /// process of a crash-after-deploy droplet (armed now, if not yet).
    pub(crate) fn arm_crashes(&mut self, process_guid: &str, now: Instant) {
        let Some(p) = self.processes.get(process_guid) else {
            return;
        };
        let bad = p.kind == "web"
            && p.droplet_guid
                .as_deref()
                .is_some_and(|d| self.bad_droplets.contains_key(d));
        if !bad && !p.crashing {
            return;
        }
        if bad
            && let Some(p) = self.processes.get_mut(process_guid)
            && p.crash_anchor.is_none()
        {
            p.crash_anchor = Some(now);
        }
        if !self.crash_watch.iter().any(|g| g == process_guid) {
            self.crash_watch.push(process_guid.to_owned());
        }
    }

    /// Watch a new process whose instances crash as they start (InstancesCrash).
    pub(crate) fn arm_crashes_if_crashing(&mut self, process_guid: &str, _now: Instant) {
        let crashing = self.processes.get(process_guid).is_some_and(|p| p.crashing);
        if crashing && !self.crash_watch.iter().any(|g| g == process_guid) {
            self.crash_watch.push(process_guid.to_owned());
        }
    }

    /// Record every crash that happened up to `now` (Diego's crash callbacks),
    /// oldest first.
    pub(crate) fn advance_instances(&mut self, now: Instant) {
        if self.crash_watch.is_empty() {
            return;
        }
        let mut due: Vec<(Instant, Crash)> = Vec::new();
        let mut counts: Vec<(String, usize, u32)> = Vec::new();
        for guid in &self.crash_watch {
            let Some(p) = self.processes.get(guid).filter(|p| !p.destroyed) else {
                continue;
            };
            let started = self
                .apps
                .get(&p.app_guid)
                .is_some_and(|a| a.state == crate::model::AppState::Started);
            for i in 0..p.instance_starts.len() {
                let life = self.instance_life(p, i, started, now);
                let recorded = p.crash_recorded.get(i).copied().unwrap_or(0) as usize;
                if life.crashes.len() <= recorded {
                    continue;
                }
                for (n, at) in life.crashes.iter().enumerate().skip(recorded) {
                    due.push((
                        *at,
                        Crash {
                            process_guid: p.guid.clone(),
                            process_type: p.kind.clone(),
                            index: i,
                            crash_count: u32::try_from(n + 1).unwrap_or(u32::MAX),
                            at: Utc::now(),
                        },
                    ));
                }
                counts.push((
                    p.guid.clone(),
                    i,
                    u32::try_from(life.crashes.len()).unwrap_or(u32::MAX),
                ));
            }
        }
        self.crash_watch
            .retain(|g| self.processes.get(g).is_some_and(|p| !p.destroyed));
        for (guid, i, n) in counts {
            if let Some(p) = self.processes.get_mut(&guid)
                && let Some(slot) = p.crash_recorded.get_mut(i)
            {
                *slot = n;
            }
        }
        due.sort_by_key(|(at, _)| *at);
        let wall_now = Utc::now();
        for (at, mut crash) in due {
            let ago =
                chrono::Duration::from_std(now.saturating_duration_since(at)).unwrap_or_default();
            crash.at = wall_now - ago;
            self.record_crash(&crash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diego_restart_policy() {
        let unit = Duration::from_secs(30);
        assert_eq!(restart_delay(1, unit), Some(Duration::ZERO));
        assert_eq!(restart_delay(2, unit), Some(Duration::ZERO));
        assert_eq!(restart_delay(3, unit), Some(unit));
        assert_eq!(restart_delay(4, unit), Some(unit * 2));
        assert_eq!(restart_delay(8, unit), Some(Duration::from_secs(16 * 60)));
        assert_eq!(restart_delay(50, unit), Some(Duration::from_secs(16 * 60)));
        assert_eq!(restart_delay(199, unit), Some(Duration::from_secs(16 * 60)));
        assert_eq!(restart_delay(200, unit), None);
    }
}
