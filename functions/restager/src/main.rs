//! `restager`: the same engine as the Lambda functions, as one process.
//! Thin: parse the command line, run the command (settings → adapters in
//! `restager_shared::startup` → the command), map the result to an exit code.

mod admin;
mod cli;
mod commands;
mod local_server;
mod logging;
mod render;
mod running;
mod runs;
mod server;
mod settings;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match commands::run(cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err((message, code)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}
