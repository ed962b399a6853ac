//! How new droplets reach an app's instances (`RESTAGER_STRATEGY`,
//! `RESTAGER_CANARY_STEPS`). The worker deploys this way; the planner reads
//! the same settings to warn beforehand where a Cloud Controller cannot.

use super::{ConfigError, Env};

/// How new droplets are rolled out (`RESTAGER_STRATEGY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeployStrategy {
    #[default]
    Rolling,
    /// Cloud Controller's canary: pause after the first instances, verify
    /// them, continue (3.173+; steps 3.189+).
    Canary,
}

impl std::str::FromStr for DeployStrategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rolling" => Ok(Self::Rolling),
            "canary" => Ok(Self::Canary),
            other => Err(format!("`{other}` is not a strategy")),
        }
    }
}

/// The strategy and, for a canary, its steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploySettings {
    pub strategy: DeployStrategy,
    /// Canary instance weights in percent, rising; empty: Cloud Controller's
    /// single pause after one instance.
    pub canary_steps: Vec<u32>,
}

impl DeploySettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            strategy: env.parsed(
                "RESTAGER_STRATEGY",
                DeployStrategy::default(),
                "rolling or canary",
            )?,
            canary_steps: canary_steps(env)?,
        })
    }

    pub fn is_canary(&self) -> bool {
        self.strategy == DeployStrategy::Canary
    }

    /// The steps as configured (`10,50`), for notes that name the setting.
    pub fn steps_setting(&self) -> String {
        let steps: Vec<String> = self.canary_steps.iter().map(u32::to_string).collect();
        steps.join(",")
    }
}

/// `10,50`: instance weights in percent, each above the one before, each 1–100.
fn canary_steps(env: &Env) -> Result<Vec<u32>, ConfigError> {
    const EXPECTED: &str = "rising instance weights between 1 and 100, such as 10,50";
    let invalid = || ConfigError::Invalid {
        name: "RESTAGER_CANARY_STEPS",
        value: env.raw("RESTAGER_CANARY_STEPS").unwrap_or_default(),
        expected: EXPECTED,
    };
    let mut steps: Vec<u32> = Vec::new();
    for item in env.list("RESTAGER_CANARY_STEPS") {
        let weight: u32 = item.trim_end_matches('%').parse().map_err(|_| invalid())?;
        if !(1..=100).contains(&weight) || steps.last().is_some_and(|last| *last >= weight) {
            return Err(invalid());
        }
        steps.push(weight);
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn deploy(pairs: &[(&str, &str)]) -> Result<DeploySettings, ConfigError> {
        let src: HashMap<&str, &str> = pairs.iter().copied().collect();
        DeploySettings::from_env(&Env(&src))
    }

    #[test]
    fn strategy_and_canary_steps() {
        let d = deploy(&[]).expect("defaults");
        assert_eq!(d.strategy, DeployStrategy::Rolling);
        assert!(d.canary_steps.is_empty() && !d.is_canary());
        let s = deploy(&[
            ("RESTAGER_STRATEGY", "Canary"),
            ("RESTAGER_CANARY_STEPS", "10, 50%"),
        ])
        .expect("valid");
        assert!(s.is_canary());
        assert_eq!(s.canary_steps, vec![10, 50]);
        assert_eq!(s.steps_setting(), "10,50");
        for bad in ["50,10", "0", "101", "ten"] {
            let err = deploy(&[("RESTAGER_CANARY_STEPS", bad)]).expect_err(bad);
            assert!(err.to_string().contains("RESTAGER_CANARY_STEPS"), "{err}");
        }
        let err = deploy(&[("RESTAGER_STRATEGY", "blue-green")]).expect_err("unknown strategy");
        assert!(err.to_string().contains("rolling or canary"), "{err}");
    }
}
