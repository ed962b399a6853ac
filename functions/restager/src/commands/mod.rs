//! One module per subcommand. Each reads its settings, wires the ports
//! `shared` provides, calls the business logic there and prints the result.

pub mod control;
pub mod demo;
pub mod notify;
pub mod outdated;
pub mod plan;
pub mod serve;
pub mod status;
pub mod sweep;

use std::path::Path;

use restager_shared::cf::CfClient;
use restager_shared::config::{CfSettings, ConfigError, Env, ScopeSettings, Source};
use restager_shared::domain::Notice;
use restager_shared::intake;
use restager_shared::rollout::Command as RunCommand;

use crate::cli::{Cli, Command, SettingFlags};
use crate::logging;
use crate::settings;
use restager_shared::startup::{self, StartupError};

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

/// An adapter that could not be built is a run-time failure (exit code 1);
/// the message says what was being set up.
impl From<StartupError> for CommandError {
    fn from(e: StartupError) -> Self {
        CommandError::Failed(e.to_string())
    }
}

impl CommandError {
    /// A run-time failure with what we were doing when it happened.
    pub fn failed(doing: &str, err: impl std::fmt::Display) -> Self {
        CommandError::Failed(format!("{doing}: {err}"))
    }
}

impl CommandError {
    /// 2 for usage and configuration errors, 1 for everything that went wrong at run time.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Config(_) | CommandError::Usage(_) => 2,
            CommandError::Failed(_) => 1,
        }
    }
}

/// Runs the command the command line names, on a multi-threaded runtime,
/// with settings from its flags layered over the environment. An error comes
/// back as the operator should read it, with its exit code.
pub fn run(cli: Cli) -> Result<(), (String, u8)> {
    let Cli {
        command,
        settings: flags,
    } = cli;
    let format = flags
        .log_format
        .clone()
        .or_else(|| std::env::var(logging::LOG_FORMAT).ok());
    if let Err(err) = logging::init(matches!(command, Command::Serve), format.as_deref()) {
        return Err((err.to_string(), 2));
    }
    dispatch(command, &flags).map_err(|err| (shown(&err, &flags), err.exit_code()))
}

fn dispatch(command: Command, flags: &SettingFlags) -> Result<(), CommandError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::failed("cannot start the async runtime", e))?;
    let overrides = flags.overrides();
    runtime.block_on(async move {
        let mut env = settings::Layered::new(overrides);
        match command {
            Command::Demo(args) => demo::run(&mut env, args).await,
            Command::Serve => serve::run(&env).await,
            Command::Plan(args) => plan::run(&env, args).await,
            Command::Outdated(args) => outdated::run(&env, args).await,
            Command::Sweep(args) => sweep::run(&env, args).await,
            Command::Status(args) => status::run(&env, args).await,
            Command::Notify(args) => notify::run(&env, args).await,
            Command::Pause(args) => control::run(&env, RunCommand::Pause, args).await,
            Command::Resume(args) => control::run(&env, RunCommand::Resume, args).await,
            Command::Abort(args) => control::run(&env, RunCommand::Abort, args).await,
        }
    })
}

/// The error as the operator should read it: a bad value given as a flag
/// is named by that flag, with its variable in brackets.
fn shown(err: &CommandError, flags: &SettingFlags) -> String {
    let text = err.to_string();
    match err {
        CommandError::Config(config) => match flags.flag_for(config.name()) {
            Some(flag) => format!(
                "{} (the flag for {})",
                text.replacen(config.name(), flag, 1),
                config.name()
            ),
            None => text,
        },
        _ => text,
    }
}

/// A `--notice` file (`plan`, `notify`), checked by the receiver's own parser.
fn read_notice(path: &Path) -> Result<Notice, CommandError> {
    let body = std::fs::read(path).map_err(|e| {
        CommandError::Usage(format!(
            "cannot read the notice file {}: {e}",
            path.display()
        ))
    })?;
    intake::notice::parse(&body).map_err(|e| {
        CommandError::Usage(format!(
            "{} is not a valid notice: {e} (see shared/schema/notice.schema.json)",
            path.display()
        ))
    })
}

/// A client of the foundation and the scope of what may be touched in it:
/// what the commands that only look at apps (`outdated`, `sweep --dry-run`) read.
fn foundation_in_scope(source: &dyn Source) -> Result<(CfClient, ScopeSettings), CommandError> {
    let env = Env(source);
    let cf_settings = CfSettings::from_env(&env)?;
    let scope = ScopeSettings::from_env(&env)?;
    Ok((startup::cf_client(&cf_settings)?, scope))
}
