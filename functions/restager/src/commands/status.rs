//! `restager status [RUN]`: the ledger's view of runs, or of one run's apps.

use restager_shared::config::{Env, Source, StorageSettings};
use restager_shared::domain::{Outcome, RunId};
use restager_shared::ledger::RunView;
use restager_shared::slack::latest::latest_jobs;
use restager_shared::slack::messages::Tally;
use serde::Serialize;

use super::CommandError;
use crate::cli::StatusArgs;
use crate::ports;
use crate::render::{outcome_name, place, print_json, table};

pub async fn run(source: &dyn Source, args: StatusArgs) -> Result<(), CommandError> {
    // Checked before opening anything: a typo is a usage error, not a lookup.
    let wanted = match &args.run {
        Some(raw) => Some(RunId::parse(raw).map_err(CommandError::Usage)?),
        None => None,
    };
    let storage = StorageSettings::from_env(&Env(source));
    let ledger = ports::open_ledger(&storage).await?;
    match wanted {
        None => {
            let runs = ledger
                .list_runs(args.limit)
                .await
                .map_err(|e| CommandError::failed("cannot read the runs from the ledger", e))?;
            if args.output.json {
                print_json(&runs.iter().map(RunSummary::of).collect::<Vec<_>>())
            } else {
                print_runs(&runs);
                Ok(())
            }
        }
        Some(run_id) => {
            let view = ledger
                .get_run(&run_id)
                .await
                .map_err(|e| CommandError::failed("cannot read the run from the ledger", e))?
                .ok_or_else(|| {
                    CommandError::Failed(format!(
                        "no run {run_id} in the ledger at {} (run `restager status` to list runs)",
                        ports::ledger_location(&storage)
                    ))
                })?;
            if args.output.json {
                print_json(&RunDetail::of(&view))
            } else {
                print_run(&view);
                Ok(())
            }
        }
    }
}

/// One line of `status`: a run and its counts.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub notice: String,
    pub action: String,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub apps: usize,
    pub restaged: usize,
    pub already_current: usize,
    pub skipped: usize,
    pub failed: usize,
    pub in_progress: usize,
    /// Set when the run queued nothing: why (the release is not installed,
    /// the action is `none`, every affected app was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nothing_queued: Option<String>,
}

impl RunSummary {
    pub fn of(view: &RunView) -> Self {
        let tally = Tally::of(view);
        Self {
            run_id: view.record.run_id.to_string(),
            notice: view.record.notice.to_string(),
            action: view.record.action.to_string(),
            created_at: view.record.created_at.to_rfc3339(),
            completed_at: view.completed_at.map(|t| t.to_rfc3339()),
            apps: latest_jobs(view).len() + view.record.skipped.len(),
            restaged: tally.restaged,
            already_current: tally.already_current,
            skipped: tally.skipped,
            failed: tally.failed,
            in_progress: tally.in_progress,
            nothing_queued: nothing_queued(view),
        }
    }
}

/// Why a run without jobs queued nothing; `None` for a run that queued some.
fn nothing_queued(view: &RunView) -> Option<String> {
    if !view.record.expected.is_empty() {
        return None;
    }
    Some(match &view.record.note {
        Some(note) => note.clone(),
        None if view.record.skipped.is_empty() => "no app was affected".to_string(),
        None => "every affected app was skipped (reasons below)".to_string(),
    })
}

/// `status RUN`: the run's counts and each app's newest outcome.
#[derive(Debug, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub apps: Vec<AppStatus>,
}

#[derive(Debug, Serialize)]
pub struct AppStatus {
    pub app: String,
    pub app_guid: String,
    pub org: String,
    pub space: String,
    /// `pending` until a worker reports.
    pub outcome: String,
    pub reason: Option<String>,
    pub version: Option<String>,
    pub attempts: u32,
    pub updated_at: Option<String>,
}

impl RunDetail {
    pub fn of(view: &RunView) -> Self {
        let mut apps: Vec<AppStatus> = latest_jobs(view)
            .into_iter()
            .map(|latest| {
                let job = latest.job;
                AppStatus {
                    app: job.app.name.clone(),
                    app_guid: job.app.guid.clone(),
                    org: job.app.org_name.clone(),
                    space: job.app.space_name.clone(),
                    outcome: outcome_name(job.outcome.as_ref()).to_string(),
                    reason: job
                        .outcome
                        .as_ref()
                        .and_then(Outcome::reason)
                        .map(str::to_string),
                    version: match &job.outcome {
                        Some(Outcome::Restaged { version, .. }) => version.clone(),
                        _ => None,
                    },
                    attempts: job.attempts,
                    updated_at: job.updated_at.map(|t| t.to_rfc3339()),
                }
            })
            .collect();
        apps.extend(view.record.skipped.iter().map(|s| AppStatus {
            app: s.app.name.clone(),
            app_guid: s.app.guid.clone(),
            org: s.app.org_name.clone(),
            space: s.app.space_name.clone(),
            outcome: "skipped".to_string(),
            reason: Some(s.reason.clone()),
            version: None,
            attempts: 0,
            updated_at: None,
        }));
        Self {
            summary: RunSummary::of(view),
            apps,
        }
    }
}

fn print_runs(runs: &[RunView]) {
    if runs.is_empty() {
        println!("No runs yet.");
        return;
    }
    let rows = runs.iter().map(RunSummary::of).map(|s| {
        vec![
            s.run_id,
            s.notice,
            s.created_at,
            match (&s.nothing_queued, s.completed_at) {
                (Some(_), _) => "nothing queued".to_string(),
                (None, Some(t)) => t,
                (None, None) => "in progress".to_string(),
            },
            s.restaged.to_string(),
            s.already_current.to_string(),
            s.skipped.to_string(),
            s.failed.to_string(),
            s.in_progress.to_string(),
        ]
    });
    println!(
        "{}",
        table(
            &[
                "run",
                "notice",
                "started",
                "completed",
                "restaged",
                "current",
                "skipped",
                "failed",
                "pending",
            ],
            rows,
        )
    );
}

fn print_run(view: &RunView) {
    let detail = RunDetail::of(view);
    let s = &detail.summary;
    println!("Run {} — {} ({})", s.run_id, s.notice, s.action);
    match &s.nothing_queued {
        Some(why) => println!("Recorded {}. Nothing was queued: {why}.", s.created_at),
        None => println!(
            "Started {}; {}.",
            s.created_at,
            s.completed_at
                .as_ref()
                .map_or_else(|| "in progress".to_string(), |t| format!("completed {t}"))
        ),
    }
    println!(
        "{} restaged, {} already current, {} skipped, {} failed, {} pending",
        s.restaged, s.already_current, s.skipped, s.failed, s.in_progress
    );
    let rows = detail.apps.iter().map(|a| {
        vec![
            a.app.clone(),
            place(&a.org, &a.space),
            a.outcome.clone(),
            a.reason.clone().unwrap_or_default(),
            a.version.clone().unwrap_or_default(),
            a.attempts.to_string(),
        ]
    });
    println!(
        "{}",
        table(
            &[
                "app",
                "org/space",
                "outcome",
                "reason",
                "version",
                "attempts"
            ],
            rows
        )
    );
}
