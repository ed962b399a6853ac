//! Settings come from the environment, with command-line flags layered on top,
//! and are parsed by the same typed readers the Lambda functions use.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use restager_shared::config::{
    CfSettings, ConfigError, Env, IntakeSettings, ProcessEnv, Secret, SlackSettings, Source,
    StorageSettings, WorkerSettings, listen_addr,
};
use restager_shared::startup::AdapterSettings;

/// Flags first, then the process environment.
pub struct Layered {
    flags: HashMap<&'static str, String>,
}

impl Layered {
    pub fn new(flags: Vec<(&'static str, String)>) -> Self {
        Self {
            flags: flags.into_iter().collect(),
        }
    }

    /// Adds a value only if neither a flag nor the environment sets it (the demo's embedded defaults).
    pub fn default_value(&mut self, name: &'static str, value: impl Into<String>) {
        if !self.flags.contains_key(name) && ProcessEnv.get(name).is_none() {
            self.flags.insert(name, value.into());
        }
    }

    /// Forces a value (the demo points at its own simulator whatever the environment says).
    pub fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.flags.insert(name, value.into());
    }
}

impl Source for Layered {
    fn get(&self, name: &str) -> Option<String> {
        self.flags
            .get(name)
            .cloned()
            .or_else(|| ProcessEnv.get(name))
    }
}

/// Everything `serve` (and the demo, which runs the same thing) reads, parsed
/// and checked before anything starts, so a bad value never surfaces halfway.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub cf: CfSettings,
    pub worker: WorkerSettings,
    pub intake: IntakeSettings,
    pub slack: SlackSettings,
    pub storage: StorageSettings,
    pub listen: SocketAddr,
    pub http: HttpLimits,
    /// The admin API's token; `None` turns `/runs` off.
    pub admin_token: Option<Secret>,
    /// How often `serve` asks every unfinished run's wave gate (the
    /// Lambda deployment's tick schedule does it there).
    pub tick_interval: Duration,
}

impl ServeSettings {
    pub const TICK_INTERVAL: &'static str = "RESTAGER_TICK_INTERVAL";
}

/// How long `restager serve` waits for a client and how many it holds, so
/// a slow or stalled client cannot keep a connection (or a shutdown) open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The request line and headers must arrive within this; the
    /// connection is closed otherwise (also an idle keep-alive connection).
    pub header_read_timeout: Duration,
    /// The whole body must arrive within this after the headers (408).
    pub body_read_timeout: Duration,
    /// Connections held at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// How long a shutdown waits for requests in progress before closing
    /// the connections that are left.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 256,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl HttpLimits {
    pub const HEADER_READ_TIMEOUT: &'static str = "RESTAGER_HEADER_READ_TIMEOUT";
    pub const BODY_READ_TIMEOUT: &'static str = "RESTAGER_BODY_READ_TIMEOUT";
    pub const MAX_CONNECTIONS: &'static str = "RESTAGER_MAX_CONNECTIONS";
    pub const SHUTDOWN_GRACE: &'static str = "RESTAGER_SHUTDOWN_GRACE";

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let positive = |name: &'static str, value: Duration| {
            if value.is_zero() {
                Err(ConfigError::Invalid {
                    name,
                    value: "0s".into(),
                    expected: "a duration above zero such as 10s",
                })
            } else {
                Ok(value)
            }
        };
        Ok(Self {
            header_read_timeout: positive(
                Self::HEADER_READ_TIMEOUT,
                env.duration(Self::HEADER_READ_TIMEOUT, d.header_read_timeout)?,
            )?,
            body_read_timeout: positive(
                Self::BODY_READ_TIMEOUT,
                env.duration(Self::BODY_READ_TIMEOUT, d.body_read_timeout)?,
            )?,
            max_connections: env.at_least(Self::MAX_CONNECTIONS, d.max_connections, 1)?,
            shutdown_grace: env.duration(Self::SHUTDOWN_GRACE, d.shutdown_grace)?,
        })
    }
}

impl ServeSettings {
    pub fn read(source: &dyn Source) -> Result<Self, ConfigError> {
        let env = Env(source);
        Ok(Self {
            cf: CfSettings::from_env(&env)?,
            worker: WorkerSettings::from_env(&env)?,
            intake: IntakeSettings::from_env(&env)?,
            slack: SlackSettings::from_env(&env)?,
            storage: StorageSettings::from_env(&env),
            listen: listen_addr(&env)?,
            http: HttpLimits::from_env(&env)?,
            admin_token: admin_token(&env)?,
            tick_interval: match env.duration(Self::TICK_INTERVAL, Duration::from_secs(30))? {
                d if d.is_zero() => {
                    return Err(ConfigError::Invalid {
                        name: Self::TICK_INTERVAL,
                        value: "0s".into(),
                        expected: "a duration above zero such as 30s",
                    });
                }
                d => d,
            },
        })
    }

    /// The adapters to wire (SQS / DynamoDB when configured, else embedded).
    pub fn adapters(&self) -> AdapterSettings {
        AdapterSettings::new(
            self.cf.clone(),
            self.storage.clone(),
            self.slack.clone(),
            &self.worker,
        )
    }
}

/// The admin API's token (`serve` checks it, `status --server` sends it).
pub const ADMIN_TOKEN: &str = "RESTAGER_ADMIN_TOKEN";
/// The `restager serve` other commands talk to instead of the ledger.
pub const SERVER_URL: &str = "RESTAGER_SERVER_URL";
/// Shorter tokens are refused: the token is all that guards `/runs`.
const ADMIN_TOKEN_MIN: usize = 16;

/// `RESTAGER_ADMIN_TOKEN`, checked: 16 or more visible ASCII characters.
pub fn admin_token(env: &Env) -> Result<Option<Secret>, ConfigError> {
    let Some(token) = env.optional_secret(ADMIN_TOKEN) else {
        return Ok(None);
    };
    let bad = |reason: &'static str| ConfigError::InvalidSecret {
        name: ADMIN_TOKEN,
        position: 1,
        count: 1,
        reason,
        expected: "16 or more visible ASCII characters, e.g. from `openssl rand -hex 32`",
    };
    let value = token.expose();
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("it has spaces or characters other than visible ASCII"));
    }
    if value.len() < ADMIN_TOKEN_MIN {
        return Err(bad("it is shorter than 16 characters"));
    }
    Ok(Some(token))
}

/// What a command that can talk to a running serve reads.
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    /// `RESTAGER_SERVER_URL` / `--server`: talk to this serve.
    pub server_url: Option<String>,
    pub token: Option<Secret>,
}

impl ClientSettings {
    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            server_url: env.raw(SERVER_URL),
            token: admin_token(env)?,
        })
    }
}
