//! One module per subcommand. Each reads its settings, wires the ports
//! `shared` provides, calls the business logic there and prints the result.

pub mod demo;
pub mod notify;
pub mod outdated;
pub mod plan;
pub mod serve;
pub mod status;
pub mod sweep;

use restager_shared::config::ConfigError;

/// Why a command stopped. The variant decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A missing or bad setting (exit code 2); the message names it and the fix.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command line asked for something impossible (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The work itself failed: a foundation unreachable, an app failed (exit code 1).
    #[error("{0}")]
    Failed(String),
}

impl CommandError {
    /// A run-time failure with what we were doing when it happened.
    pub fn failed(doing: &str, err: impl std::fmt::Display) -> Self {
        CommandError::Failed(format!("{doing}: {err}"))
    }
}
