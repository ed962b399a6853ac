//! The makespan foundation's quotas, so that quota awareness is exercised,
//! not assumed: every space has a space quota that binds, holding the
//! rollouts of two restages at once in about half the spaces and of one in
//! the rest, and in a quarter of the orgs an org quota binds before the
//! space quotas do (it pays for one restage in each of its spaces and one
//! more). Each limit leaves half a restage's memory spare, so a restage the
//! allowance does not count on never fits by luck.

use std::collections::BTreeMap;

use cf_sim::{CfSim, QuotaLimits};
use serde::Serialize;

use super::BenchError;
use super::stats::Draws;
use super::workload::AppWork;

/// Mixed into the seed for the quota draws.
const QUOTA_STREAM: u64 = 0x51ed_2701_a3c4_8b19;

/// What was applied.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    /// Spaces whose own quota holds two restages' rollouts, and one.
    pub spaces_fit_two: usize,
    pub spaces_fit_one: usize,
    /// Orgs whose quota binds before their spaces' quotas.
    pub orgs_binding: usize,
}

#[derive(Default)]
struct Usage {
    memory_mb: u64,
    largest_mb: u64,
}

pub fn apply(
    sim: &CfSim,
    work: &[AppWork],
    max_in_flight: u32,
    seed: u64,
) -> Result<Applied, BenchError> {
    let mif = u64::from(max_in_flight.max(1));
    let mut spaces: BTreeMap<(&str, &str), Usage> = BTreeMap::new();
    for w in work {
        let u = spaces
            .entry((w.org.as_str(), w.space.as_str()))
            .or_default();
        u.memory_mb += u64::from(w.instances) * w.memory_mb;
        u.largest_mb = u.largest_mb.max(w.memory_mb);
    }
    let mut draws = Draws::new(seed ^ QUOTA_STREAM);
    let mut applied = Applied::default();
    let mut orgs: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for ((org, space), u) in &spaces {
        let need = mif * u.largest_mb;
        let fit = if draws.unit() < 0.5 { 2 } else { 1 };
        if fit == 2 {
            applied.spaces_fit_two += 1;
        } else {
            applied.spaces_fit_one += 1;
        }
        let limit = u.memory_mb + fit * need + need / 2;
        sim.set_space_quota(
            org,
            space,
            QuotaLimits {
                memory_mb: Some(limit),
                instances: None,
            },
        )
        .map_err(|e| BenchError::Setup(format!("space quota of {org}/{space}: {e}")))?;
        let o = orgs.entry(org).or_default();
        o.0 += u.memory_mb;
        o.1 += need;
        o.2 = o.2.max(need);
    }
    for (org, (used, firsts, largest)) in orgs {
        if draws.unit() >= 0.25 {
            continue;
        }
        applied.orgs_binding += 1;
        sim.set_org_quota(
            org,
            QuotaLimits {
                memory_mb: Some(used + firsts + largest + largest / 2),
                instances: None,
            },
        )
        .map_err(|e| BenchError::Setup(format!("org quota of {org}: {e}")))?;
    }
    Ok(applied)
}
