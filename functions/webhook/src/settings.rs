//! The webhook's settings, read once per container from the environment. A
//! missing or bad value stops the function at start-up with a message that
//! names the variable, instead of failing every delivery later.

use restager_shared::config::{ConfigError, Env, IntakeSettings, WorkerSettings};
use restager_shared::signature::standard_webhooks;
use restager_shared::startup::{AdapterSettings, LambdaSettings};

/// Everything the webhook reads from its environment.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub lambda: LambdaSettings,
    pub intake: IntakeSettings,
}

impl WebhookConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let intake = IntakeSettings::from_env(env)?;
        if intake.github_secrets.is_empty() && intake.notice_secrets.is_empty() {
            return Err(ConfigError::Missing {
                name: "RESTAGER_GITHUB_SECRETS",
                hint: "set it (GitHub webhook secrets) and/or RESTAGER_NOTICE_SECRETS (whsec_ secrets): \
                       without a secret no delivery can be verified",
            });
        }
        // A secret that does not decode would refuse every notice; refuse it now.
        if intake
            .notice_secrets
            .iter()
            .any(|s| standard_webhooks::decode_secret(s).is_err())
        {
            return Err(ConfigError::Invalid {
                name: "RESTAGER_NOTICE_SECRETS",
                value: "[redacted]".into(),
                expected: "whsec_ followed by the base64 key (24 to 64 random bytes)",
            });
        }
        Ok(Self {
            lambda: LambdaSettings::from_env(env, "set it to the SQS jobs queue's URL")?,
            intake,
        })
    }

    /// The webhook only queues, so it deploys nothing to pace.
    pub fn adapters(&self) -> AdapterSettings {
        self.lambda.adapters(&WorkerSettings::default())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn base() -> HashMap<&'static str, &'static str> {
        let mut vars = test_support::env::lambda_env();
        vars.insert("RESTAGER_GITHUB_SECRETS", "gh-secret-1,gh-secret-0");
        vars
    }

    #[test]
    fn reads_everything_and_names_what_is_wrong_without_echoing_secrets() {
        let cfg = WebhookConfig::from_env(&Env(&base())).expect("valid");
        assert_eq!(cfg.intake.github_secrets.len(), 2);
        assert_eq!(
            cfg.lambda.queue_url,
            "https://sqs.eu-west-1.amazonaws.com/1/jobs.fifo"
        );
        assert!(!format!("{cfg:?}").contains("gh-secret-1"));

        let mut none = base();
        none.remove("RESTAGER_GITHUB_SECRETS");
        let err = WebhookConfig::from_env(&Env(&none)).expect_err("a secret is required");
        assert!(err.to_string().contains("RESTAGER_NOTICE_SECRETS"), "{err}");

        let mut bad = base();
        bad.insert("RESTAGER_NOTICE_SECRETS", "whsec_!!!not-base64!!!");
        let err = WebhookConfig::from_env(&Env(&bad)).expect_err("undecodable secret");
        assert!(err.to_string().contains("RESTAGER_NOTICE_SECRETS"), "{err}");
        assert!(!err.to_string().contains("not-base64"), "{err}");

        let mut no_queue = base();
        no_queue.remove("RESTAGER_QUEUE_URL");
        let err = WebhookConfig::from_env(&Env(&no_queue)).expect_err("queue required");
        assert!(err.to_string().contains("RESTAGER_QUEUE_URL"), "{err}");

        assert!(cfg.intake.scope.windows.windows.is_always());
        let mut bad_window = base();
        bad_window.insert("RESTAGER_MIN_RELEASE_AGE", "a week");
        let err = WebhookConfig::from_env(&Env(&bad_window)).expect_err("bad release age");
        assert_eq!(err.name(), "RESTAGER_MIN_RELEASE_AGE", "{err}");
    }
}
