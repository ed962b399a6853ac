//! `restager`: the same engine as the Lambda functions, as one process.
//! Thin: parse the command line, call `shared`, print, map to an exit code.

mod cli;
mod commands;
mod logging;
mod ports;
mod render;
mod server;
mod settings;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::CommandError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli
        .settings
        .log_format
        .clone()
        .or_else(|| std::env::var(logging::LOG_FORMAT).ok());
    if let Err(err) = logging::init(matches!(cli.command, Command::Serve), format.as_deref()) {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let flags = cli.settings;
    let overrides = flags.overrides();
    let result = runtime.block_on(async move {
        let mut env = settings::Layered::new(overrides);
        match cli.command {
            Command::Demo(args) => commands::demo::run(&mut env, args).await,
            Command::Serve => commands::serve::run(&env).await,
            Command::Plan(args) => commands::plan::run(&env, args).await,
            Command::Outdated(args) => commands::outdated::run(&env, args).await,
            Command::Sweep(args) => commands::sweep::run(&env, args).await,
            Command::Status(args) => commands::status::run(&env, args).await,
            Command::Notify(args) => commands::notify::run(&env, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", shown(&err, &flags));
            ExitCode::from(err.exit_code())
        }
    }
}

/// The error as the operator should read it: a bad value given as a flag
/// is named by that flag, with its variable in brackets.
fn shown(err: &CommandError, flags: &cli::SettingFlags) -> String {
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

impl CommandError {
    /// 2 for usage and configuration errors, 1 for everything that went wrong at run time.
    fn exit_code(&self) -> u8 {
        match self {
            CommandError::Config(_) | CommandError::Usage(_) => 2,
            CommandError::Failed(_) => 1,
        }
    }
}
