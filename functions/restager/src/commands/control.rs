//! `restager pause|resume|abort RUN`: the run controls Slack's buttons and
//! `serve`'s admin routes also offer, against the ledger and queue the
//! settings name (DynamoDB and SQS on AWS, the embedded files otherwise).

use restager_shared::config::Source;
use restager_shared::rollout::{self, Command, RolloutError};
use restager_shared::startup::Adapters;

use super::CommandError;
use super::status::resolve_run;
use crate::cli::ControlArgs;
use crate::render::print_json;
use crate::settings::ServeSettings;

pub async fn run(
    source: &dyn Source,
    command: Command,
    args: ControlArgs,
) -> Result<(), CommandError> {
    let settings = ServeSettings::read(source)?;
    let adapters = Adapters::open(&settings.adapters()).await?;
    let location = adapters.ledger_location.clone();
    let run_id = resolve_run(adapters.ledger.as_ref(), &args.run, &location).await?;
    let by = args.actor.clone().unwrap_or_else(default_actor);
    let report = rollout::apply(
        adapters.rollout_ports(),
        &run_id,
        command,
        &by,
        chrono::Utc::now(),
    )
    .await
    .map_err(|e| match e {
        RolloutError::Refused(why) => CommandError::Usage(why),
        RolloutError::UnknownRun(_) | RolloutError::NoRollout(_) => {
            CommandError::Usage(e.to_string())
        }
        other => CommandError::failed(&format!("cannot {command} run {run_id}"), other),
    })?;
    // Slack messages the control caused (a paused/resumed/aborted note).
    let undelivered = adapters
        .notifier
        .flush(std::time::Duration::from_secs(5))
        .await
        .pending;
    if undelivered > 0 {
        tracing::warn!(
            undelivered,
            "Slack messages about the control were not delivered"
        );
    }
    if args.output.json {
        print_json(&report)
    } else {
        println!("{}", report.message);
        Ok(())
    }
}

/// `cli:<login>`, so the run's history says who typed the command.
fn default_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    format!("cli:{user}")
}
