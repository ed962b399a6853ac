//! `restager outdated`: apps whose droplet was staged with an older buildpack
//! than the one installed in the foundation — the maintenance backlog.

use restager_shared::config::{CfSettings, Env, ScopeSettings, Source};
use restager_shared::discovery::{self, OutdatedApp};
use serde::Serialize;

use super::CommandError;
use crate::cli::OutputArgs;
use crate::ports;
use crate::render::{place, print_json, table};

pub async fn run(source: &dyn Source, args: OutputArgs) -> Result<(), CommandError> {
    let env = Env(source);
    let cf_settings = CfSettings::from_env(&env)?;
    let scope = ScopeSettings::from_env(&env);
    let cf = ports::cf_client(&cf_settings)?;
    let apps = discovery::outdated(&cf, &scope)
        .await
        .map_err(|e| CommandError::failed("cannot list the outdated apps", e))?;
    let rows: Vec<Row> = apps.iter().map(Row::of).collect();
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
                "installed"
            ],
            rows.iter().map(|r| {
                vec![
                    r.app.clone(),
                    place(&r.org, &r.space),
                    r.buildpack.clone(),
                    r.stack.clone().unwrap_or_default(),
                    r.current_version.clone(),
                    r.installed_version.clone(),
                ]
            }),
        )
    );
    println!(
        "{} app(s) need a restage; `restager sweep` queues them.",
        rows.len()
    );
    Ok(())
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
}

impl Row {
    fn of(o: &OutdatedApp) -> Self {
        Self {
            app: o.app.name.clone(),
            app_guid: o.app.guid.clone(),
            org: o.app.org_name.clone(),
            space: o.app.space_name.clone(),
            buildpack: o.buildpack.clone(),
            stack: o.stack.clone(),
            current_version: o.current.to_string(),
            installed_version: o.installed.to_string(),
        }
    }
}
