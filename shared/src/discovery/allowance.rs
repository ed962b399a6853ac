//! How many rolling restages a space's quota holds at once: quota numbers
//! in, allowances out. Pure; `quotas` reads the numbers.
//!
//! Cloud Controller checks memory and instances against both the space's
//! quota and its org's, whichever runs out first (ProcessModel's
//! `AppMaxMemoryPolicy` and `MaxAppInstancesPolicy` for each,
//! app/models/runtime/process_model.rb:246-252). What counts as used is
//! every STARTED process's memory × instances (`Space#memory_used`,
//! `Organization#memory_used`; running tasks too) and instances
//! (max_app_instances_policy.rb). A rolling restage starts a new web
//! process with `max_in_flight` instances beside the old one and only then
//! scales the old one down (deployment_create.rb `starting_process_instances`,
//! deployment_updater/actions/up_scaler.rb), so while it rolls it needs
//! `max_in_flight` instances of the app's memory on top. Staging is checked
//! against what remains but not counted as used
//! (quota_validating_staging_memory_calculator.rb), and needs no more than
//! one instance's memory, so the rollout is what binds.
//!
//! A space gets 1 whatever its headroom (restager's behaviour without
//! quota readings: a refusal defers the job), and more only while every
//! one of its restages would fit at once in its own quota, and all of the
//! org's spaces' restages together in the org's quota: the org's headroom
//! first pays for every space's first restage, then the rest goes one
//! extra restage at a time to the spaces with the most jobs per restage.

/// A quota's limits that restages run into; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory_mb: Option<u64>,
    pub instances: Option<u64>,
}

/// What counts against a quota now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub memory_mb: u64,
    pub instances: u64,
}

/// What one rolling restage holds on top while it rolls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Need {
    pub memory_mb: u64,
    pub instances: u64,
}

impl Need {
    /// `max_in_flight` instances of `memory_mb`.
    pub fn rolling(max_in_flight: u32, memory_mb: u64) -> Self {
        let mif = u64::from(max_in_flight.max(1));
        Self {
            memory_mb: mif.saturating_mul(memory_mb),
            instances: mif,
        }
    }
}

/// One space with jobs in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceDemand {
    /// The run's jobs in the space.
    pub jobs: usize,
    /// What each of its restages needs (its largest app's).
    pub need: Need,
    /// The space quota's limits (unlimited without a space quota).
    pub limits: Limits,
    pub usage: Usage,
}

/// Headroom in one dimension; `None` is unlimited. Signed: usage can be
/// over the limit (a quota lowered under running apps).
fn room(limit: Option<u64>, used: u64) -> Option<i128> {
    limit.map(|l| i128::from(l) - i128::from(used))
}

/// How many `need`s fit in `room` (`None`: as many as asked).
fn fits(room: Option<i128>, need: u64) -> Option<i128> {
    match (room, need) {
        (None, _) | (_, 0) => None,
        (Some(r), n) => Some(r.max(0) / i128::from(n)),
    }
}

/// The restages at once each of one org's `spaces` may have, in order, each
/// at least 1 and at most `cap` (and at most its jobs).
pub fn allowances(
    org_limits: Limits,
    org_usage: Usage,
    spaces: &[SpaceDemand],
    cap: usize,
) -> Vec<usize> {
    let cap = cap.max(1);
    // What each space's own quota holds.
    let own: Vec<usize> = spaces
        .iter()
        .map(|s| {
            let memory = fits(
                room(s.limits.memory_mb, s.usage.memory_mb),
                s.need.memory_mb,
            );
            let instances = fits(
                room(s.limits.instances, s.usage.instances),
                s.need.instances,
            );
            let most = [memory, instances]
                .into_iter()
                .flatten()
                .min()
                .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
            most.min(cap).min(s.jobs.max(1))
        })
        .collect();
    let mut memory = room(org_limits.memory_mb, org_usage.memory_mb);
    let mut instances = room(org_limits.instances, org_usage.instances);
    let spend = |room: &mut Option<i128>, n: u64| {
        if let Some(r) = room {
            *r -= i128::from(n);
        }
    };
    let affords = |room: Option<i128>, n: u64| room.is_none_or(|r| r >= i128::from(n));
    // Every space's first restage runs anyway; it is paid for first.
    for s in spaces {
        spend(&mut memory, s.need.memory_mb);
        spend(&mut instances, s.need.instances);
    }
    let mut granted = vec![1usize; spaces.len()];
    loop {
        // The space with the most jobs per restage that can take one more.
        let next = (0..spaces.len())
            .filter(|&i| granted[i] < own[i])
            .filter(|&i| {
                affords(memory, spaces[i].need.memory_mb)
                    && affords(instances, spaces[i].need.instances)
            })
            .max_by(|&a, &b| {
                // jobs_a / granted_a vs jobs_b / granted_b, without division;
                // the earlier space wins a tie.
                let lhs = spaces[a].jobs as u128 * granted[b] as u128;
                let rhs = spaces[b].jobs as u128 * granted[a] as u128;
                lhs.cmp(&rhs).then(b.cmp(&a))
            });
        let Some(i) = next else {
            return granted;
        };
        granted[i] += 1;
        spend(&mut memory, spaces[i].need.memory_mb);
        spend(&mut instances, spaces[i].need.instances);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNLIMITED: Limits = Limits {
        memory_mb: None,
        instances: None,
    };

    fn memory(limit: u64) -> Limits {
        Limits {
            memory_mb: Some(limit),
            instances: None,
        }
    }

    fn used(memory_mb: u64, instances: u64) -> Usage {
        Usage {
            memory_mb,
            instances,
        }
    }

    fn space(jobs: usize, app_mb: u64, limits: Limits, usage: Usage) -> SpaceDemand {
        SpaceDemand {
            jobs,
            need: Need::rolling(1, app_mb),
            limits,
            usage,
        }
    }

    #[test]
    fn the_space_quota_says_how_many_fit() {
        // 10 GiB quota, 7 GiB used: two 1 GiB instances fit beside, not four.
        let roomy = space(5, 1024, memory(10_240), used(7_168, 7));
        assert_eq!(allowances(UNLIMITED, Usage::default(), &[roomy], 4), [3]);
        assert_eq!(allowances(UNLIMITED, Usage::default(), &[roomy], 2), [2]);
        // Room for one extra instance only: one restage, as without a reading.
        let tight = space(5, 1024, memory(10_240), used(9_216, 9));
        assert_eq!(allowances(UNLIMITED, Usage::default(), &[tight], 2), [1]);
        // Full, or over (a quota lowered under running apps): still 1.
        let full = space(5, 1024, memory(10_240), used(12_288, 12));
        assert_eq!(allowances(UNLIMITED, Usage::default(), &[full], 2), [1]);
    }

    #[test]
    fn never_more_than_the_jobs_nor_the_cap_and_never_less_than_one() {
        let free = space(1, 512, UNLIMITED, used(0, 0));
        assert_eq!(allowances(UNLIMITED, Usage::default(), &[free], 2), [1]);
        let busy = space(9, 512, UNLIMITED, used(0, 0));
        assert_eq!(allowances(UNLIMITED, Usage::default(), &[busy], 2), [2]);
        assert_eq!(allowances(UNLIMITED, Usage::default(), &[busy], 0), [1]);
    }

    #[test]
    fn an_org_quota_that_binds_before_the_space_quota_wins() {
        // The space alone would take two; the org has room for one restage
        // (its first), so the space gets 1.
        let s = space(4, 1024, memory(20_480), used(4_096, 4));
        let org = memory(51_200);
        assert_eq!(allowances(org, used(50_000, 40), &[s], 2), [1]);
        // Room in the org for two: the space quota is what is left to bind.
        assert_eq!(allowances(org, used(49_000, 40), &[s], 2), [2]);
    }

    #[test]
    fn the_org_pays_every_spaces_first_restage_then_the_busiest_get_more() {
        // Three spaces without space quotas in an org with room for four
        // 1 GiB instances: three firsts, one extra to the busiest space.
        let org = memory(10_240);
        let spaces = [
            space(2, 1024, UNLIMITED, used(2_048, 2)),
            space(6, 1024, UNLIMITED, used(2_048, 2)),
            space(3, 1024, UNLIMITED, used(2_048, 2)),
        ];
        assert_eq!(allowances(org, used(6_144, 6), &spaces, 2), [1, 2, 1]);
        // Room for six: everyone who has a second job gets a second restage.
        assert_eq!(allowances(org, used(4_096, 6), &spaces, 2), [2, 2, 2]);
    }

    #[test]
    fn instances_bind_like_memory_and_max_in_flight_multiplies_the_need() {
        let limits = Limits {
            memory_mb: None,
            instances: Some(12),
        };
        let s = SpaceDemand {
            jobs: 8,
            need: Need::rolling(2, 256),
            limits,
            usage: used(0, 8),
        };
        // 4 instances free, 2 per restage.
        assert_eq!(allowances(UNLIMITED, Usage::default(), &[s], 4), [2]);
        let org_instances = Limits {
            memory_mb: None,
            instances: Some(100),
        };
        // The org has 3 free: the first restage's 2, then nothing.
        assert_eq!(allowances(org_instances, used(0, 97), &[s], 4), [1]);
        assert_eq!(Need::rolling(0, 256), Need::rolling(1, 256));
    }
}
