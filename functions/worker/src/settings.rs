//! The worker's settings, read once per container from the environment.
//! A missing or bad value is a start-up error naming the variable.

use restager_shared::config::{
    CfSettings, ConfigError, Env, SlackSettings, StorageSettings, WindowSettings, WorkerSettings,
};
use restager_shared::startup::AdapterSettings;

/// Everything the worker reads from its environment.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub cf: CfSettings,
    pub worker: WorkerSettings,
    pub slack: SlackSettings,
    /// When new builds may start.
    pub window: WindowSettings,
    /// `RESTAGER_QUEUE_URL`: the jobs queue, for ChangeMessageVisibility.
    pub queue_url: String,
    /// `RESTAGER_LEDGER_TABLE`: the DynamoDB ledger table.
    pub ledger_table: String,
}

impl WorkerConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let (cf, worker, slack) = (
            CfSettings::from_env(env)?,
            WorkerSettings::from_env(env)?,
            SlackSettings::from_env(env)?,
        );
        let window = WindowSettings::from_env(env)?;
        let (queue_url, ledger_table) = StorageSettings::from_env(env).on_aws(
            "set it to the jobs queue's URL (the worker sets message visibility for back-off)",
        )?;
        Ok(Self {
            cf,
            worker,
            slack,
            window,
            queue_url,
            ledger_table,
        })
    }

    /// The adapters to wire: SQS and DynamoDB, Slack when configured.
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

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("CF_API_URL", "https://api.sys.example.com"),
            ("CF_CLIENT_ID", "restager"),
            ("CF_CLIENT_SECRET", "s3cret"),
            (
                "RESTAGER_QUEUE_URL",
                "https://sqs.eu-west-1.amazonaws.com/1/jobs.fifo",
            ),
            ("RESTAGER_LEDGER_TABLE", "restager-ledger"),
        ])
    }

    #[test]
    fn reads_everything_and_names_bad_variables() {
        let cfg = WorkerConfig::from_env(&Env(&base())).expect("valid");
        assert_eq!(cfg.worker, WorkerSettings::default());
        assert_eq!(cfg.ledger_table, "restager-ledger");

        let mut missing = base();
        missing.remove("RESTAGER_QUEUE_URL");
        let err = WorkerConfig::from_env(&Env(&missing)).expect_err("queue url required");
        assert!(err.to_string().contains("RESTAGER_QUEUE_URL"), "{err}");

        let mut bad = base();
        bad.insert("RESTAGER_POLL_INTERVAL", "often");
        let err = WorkerConfig::from_env(&Env(&bad)).expect_err("bad duration");
        assert!(err.to_string().contains("RESTAGER_POLL_INTERVAL"), "{err}");

        assert_eq!(cfg.window, Default::default());
        let mut bad_window = base();
        bad_window.insert("RESTAGER_WINDOW", "Sat 02:00-06:00 Europe/Berlim");
        let err = WorkerConfig::from_env(&Env(&bad_window)).expect_err("bad zone");
        assert_eq!(err.name(), "RESTAGER_WINDOW", "{err}");
        assert!(err.to_string().contains("IANA"), "{err}");
    }
}
