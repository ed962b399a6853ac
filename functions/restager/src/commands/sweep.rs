//! `restager sweep`: queue a restage of every outdated app — what the
//! scheduled sweep does on AWS, so apps get patched even without a notice.

use restager_shared::config::{
    CfSettings, Env, IntakeSettings, SlackSettings, Source, StorageSettings, WorkerSettings,
};
use restager_shared::discovery;
use restager_shared::startup::{AdapterSettings, Adapters};
use serde::Serialize;

use super::CommandError;
use crate::cli::{OutputArgs, SweepArgs};
use crate::render::{place, plural, print_json, table};
use crate::running;

pub async fn run(source: &dyn Source, args: SweepArgs) -> Result<(), CommandError> {
    if args.dry_run {
        return dry_run(source, &args.output).await;
    }
    let args = args.output;
    let env = Env(source);
    let cf_settings = CfSettings::from_env(&env)?;
    let intake = IntakeSettings::from_env(&env)?;
    let slack = SlackSettings::from_env(&env)?;
    let storage = StorageSettings::from_env(&env);
    let worker = WorkerSettings::from_env(&env)?;
    let adapters =
        Adapters::open(&AdapterSettings::new(cf_settings, storage, slack, &worker)).await?;
    let (cf, queue, ledger) = (&adapters.cf, &adapters.queue, &adapters.ledger);

    let runs = discovery::sweep_plan(cf, &intake.scope)
        .await
        .map_err(|e| CommandError::failed("cannot find the outdated apps", e))?;
    let mut report = SweepReport { runs: Vec::new() };
    for run in runs {
        let done = discovery::fan_out(
            &run,
            ledger.as_ref(),
            queue.jobs.as_ref(),
            adapters.notifier.as_ref(),
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| {
            CommandError::failed(&format!("cannot queue the run {}", run.record.run_id), e)
        })?;
        report.runs.push(SweptRun {
            run_id: run.record.run_id.to_string(),
            notice: run.record.notice.to_string(),
            queued: done.queued,
            held: done.held,
            skipped: run.record.skipped.len(),
        });
    }
    running::flush(&adapters).await;
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
            &["run", "release", "queued", "held", "skipped"],
            report.runs.iter().map(|r| {
                vec![
                    r.run_id.clone(),
                    r.notice.clone(),
                    r.queued.to_string(),
                    r.held.to_string(),
                    r.skipped.to_string(),
                ]
            }),
        )
    );
    let total: usize = report.runs.iter().map(|r| r.queued).sum();
    println!(
        "Queued {} on {}; `restager status RUN` follows a run.",
        plural(total, "restage"),
        queue.description
    );
    Ok(())
}

/// `sweep --dry-run`: the sweep's runs, app by app, and nothing queued or
/// recorded (no queue or ledger is opened).
async fn dry_run(source: &dyn Source, args: &OutputArgs) -> Result<(), CommandError> {
    let (cf, scope) = super::foundation_in_scope(source)?;
    let runs = discovery::sweep_plan(&cf, &scope)
        .await
        .map_err(|e| CommandError::failed("cannot find the outdated apps", e))?;
    let report = DryRun {
        dry_run: true,
        runs: runs
            .iter()
            .map(|run| DryRunRun {
                run_id: run.record.run_id.to_string(),
                notice: run.record.notice.to_string(),
                queue: run
                    .jobs
                    .iter()
                    .map(|j| DryRunApp {
                        app: j.app.name.clone(),
                        app_guid: j.app.guid.clone(),
                        org: j.app.org_name.clone(),
                        space: j.app.space_name.clone(),
                        reason: None,
                    })
                    .collect(),
                skipped: run
                    .record
                    .skipped
                    .iter()
                    .map(|s| DryRunApp {
                        app: s.app.name.clone(),
                        app_guid: s.app.guid.clone(),
                        org: s.app.org_name.clone(),
                        space: s.app.space_name.clone(),
                        reason: Some(s.reason.clone()),
                    })
                    .collect(),
            })
            .collect(),
    };
    if args.json {
        return print_json(&report);
    }
    if report.runs.is_empty() {
        println!("Nothing to sweep: every app runs the installed version of its buildpack.");
        return Ok(());
    }
    let rows = report.runs.iter().flat_map(|run| {
        run.queue.iter().chain(&run.skipped).map(|a| {
            vec![
                a.app.clone(),
                place(&a.org, &a.space),
                run.notice.clone(),
                match &a.reason {
                    None => "would be queued".to_string(),
                    Some(why) => format!("skipped: {why}"),
                },
            ]
        })
    });
    println!("{}", table(&["app", "org/space", "release", "sweep"], rows));
    let queued: usize = report.runs.iter().map(|r| r.queue.len()).sum();
    let skipped: usize = report.runs.iter().map(|r| r.skipped.len()).sum();
    println!(
        "Dry run: a sweep would queue {} in {} and skip {}; nothing was queued.",
        plural(queued, "restage"),
        plural(report.runs.len(), "run"),
        plural(skipped, "app"),
    );
    Ok(())
}

#[derive(Debug, Serialize)]
struct DryRun {
    dry_run: bool,
    runs: Vec<DryRunRun>,
}

#[derive(Debug, Serialize)]
struct DryRunRun {
    run_id: String,
    notice: String,
    queue: Vec<DryRunApp>,
    skipped: Vec<DryRunApp>,
}

#[derive(Debug, Serialize)]
struct DryRunApp {
    app: String,
    app_guid: String,
    org: String,
    space: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
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
    /// Kept in the ledger for a later wave or until their maintenance window opens.
    held: usize,
    skipped: usize,
}
