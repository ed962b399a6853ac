//! `restager outdated`: apps whose droplet was staged with an older buildpack
//! than the one installed in the foundation — the maintenance backlog.

use restager_shared::config::Source;
use restager_shared::discovery::{self, OutdatedApp};
use serde::Serialize;

use super::CommandError;
use crate::cli::OutputArgs;
use crate::render::{place, print_json, table};

pub async fn run(source: &dyn Source, args: OutputArgs) -> Result<(), CommandError> {
    let (cf, scope) = super::foundation_in_scope(source)?;
    let apps = discovery::outdated(&cf, &scope)
        .await
        .map_err(|e| CommandError::failed("cannot list the outdated apps", e))?;
    let now = chrono::Utc::now();
    let rows: Vec<Row> = apps
        .iter()
        .map(|o| Row::of(o, o.next_window(now, scope.windows.cutoff)))
        .collect();
    if args.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("Every app runs the installed version of its buildpack.");
        return Ok(());
    }
    println!(
        "{}",
        table(
            &[
                "app",
                "org/space",
                "buildpack",
                "stack",
                "droplet",
                "installed",
                "next window",
                "restager sweep",
            ],
            rows.iter().map(|r| {
                vec![
                    r.app.clone(),
                    place(&r.org, &r.space),
                    r.buildpack.clone(),
                    r.stack.clone().unwrap_or_default(),
                    r.current_version.clone(),
                    r.installed_version.clone(),
                    r.next_window.clone(),
                    match &r.reason {
                        Some(why) => format!("skipped: {why}"),
                        None => "will be queued".to_string(),
                    },
                ]
            }),
        )
    );
    let queued = rows.iter().filter(|r| r.reason.is_none()).count();
    let skipped = rows.len() - queued;
    println!(
        "{} behind the installed buildpack: `restager sweep` queues {} and skips {} (reasons above).",
        count(rows.len(), "app is", "apps are"),
        count(queued, "restage", "restages"),
        count(skipped, "app", "apps"),
    );
    Ok(())
}

/// `1 app is`, `3 apps are`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One outdated app as printed (`--json` prints a list of these).
#[derive(Debug, Serialize)]
struct Row {
    app: String,
    app_guid: String,
    org: String,
    space: String,
    buildpack: String,
    stack: Option<String>,
    current_version: String,
    installed_version: String,
    /// What `restager sweep` does with it, as `plan` would say: `queued`,
    /// or `skipped` with the reason.
    sweep: &'static str,
    reason: Option<String>,
    /// Its maintenance window (`restager.io/window` on its space or org,
    /// else `RESTAGER_WINDOW`); `None`: at any time.
    window: Option<String>,
    /// When its restage may next start, in the window's zone (as
    /// `aptible maintenance:apps` shows it).
    next_window: String,
    slack_channel: Option<String>,
}

impl Row {
    fn of(o: &OutdatedApp, next_window: String) -> Self {
        Self {
            app: o.app.name.clone(),
            app_guid: o.app.guid.clone(),
            org: o.app.org_name.clone(),
            space: o.app.space_name.clone(),
            buildpack: o.buildpack.clone(),
            stack: o.stack.clone(),
            current_version: o.current.to_string(),
            installed_version: o.installed.to_string(),
            sweep: if o.blocked.is_some() {
                "skipped"
            } else {
                "queued"
            },
            reason: o.blocked.clone(),
            window: o.window.clone(),
            next_window,
            slack_channel: o.slack_channel.clone(),
        }
    }
}
