//! `restager pause|resume|abort RUN`: the run controls Slack's buttons and
//! `serve`'s admin routes also offer. With `--server` (`RESTAGER_SERVER_URL`)
//! they go to a running `serve`'s `POST /runs/{id}/…`; otherwise straight to
//! the ledger and queue the settings name (DynamoDB and SQS on AWS, the
//! embedded files when no `serve` holds them).

use restager_shared::config::{Env, Source};
use restager_shared::rollout::{self, Command, ControlReport, RolloutError};
use restager_shared::startup::{Adapters, StartupError};

use super::CommandError;
use super::status::{PREFIX_SEARCH, Wanted, pick, resolve_run};
use crate::admin::client::{AdminClient, Answer};
use crate::cli::ControlArgs;
use crate::render::print_json;
use crate::runs::Runs;
use crate::settings::{ClientSettings, ServeSettings};

pub async fn run(
    source: &dyn Source,
    command: Command,
    args: ControlArgs,
) -> Result<(), CommandError> {
    let client = ClientSettings::read(&Env(source))?;
    let by = args.actor.clone().unwrap_or_else(default_actor);
    let report = match &client.server_url {
        Some(url) => {
            let admin = AdminClient::new(url, client.token.clone())?;
            through_server(admin, command, &args.run, &by).await?
        }
        None => direct(source, command, &args.run, &by).await?,
    };
    if args.output.json {
        print_json(&report)
    } else {
        println!("{}", report.message);
        Ok(())
    }
}

/// Against the ledger and queue, then Slack told (flushed before exit).
async fn direct(
    source: &dyn Source,
    command: Command,
    raw: &str,
    by: &str,
) -> Result<ControlReport, CommandError> {
    let settings = ServeSettings::read(source)?;
    let adapters = match Adapters::open(&settings.adapters()).await {
        Ok(a) => a,
        Err(StartupError::EmbeddedLedger { .. }) | Err(StartupError::Queue(_))
            if settings.storage.queue_url.is_none() =>
        {
            return Err(CommandError::Failed(format!(
                "restager serve holds the embedded ledger and queue in {}: run `restager {command} {raw} --server http://HOST:PORT` \
                 (or set RESTAGER_SERVER_URL) with serve's RESTAGER_ADMIN_TOKEN instead",
                settings.storage.data_dir.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let location = adapters.ledger_location.clone();
    let run_id = resolve_run(adapters.ledger.as_ref(), raw, &location).await?;
    let report = rollout::apply(
        adapters.rollout_ports(),
        &run_id,
        command,
        by,
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
    Ok(report)
}

/// Through `serve`'s admin API, recorded as who asked.
async fn through_server(
    admin: AdminClient,
    command: Command,
    raw: &str,
    by: &str,
) -> Result<ControlReport, CommandError> {
    let admin = admin.with_actor(by);
    let run_id = match Wanted::parse(raw)? {
        Wanted::Run(id) => id,
        Wanted::Prefix(prefix) => {
            let runs = Runs::Server(admin.clone());
            let list = runs.list(PREFIX_SEARCH).await?;
            let not_found =
                |what: &str| CommandError::Failed(format!("no run {what} in {}", runs.location()));
            pick(&prefix, list.iter().map(|s| s.run_id.as_str()), &not_found)?
        }
    };
    match admin
        .post::<ControlReport>(&format!("runs/{run_id}/{command}"))
        .await
    {
        Ok(Answer::Found(report)) => Ok(report),
        Ok(Answer::NotFound(message)) => Err(CommandError::Usage(message)),
        Err(crate::admin::client::ClientError::Refused {
            status: 409,
            message,
            ..
        }) => Err(CommandError::Usage(message)),
        Err(e) => Err(e.into()),
    }
}

/// `cli:<login>`, so the run's history says who typed the command.
fn default_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    format!("cli:{user}")
}
