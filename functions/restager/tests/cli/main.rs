//! The `restager` command's tests: one test binary, run against the built
//! binary (`CARGO_BIN_EXE_restager`).

mod support;

mod config_errors;
mod restager_cli;
