//! The tick's settings, read once per container from the environment.

use restager_shared::config::{ConfigError, Env, WorkerSettings};
use restager_shared::startup::{AdapterSettings, LambdaSettings};

/// Everything the tick reads from its environment.
#[derive(Debug, Clone)]
pub struct TickConfig {
    pub lambda: LambdaSettings,
    /// `RESTAGER_MAX_IN_FLIGHT` and the rest: a soak rollback deploys as the worker would.
    pub worker: WorkerSettings,
}

impl TickConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            lambda: LambdaSettings::from_env(env, "set it to the SQS jobs queue's URL")?,
            worker: WorkerSettings::from_env(env)?,
        })
    }

    pub fn adapters(&self) -> AdapterSettings {
        self.lambda.adapters(&self.worker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_missing() {
        let mut vars = test_support::env::lambda_env();
        vars.insert("RESTAGER_MAX_IN_FLIGHT", "3");
        let cfg = TickConfig::from_env(&Env(&vars)).expect("valid");
        assert_eq!(cfg.worker.max_in_flight, 3);
        vars.remove("RESTAGER_QUEUE_URL");
        let err = TickConfig::from_env(&Env(&vars)).expect_err("queue required");
        assert!(err.to_string().contains("RESTAGER_QUEUE_URL"), "{err}");
    }
}
