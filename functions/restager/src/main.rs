//! `restager`: the same engine as the Lambda functions, as one process.
//! Thin: parse the command line, call `shared`, print, map to an exit code.

mod cli;
mod commands;
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
    init_tracing();
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
    let result = runtime.block_on(async move {
        let mut env = settings::Layered::new(cli.settings.overrides());
        match cli.command {
            Command::Demo(args) => commands::demo::run(&mut env, args).await,
            Command::Serve => commands::serve::run(&env).await,
            Command::Plan(args) => commands::plan::run(&env, args).await,
            Command::Outdated(args) => commands::outdated::run(&env, args).await,
            Command::Sweep(args) => commands::sweep::run(&env, args).await,
            Command::Status(args) => commands::status::run(&env, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // Quiet by default: the commands print their own output; RUST_LOG opens it up.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
