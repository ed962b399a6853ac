//! The tick's settings, read once per container from the environment.

use restager_shared::config::{
    CfSettings, ConfigError, Env, SlackSettings, StorageSettings, WorkerSettings,
};
use restager_shared::startup::AdapterSettings;

/// Everything the tick reads from its environment.
#[derive(Debug, Clone)]
pub struct TickConfig {
    pub cf: CfSettings,
    pub slack: SlackSettings,
    /// `RESTAGER_MAX_IN_FLIGHT` and the rest: a soak rollback deploys as the worker would.
    pub worker: WorkerSettings,
    pub queue_url: String,
    pub ledger_table: String,
}

impl TickConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let (queue_url, ledger_table) =
            StorageSettings::from_env(env).on_aws("set it to the SQS jobs queue's URL")?;
        Ok(Self {
            cf: CfSettings::from_env(env)?,
            slack: SlackSettings::from_env(env)?,
            worker: WorkerSettings::from_env(env)?,
            queue_url,
            ledger_table,
        })
    }

    /// SQS and DynamoDB, Slack when configured.
    pub fn adapters(&self) -> AdapterSettings {
        AdapterSettings::on_aws(
            &self.cf,
            &self.queue_url,
            &self.ledger_table,
            &self.slack,
            &self.worker,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn names_what_is_missing() {
        let mut vars = HashMap::from([
            ("CF_API_URL", "https://api.sys.example.com"),
            ("CF_CLIENT_ID", "restager"),
            ("CF_CLIENT_SECRET", "s3cret"),
            (
                "RESTAGER_QUEUE_URL",
                "https://sqs.eu-west-1.amazonaws.com/1/jobs.fifo",
            ),
            ("RESTAGER_LEDGER_TABLE", "restager-ledger"),
            ("RESTAGER_MAX_IN_FLIGHT", "3"),
        ]);
        let cfg = TickConfig::from_env(&Env(&vars)).expect("valid");
        assert_eq!(cfg.worker.max_in_flight, 3);
        vars.remove("RESTAGER_QUEUE_URL");
        let err = TickConfig::from_env(&Env(&vars)).expect_err("queue required");
        assert!(err.to_string().contains("RESTAGER_QUEUE_URL"), "{err}");
    }
}
