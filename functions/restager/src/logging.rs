//! Log lines on stderr. `serve` logs, at the default level, one line per
//! accepted notice, per finished restage and per refused request, each under
//! its own target so any one can be turned up or off with `RUST_LOG`:
//!
//! | target | one line per |
//! |---|---|
//! | `restager::accepted` | notice accepted (route, delivery id, notice, run id, queued), replay or duplicate |
//! | `restager::restage` | restage finished (app, org/space, outcome, duration) or handed back |
//! | `restager::refused` | request or connection refused (route, status, reason, delivery id, client) |
//!
//! Other commands print their own output and log only warnings. `RUST_LOG`
//! replaces the default filter entirely; `RESTAGER_LOG_FORMAT=json` writes
//! one JSON object per line. Colours only when stderr is a terminal and
//! `NO_COLOR` is unset.

use std::io::IsTerminal;

use restager_shared::config::ConfigError;
use tracing_subscriber::EnvFilter;

pub const LOG_FORMAT: &str = "RESTAGER_LOG_FORMAT";

/// The default filter of `serve`: warnings, plus the three line kinds.
pub const SERVE_FILTER: &str =
    "warn,restager::accepted=info,restager::restage=info,restager::refused=info";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// Sets up the subscriber. `format` is `--log-format` or `RESTAGER_LOG_FORMAT`.
pub fn init(serving: bool, format: Option<&str>) -> Result<(), ConfigError> {
    let format = match format.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("text") => Format::Text,
        Some("json") => Format::Json,
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: LOG_FORMAT,
                value: other.chars().take(64).collect(),
                expected: "json or text",
            });
        }
    };
    let default = if serving { SERVE_FILTER } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // NO_COLOR counts when set to anything but the empty string (no-color.org).
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = std::io::stderr().is_terminal() && !no_color;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let installed = match format {
        Format::Text => builder.try_init(),
        Format::Json => builder.json().try_init(),
    };
    // Only fails when a subscriber is already set (never in this binary).
    if let Err(e) = installed {
        eprintln!("warning: logging was already set up: {e}");
    }
    Ok(())
}
