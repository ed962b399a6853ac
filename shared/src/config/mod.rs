//! Typed settings, read once at start-up from environment variables.
//!
//! The Lambda functions and the `restager` command read the same names, so a
//! configuration tested locally works unchanged on AWS. A bad value is a
//! start-up error that names the variable and what it should look like.

mod capacity;
mod deploy;
mod env;
mod owners;
mod rollout;
mod secret;
mod window;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

pub use capacity::{CapacitySettings, DEFAULT_MAX_PER_SPACE};
pub use deploy::{DeploySettings, DeployStrategy};
pub use env::{Env, ProcessEnv, Source};
pub use owners::{SLACK_CHANNEL_ANNOTATION, slack_channel_id};
pub use rollout::{
    FailureBudget, RolloutSettings, SpacePattern, WAVE_LABEL, WAVES_SYNTAX, WaveSpec,
};
pub use secret::Secret;
pub use window::WindowSettings;

use crate::domain::{Action, NoticeKind};

impl ConfigError {
    /// The variable the error is about.
    pub fn name(&self) -> &'static str {
        match self {
            ConfigError::Missing { name, .. }
            | ConfigError::Invalid { name, .. }
            | ConfigError::InvalidSecret { name, .. }
            | ConfigError::InvalidWindow { name, .. } => name,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} is not set: {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("{name}=`{value}` is not valid: expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A secret that cannot be used; the value itself is never shown.
    #[error("{name}: secret {position} of {count} is unusable ({reason}): expected {expected}")]
    InvalidSecret {
        name: &'static str,
        position: usize,
        count: usize,
        reason: &'static str,
        expected: &'static str,
    },
    /// A maintenance window (or its cutoff) that cannot be used; `reason`
    /// says which part and shows the accepted syntax.
    #[error("{name}=`{value}` is not valid: {reason}")]
    InvalidWindow {
        name: &'static str,
        value: String,
        reason: crate::window::WindowError,
    },
}

/// How to reach Cloud Controller and UAA.
#[derive(Debug, Clone)]
pub struct CfSettings {
    /// The API root, e.g. `https://api.sys.example.com`.
    pub api_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// Only for lab foundations with self-signed certificates.
    pub skip_ssl_validation: bool,
}

impl CfSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let raw = env.required(
            "CF_API_URL",
            "set it to your foundation's API root, e.g. https://api.sys.example.com",
        )?;
        let api_url = match Url::parse(&raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "CF_API_URL",
                    value: raw.chars().take(64).collect(),
                    expected: "an http(s) URL such as https://api.sys.example.com",
                });
            }
        };
        Ok(Self {
            api_url,
            client_id: env.required(
                "CF_CLIENT_ID",
                "create a UAA client with client_credentials (see README, 'The UAA client')",
            )?,
            client_secret: env.secret("CF_CLIENT_SECRET", "set it to the UAA client's secret")?,
            skip_ssl_validation: env.flag("CF_SKIP_SSL_VALIDATION", false)?,
        })
    }
}

/// capi-release's `cc_deployment_updater` job: `update_frequency_in_seconds: 5`.
const DEFAULT_UPDATER_PERIOD: Duration = Duration::from_secs(5);

/// How the worker restages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// Jobs restaged at once within one process or invocation.
    pub max_concurrent_restages: usize,
    /// The deployment's `options.max_in_flight`.
    pub max_in_flight: u32,
    /// How often builds and deployments are polled (jitter is added).
    pub poll_interval: Duration,
    pub staging_timeout: Duration,
    pub deploy_timeout: Duration,
    /// After this many deliveries a retryable job is recorded as failed, so a
    /// run always completes.
    pub max_attempts: u32,
    /// How long a DEPLOYED app is watched for crashes before it counts as
    /// restaged; zero turns verification (and automatic rollback) off.
    pub verify_for: Duration,
    /// Rolling, or canary with its steps.
    pub deploy: DeploySettings,
    /// At most this many restages at once in one space
    /// (`RESTAGER_MAX_PER_SPACE`), whatever a job's allowance says.
    pub max_per_space: usize,
    /// Poll when a build or deployment is likely done, by the job's hints
    /// (`RESTAGER_PREDICTED_POLLING`); off polls on the fixed interval only.
    pub predicted_polling: bool,
    /// The foundation's `deployment_updater.update_frequency_in_seconds`
    /// (`RESTAGER_CC_UPDATER_PERIOD`, capi-release's 5 s by default): a
    /// predicted rollout is polled just after the updater's ticks once the
    /// worker has learned where they fall; `0s` never aims.
    pub updater_period: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            max_concurrent_restages: 10,
            max_in_flight: 1,
            poll_interval: Duration::from_secs(10),
            staging_timeout: Duration::from_secs(15 * 60),
            deploy_timeout: Duration::from_secs(10 * 60),
            max_attempts: 8,
            verify_for: Duration::from_secs(2 * 60),
            deploy: DeploySettings::default(),
            max_per_space: DEFAULT_MAX_PER_SPACE,
            predicted_polling: true,
            updater_period: DEFAULT_UPDATER_PERIOD,
        }
    }
}

impl WorkerSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            max_concurrent_restages: env.at_least(
                "RESTAGER_MAX_CONCURRENT_RESTAGES",
                d.max_concurrent_restages,
                1,
            )?,
            max_in_flight: env.at_least("RESTAGER_MAX_IN_FLIGHT", d.max_in_flight, 1)?,
            poll_interval: env.duration("RESTAGER_POLL_INTERVAL", d.poll_interval)?,
            staging_timeout: env.duration("RESTAGER_STAGING_TIMEOUT", d.staging_timeout)?,
            deploy_timeout: env.duration("RESTAGER_DEPLOY_TIMEOUT", d.deploy_timeout)?,
            max_attempts: env.at_least("RESTAGER_MAX_ATTEMPTS", d.max_attempts, 1)?,
            verify_for: env.duration_or_off("RESTAGER_VERIFY_FOR", d.verify_for)?,
            deploy: DeploySettings::from_env(env)?,
            max_per_space: CapacitySettings::from_env(env)?.max_per_space,
            predicted_polling: env.flag("RESTAGER_PREDICTED_POLLING", d.predicted_polling)?,
            updater_period: env.duration_or_off("RESTAGER_CC_UPDATER_PERIOD", d.updater_period)?,
        })
    }

    /// What discovery would need to plan for this worker.
    pub fn capacity(&self) -> CapacitySettings {
        CapacitySettings {
            max_per_space: self.max_per_space,
            max_in_flight: self.max_in_flight,
        }
    }
}

/// Which apps a run may touch, in which order (waves, budget) and how
/// their restages deploy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSettings {
    /// Org names; empty means all.
    pub orgs_allow: Vec<String>,
    pub orgs_deny: Vec<String>,
    /// Space names, optionally `org/space`; empty means all.
    pub spaces_allow: Vec<String>,
    pub spaces_deny: Vec<String>,
    pub rollout: RolloutSettings,
    /// The worker's [`WorkerSettings::deploy`], read here too so that a plan
    /// warns where this Cloud Controller cannot deploy that way.
    pub deploy: DeploySettings,
    /// When planned restages may start (`RESTAGER_WINDOW` and the rest),
    /// unless a space or org annotation says otherwise.
    pub windows: WindowSettings,
    /// How a space's quota headroom becomes its allowance of restages at once.
    pub capacity: CapacitySettings,
}

impl ScopeSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            orgs_allow: env.list("RESTAGER_ORGS_ALLOW"),
            orgs_deny: env.list("RESTAGER_ORGS_DENY"),
            spaces_allow: env.list("RESTAGER_SPACES_ALLOW"),
            spaces_deny: env.list("RESTAGER_SPACES_DENY"),
            rollout: RolloutSettings::from_env(env)?,
            deploy: DeploySettings::from_env(env)?,
            windows: WindowSettings::from_env(env)?,
            capacity: CapacitySettings::from_env(env)?,
        })
    }

    pub fn allows(&self, org: &str, space: &str) -> bool {
        let qualified = format!("{org}/{space}");
        let in_list =
            |list: &[String], name: &str| list.iter().any(|x| x == name || x == &qualified);
        if self.orgs_deny.iter().any(|o| o == org) || in_list(&self.spaces_deny, space) {
            return false;
        }
        (self.orgs_allow.is_empty() || self.orgs_allow.iter().any(|o| o == org))
            && (self.spaces_allow.is_empty() || in_list(&self.spaces_allow, space))
    }
}

/// What the webhook accepts and how notices map to actions.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// Any one may match (rotation).
    pub github_secrets: Vec<Secret>,
    /// Standard Webhooks `whsec_...` secrets; any one may match.
    pub notice_secrets: Vec<Secret>,
    pub accept_prereleases: bool,
    pub accept_drafts: bool,
    pub buildpack_action: Action,
    pub stack_action: Action,
    pub stemcell_action: Action,
    /// `owner/repo=buildpack_name` pairs for custom buildpacks.
    pub repo_map: Vec<(String, String)>,
    pub scope: ScopeSettings,
}

/// What an empty environment gives: no secret, so every notice is refused
/// until one is set; buildpacks and stacks restage, stemcells report only.
impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            github_secrets: Vec::new(),
            notice_secrets: Vec::new(),
            accept_prereleases: false,
            accept_drafts: false,
            buildpack_action: Action::Restage,
            stack_action: Action::Restage,
            stemcell_action: Action::None,
            repo_map: Vec::new(),
            scope: ScopeSettings::default(),
        }
    }
}

impl IntakeSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let secrets = |name| {
            env.list(name)
                .into_iter()
                .map(Secret::new)
                .collect::<Vec<_>>()
        };
        let github_secrets = secrets("RESTAGER_GITHUB_SECRETS");
        let notice_secrets = secrets("RESTAGER_NOTICE_SECRETS");
        // Every secret is decoded now, so a bad one stops start-up instead of
        // answering 500 to every notice later.
        for (n, secret) in notice_secrets.iter().enumerate() {
            let reason = if !secret.expose().starts_with("whsec_") {
                Some("it does not start with whsec_")
            } else {
                crate::signature::standard_webhooks::decode_secret(secret)
                    .err()
                    .map(|e| e.reason())
            };
            if let Some(reason) = reason {
                return Err(ConfigError::InvalidSecret {
                    name: "RESTAGER_NOTICE_SECRETS",
                    position: n + 1,
                    count: notice_secrets.len(),
                    reason,
                    expected: "comma-separated Standard Webhooks secrets, each whsec_ followed by the base64 of the key",
                });
            }
        }
        let mut repo_map = Vec::new();
        for pair in env.list("RESTAGER_REPO_MAP") {
            match pair.split_once('=') {
                Some((repo, bp)) if repo.contains('/') && !bp.trim().is_empty() => {
                    repo_map.push((repo.trim().to_string(), bp.trim().to_string()))
                }
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "RESTAGER_REPO_MAP",
                        value: pair.chars().take(64).collect(),
                        expected: "comma-separated owner/repo=buildpack_name pairs",
                    });
                }
            }
        }
        const ACTION: &str = "restage, restart or none";
        Ok(Self {
            github_secrets,
            notice_secrets,
            accept_prereleases: env.flag("RESTAGER_ACCEPT_PRERELEASES", d.accept_prereleases)?,
            accept_drafts: env.flag("RESTAGER_ACCEPT_DRAFTS", d.accept_drafts)?,
            buildpack_action: env.parsed(
                "RESTAGER_BUILDPACK_ACTION",
                d.buildpack_action,
                ACTION,
            )?,
            stack_action: env.parsed("RESTAGER_STACK_ACTION", d.stack_action, ACTION)?,
            stemcell_action: env.parsed("RESTAGER_STEMCELL_ACTION", d.stemcell_action, ACTION)?,
            repo_map,
            scope: ScopeSettings::from_env(env)?,
        })
    }

    pub fn action_for(&self, kind: NoticeKind) -> Action {
        match kind {
            NoticeKind::Buildpack => self.buildpack_action,
            NoticeKind::Stack => self.stack_action,
            NoticeKind::Stemcell => self.stemcell_action,
        }
    }
}

/// Slack Web API access; all optional: without them results go to the ledger and logs only.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub bot_token: Option<Secret>,
    pub channel: Option<String>,
    pub api_url: Url,
    pub signing_secret: Option<Secret>,
}

impl SlackSettings {
    pub const DEFAULT_API_URL: &'static str = "https://slack.com/api";

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let api_url = match env.raw("SLACK_API_URL") {
            None => Url::parse(Self::DEFAULT_API_URL).map_err(|_| ConfigError::Invalid {
                name: "SLACK_API_URL",
                value: Self::DEFAULT_API_URL.into(),
                expected: "an http(s) URL",
            })?,
            Some(raw) => match Url::parse(&raw) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => u,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "SLACK_API_URL",
                        value: raw.chars().take(64).collect(),
                        expected: "an http(s) URL such as https://slack.com/api",
                    });
                }
            },
        };
        let bot_token = env.optional_secret("SLACK_BOT_TOKEN");
        let channel = env.raw("SLACK_CHANNEL");
        match (&bot_token, &channel) {
            (Some(_), None) => Err(ConfigError::Missing {
                name: "SLACK_CHANNEL",
                hint: "SLACK_BOT_TOKEN is set; also set the channel id to post to (e.g. C0123456789)",
            }),
            (None, Some(_)) => Err(ConfigError::Missing {
                name: "SLACK_BOT_TOKEN",
                hint: "SLACK_CHANNEL is set; also set the bot token (xoxb-...)",
            }),
            _ => Ok(Self {
                bot_token,
                channel,
                api_url,
                signing_secret: env.optional_secret("SLACK_SIGNING_SECRET"),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.bot_token.is_some() && self.channel.is_some()
    }
}

/// Where jobs and run records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// SQS queue URL; unset means the embedded on-disk queue (local runner only).
    pub queue_url: Option<String>,
    /// DynamoDB table; unset means the embedded store (local runner only).
    pub ledger_table: Option<String>,
    /// Directory for the embedded queue and ledger.
    pub data_dir: PathBuf,
}

impl StorageSettings {
    /// On Lambda both are required: `(queue URL, table)`, else the first
    /// missing one named (`queue_hint` says what the queue is for).
    pub fn on_aws(self, queue_hint: &'static str) -> Result<(String, String), ConfigError> {
        let queue_url = self.queue_url.ok_or(ConfigError::Missing {
            name: "RESTAGER_QUEUE_URL",
            hint: queue_hint,
        })?;
        let ledger_table = self.ledger_table.ok_or(ConfigError::Missing {
            name: "RESTAGER_LEDGER_TABLE",
            hint: "set it to the DynamoDB ledger table's name",
        })?;
        Ok((queue_url, ledger_table))
    }

    pub fn from_env(env: &Env) -> Self {
        Self {
            queue_url: env.raw("RESTAGER_QUEUE_URL"),
            ledger_table: env.raw("RESTAGER_LEDGER_TABLE"),
            data_dir: env
                .raw("RESTAGER_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".restager")),
        }
    }
}

/// The local runner's listen address.
/// `RESTAGER_LISTEN`: an address such as `127.0.0.1:8080` or `[::1]:8080`,
/// or a host name and port (`localhost:8099`), resolved now; the first
/// address it resolves to is used.
pub fn listen_addr(env: &Env) -> Result<SocketAddr, ConfigError> {
    const NAME: &str = "RESTAGER_LISTEN";
    const EXPECTED: &str = "host:port, such as 127.0.0.1:8080, [::1]:8080 or localhost:8080";
    let Some(raw) = env.raw(NAME).filter(|v| !v.is_empty()) else {
        return Ok(SocketAddr::from(([127, 0, 0, 1], 8080)));
    };
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let invalid = |expected| ConfigError::Invalid {
        name: NAME,
        value: raw.chars().take(64).collect(),
        expected,
    };
    // Only `host:port` is looked up: a bare name or port is a typo, not a host.
    let has_port = raw
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !has_port {
        return Err(invalid(EXPECTED));
    }
    use std::net::ToSocketAddrs;
    match raw.to_socket_addrs().map(|mut found| found.next()) {
        Ok(Some(addr)) => Ok(addr),
        _ => Err(invalid(
            "host:port whose host resolves (check the name), such as localhost:8080",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn listen_addresses_take_host_names() {
        let at = |v: &'static str| listen_addr(&Env(&env(&[("RESTAGER_LISTEN", v)])));
        assert_eq!(
            at("127.0.0.1:8099"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 8099)))
        );
        let local = at("localhost:8099").expect("localhost resolves");
        assert!(local.ip().is_loopback() && local.port() == 8099, "{local}");
        for bad in [
            "localhost",
            "8099",
            ":8099",
            "localhost:http",
            "no-such-host.invalid:80",
        ] {
            let err = at(bad).expect_err(bad);
            assert_eq!(err.name(), "RESTAGER_LISTEN", "{bad}");
        }
        assert_eq!(
            listen_addr(&Env(&env(&[]))),
            Ok(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
    }

    #[test]
    fn worker_defaults_and_human_durations() {
        let src = env(&[
            ("RESTAGER_POLL_INTERVAL", "500ms"),
            ("RESTAGER_DEPLOY_TIMEOUT", "15m"),
        ]);
        let s = WorkerSettings::from_env(&Env(&src)).expect("valid");
        assert_eq!(s.poll_interval, Duration::from_millis(500));
        assert_eq!(s.deploy_timeout, Duration::from_secs(900));
        assert_eq!(s.max_concurrent_restages, 10);
        assert_eq!(s.max_in_flight, 1);
        assert_eq!(s.max_per_space, 2);
        assert!(s.predicted_polling);
        assert_eq!(s.updater_period, Duration::from_secs(5));
        let src = env(&[
            ("RESTAGER_MAX_PER_SPACE", "1"),
            ("RESTAGER_PREDICTED_POLLING", "false"),
            ("RESTAGER_CC_UPDATER_PERIOD", "0s"),
        ]);
        let s = WorkerSettings::from_env(&Env(&src)).expect("valid");
        assert_eq!(s.max_per_space, 1);
        assert!(!s.predicted_polling);
        assert!(s.updater_period.is_zero());
        let src = env(&[("RESTAGER_PREDICTED_POLLING", "sometimes")]);
        let err = WorkerSettings::from_env(&Env(&src)).expect_err("not a flag");
        assert_eq!(err.name(), "RESTAGER_PREDICTED_POLLING");
    }

    #[test]
    fn verification_window() {
        let d = WorkerSettings::from_env(&Env(&env(&[]))).expect("defaults");
        assert_eq!(d.verify_for, Duration::from_secs(120));
        assert_eq!(d.deploy, DeploySettings::default());
        let src = env(&[("RESTAGER_VERIFY_FOR", "0s")]);
        let s = WorkerSettings::from_env(&Env(&src)).expect("valid");
        assert_eq!(s.verify_for, Duration::ZERO);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let src = env(&[("RESTAGER_MAX_IN_FLIGHT", "0")]);
        let err = WorkerSettings::from_env(&Env(&src)).expect_err("zero is invalid");
        assert!(err.to_string().contains("RESTAGER_MAX_IN_FLIGHT"), "{err}");
        let src = env(&[("RESTAGER_STAGING_TIMEOUT", "soon")]);
        let err = WorkerSettings::from_env(&Env(&src)).expect_err("not a duration");
        assert!(
            err.to_string().contains("RESTAGER_STAGING_TIMEOUT"),
            "{err}"
        );
    }

    #[test]
    fn cf_settings_require_url_and_credentials_and_never_print_the_secret() {
        let err = CfSettings::from_env(&Env(&env(&[]))).expect_err("missing");
        assert!(err.to_string().contains("CF_API_URL"));
        let src = env(&[
            ("CF_API_URL", "https://api.example.com"),
            ("CF_CLIENT_ID", "restager"),
            ("CF_CLIENT_SECRET", "s3cret"),
        ]);
        let s = CfSettings::from_env(&Env(&src)).expect("valid");
        assert!(!s.skip_ssl_validation);
        assert!(!format!("{s:?}").contains("s3cret"));
        let bad = env(&[("CF_API_URL", "api.example.com")]);
        assert!(matches!(
            CfSettings::from_env(&Env(&bad)),
            Err(ConfigError::Invalid {
                name: "CF_API_URL",
                ..
            })
        ));
    }

    #[test]
    fn scope_allow_and_deny() {
        let scope = ScopeSettings {
            orgs_deny: vec!["system".into()],
            spaces_deny: vec!["acme/sandbox".into()],
            ..ScopeSettings::default()
        };
        assert!(scope.allows("acme", "prod"));
        assert!(!scope.allows("acme", "sandbox"));
        assert!(scope.allows("other", "sandbox"));
        assert!(!scope.allows("system", "prod"));
    }

    #[test]
    fn slack_token_without_channel_is_an_error() {
        let src = env(&[("SLACK_BOT_TOKEN", "xoxb-1")]);
        assert!(matches!(
            SlackSettings::from_env(&Env(&src)),
            Err(ConfigError::Missing {
                name: "SLACK_CHANNEL",
                ..
            })
        ));
        let s = SlackSettings::from_env(&Env(&env(&[]))).expect("all optional");
        assert!(!s.enabled());
    }
}
