//! How many rolling restages one space may have at once
//! (`RESTAGER_MAX_PER_SPACE`) and what each needs (`RESTAGER_MAX_IN_FLIGHT`
//! extra instances). Discovery turns a space's quota headroom into an
//! allowance with these; the worker caps every job's allowance again, so a
//! job planned under another setting never runs more than this one allows.

use super::{ConfigError, Env};

/// The default `RESTAGER_MAX_PER_SPACE`: two rolling restages where the
/// quota holds them. More buys little (a space's chain is rarely the
/// longest once its work is ordered longest first) and doubles what one
/// space's quota must hold.
pub const DEFAULT_MAX_PER_SPACE: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacitySettings {
    /// At most this many restages at once in one space (at least 1).
    pub max_per_space: usize,
    /// The deployments' `max_in_flight`: each rolling restage runs this
    /// many instances beyond the app's own while it rolls.
    pub max_in_flight: u32,
}

impl Default for CapacitySettings {
    fn default() -> Self {
        Self {
            max_per_space: DEFAULT_MAX_PER_SPACE,
            max_in_flight: 1,
        }
    }
}

impl CapacitySettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            max_per_space: env.at_least("RESTAGER_MAX_PER_SPACE", d.max_per_space, 1)?,
            max_in_flight: env.at_least("RESTAGER_MAX_IN_FLIGHT", d.max_in_flight, 1)?,
        })
    }

    /// `asked` (a job's allowance, 1 when it has none) within `1..=max_per_space`.
    pub fn cap(&self, asked: Option<u32>) -> usize {
        let asked = asked.map_or(1, |a| usize::try_from(a).unwrap_or(usize::MAX));
        asked.clamp(1, self.max_per_space.max(1))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(pairs: &[(&'static str, &'static str)]) -> Result<CapacitySettings, ConfigError> {
        let vars: HashMap<&str, &str> = pairs.iter().copied().collect();
        CapacitySettings::from_env(&Env(&vars))
    }

    #[test]
    fn defaults_and_bad_values_name_the_variable() {
        assert_eq!(read(&[]), Ok(CapacitySettings::default()));
        assert_eq!(
            read(&[("RESTAGER_MAX_PER_SPACE", "3")]).map(|c| c.max_per_space),
            Ok(3)
        );
        for bad in ["0", "two", "-1"] {
            let err = read(&[("RESTAGER_MAX_PER_SPACE", bad)]).expect_err(bad);
            assert_eq!(err.name(), "RESTAGER_MAX_PER_SPACE", "{bad}");
            assert!(err.to_string().contains("whole number"), "{err}");
        }
    }

    #[test]
    fn a_jobs_allowance_is_capped_both_ways() {
        let c = CapacitySettings {
            max_per_space: 2,
            max_in_flight: 1,
        };
        assert_eq!(c.cap(None), 1);
        assert_eq!(c.cap(Some(0)), 1);
        assert_eq!(c.cap(Some(2)), 2);
        assert_eq!(c.cap(Some(7)), 2);
    }
}
