//! `restager sweep`: queue a restage of every outdated app — what the
//! scheduled sweep does on AWS, so apps get patched even without a notice.

use std::sync::Arc;

use restager_shared::config::{
    CfSettings, Env, IntakeSettings, SlackSettings, Source, StorageSettings, WorkerSettings,
};
use restager_shared::discovery;
use serde::Serialize;

use super::CommandError;
use crate::cli::OutputArgs;
use crate::ports;
use crate::render::{print_json, table};

pub async fn run(source: &dyn Source, args: OutputArgs) -> Result<(), CommandError> {
    let env = Env(source);
    let cf_settings = CfSettings::from_env(&env)?;
    let intake = IntakeSettings::from_env(&env)?;
    let slack = SlackSettings::from_env(&env)?;
    let storage = StorageSettings::from_env(&env);
    let worker = WorkerSettings::from_env(&env)?;
    let cf = ports::cf_client(&cf_settings)?;
    let queue = ports::open_queue(&storage, &worker).await?;
    let ledger = ports::open_ledger(&storage).await?;
    let notifier = ports::notifier(&slack, Arc::clone(&ledger))?;

    let runs = discovery::sweep_plan(&cf, &intake.scope)
        .await
        .map_err(|e| CommandError::failed("cannot find the outdated apps", e))?;
    let mut report = SweepReport { runs: Vec::new() };
    for run in runs {
        discovery::fan_out(
            &run,
            ledger.as_ref(),
            queue.jobs.as_ref(),
            notifier.notifier.as_ref(),
        )
        .await
        .map_err(|e| {
            CommandError::failed(&format!("cannot queue the run {}", run.record.run_id), e)
        })?;
        report.runs.push(SweptRun {
            run_id: run.record.run_id.to_string(),
            notice: run.record.notice.to_string(),
            queued: run.jobs.len(),
            skipped: run.record.skipped.len(),
        });
    }
    notifier.flush().await;
    if args.json {
        return print_json(&report);
    }
    if report.runs.is_empty() {
        println!("Nothing to sweep: every app runs the installed version of its buildpack.");
        return Ok(());
    }
    println!(
        "{}",
        table(
            &["run", "release", "queued", "skipped"],
            report.runs.iter().map(|r| {
                vec![
                    r.run_id.clone(),
                    r.notice.clone(),
                    r.queued.to_string(),
                    r.skipped.to_string(),
                ]
            }),
        )
    );
    let total: usize = report.runs.iter().map(|r| r.queued).sum();
    println!(
        "Queued {total} restage(s) on {}; `restager status RUN` follows a run.",
        queue.kind
    );
    Ok(())
}

#[derive(Debug, Serialize)]
struct SweepReport {
    runs: Vec<SweptRun>,
}

#[derive(Debug, Serialize)]
struct SweptRun {
    run_id: String,
    notice: String,
    queued: usize,
    skipped: usize,
}
