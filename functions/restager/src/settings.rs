//! Settings come from the environment, with command-line flags layered on top,
//! and are parsed by the same typed readers the Lambda functions use.

use std::collections::HashMap;

use std::net::SocketAddr;

use restager_shared::config::{
    CfSettings, ConfigError, Env, IntakeSettings, ProcessEnv, SlackSettings, Source,
    StorageSettings, WorkerSettings, listen_addr,
};

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
        })
    }
}
