//! The worker's settings, read once per container from the environment.
//! A missing or bad value is a start-up error naming the variable.

use restager_shared::config::{ConfigError, Env, WorkerSettings};
use restager_shared::startup::{AdapterSettings, LambdaSettings};

/// Everything the worker reads from its environment.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The queue is also used for ChangeMessageVisibility (back-off).
    pub lambda: LambdaSettings,
    pub worker: WorkerSettings,
}

impl WorkerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            lambda: LambdaSettings::from_env(
                env,
                "set it to the jobs queue's URL (the worker sets message visibility for back-off)",
            )?,
            worker: WorkerSettings::from_env(env)?,
        })
    }

    pub fn adapters(&self) -> AdapterSettings {
        self.lambda.adapters(&self.worker)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn base() -> HashMap<&'static str, &'static str> {
        test_support::env::lambda_env()
    }

    #[test]
    fn reads_everything_and_names_bad_variables() {
        let cfg = WorkerConfig::from_env(&Env(&base())).expect("valid");
        assert_eq!(cfg.worker, WorkerSettings::default());
        assert_eq!(cfg.lambda.ledger_table, "restager-ledger");

        let mut missing = base();
        missing.remove("RESTAGER_QUEUE_URL");
        let err = WorkerConfig::from_env(&Env(&missing)).expect_err("queue url required");
        assert!(err.to_string().contains("RESTAGER_QUEUE_URL"), "{err}");

        let mut bad = base();
        bad.insert("RESTAGER_POLL_INTERVAL", "often");
        let err = WorkerConfig::from_env(&Env(&bad)).expect_err("bad duration");
        assert!(err.to_string().contains("RESTAGER_POLL_INTERVAL"), "{err}");
    }
}
