//! The sweep's settings, read once per container from the environment. A
//! missing or bad value stops the function at start-up naming the variable.

use restager_shared::config::{ConfigError, Env, ScopeSettings, WorkerSettings};
use restager_shared::startup::{AdapterSettings, LambdaSettings};

/// Everything the sweep reads from its environment.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    pub lambda: LambdaSettings,
    /// Which apps a run may touch (`RESTAGER_ORGS_*`, `RESTAGER_SPACES_*`).
    pub scope: ScopeSettings,
}

impl SweepConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            lambda: LambdaSettings::from_env(env, "set it to the SQS jobs queue's URL")?,
            scope: ScopeSettings::from_env(env)?,
        })
    }

    /// The sweep only queues, so it deploys nothing to pace.
    pub fn adapters(&self) -> AdapterSettings {
        self.lambda.adapters(&WorkerSettings::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_everything_and_names_what_is_missing() {
        let mut vars = test_support::env::lambda_env();
        vars.insert("RESTAGER_ORGS_DENY", "system");
        let cfg = SweepConfig::from_env(&Env(&vars)).expect("valid");
        assert_eq!(cfg.scope.orgs_deny, vec!["system".to_string()]);
        assert_eq!(cfg.lambda.ledger_table, "restager-ledger");
        vars.insert("RESTAGER_WINDOW_CUTOFF", "later");
        let err = SweepConfig::from_env(&Env(&vars)).expect_err("bad cutoff");
        assert_eq!(err.name(), "RESTAGER_WINDOW_CUTOFF", "{err}");
        vars.remove("RESTAGER_WINDOW_CUTOFF");
        vars.remove("RESTAGER_LEDGER_TABLE");
        let err = SweepConfig::from_env(&Env(&vars)).expect_err("table required");
        assert!(err.to_string().contains("RESTAGER_LEDGER_TABLE"), "{err}");
    }
}
