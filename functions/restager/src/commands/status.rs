//! `restager status [RUN]`: the ledger's view of runs, or of one run's apps.

use restager_shared::config::{Env, Source, StorageSettings};
use restager_shared::domain::{Outcome, RunId};
use restager_shared::ledger::RunView;
use restager_shared::rollout::view as rollout_view;
use restager_shared::slack::latest::latest_jobs;
use restager_shared::slack::messages::Tally;
use restager_shared::startup;
use serde::Serialize;

use super::CommandError;
use crate::cli::StatusArgs;
use crate::render::{outcome_name, place, print_json, table_within};

/// What `status RUN` was given: a whole run id, or the first characters of
/// one as the table shows them.
enum Wanted {
    Run(RunId),
    Prefix(String),
}

impl Wanted {
    fn parse(raw: &str) -> Result<Self, CommandError> {
        if let Ok(id) = RunId::parse(raw) {
            return Ok(Wanted::Run(id));
        }
        let prefix = raw.trim().to_ascii_lowercase();
        let hexish = prefix.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if hexish && (4..36).contains(&prefix.len()) {
            return Ok(Wanted::Prefix(prefix));
        }
        Err(CommandError::Usage(format!(
            "`{raw}` is not a run id: give the id `restager status` lists (its first 4 or more characters are enough)"
        )))
    }
}

/// The run `raw` names: a whole id, or a prefix of exactly one run's id.
pub async fn resolve_run(
    ledger: &dyn restager_shared::ledger::Ledger,
    raw: &str,
    location: &str,
) -> Result<RunId, CommandError> {
    let not_found = |what: &str| {
        CommandError::Failed(format!(
            "no run {what} in the ledger at {location} (run `restager status` to list runs)"
        ))
    };
    resolve(ledger, Wanted::parse(raw)?, &not_found).await
}

async fn resolve(
    ledger: &dyn restager_shared::ledger::Ledger,
    wanted: Wanted,
    not_found: &dyn Fn(&str) -> CommandError,
) -> Result<RunId, CommandError> {
    Ok(match wanted {
        Wanted::Run(id) => id,
        Wanted::Prefix(prefix) => {
            let runs = ledger
                .list_runs(PREFIX_SEARCH)
                .await
                .map_err(|e| CommandError::failed("cannot read the runs from the ledger", e))?;
            let matching: Vec<&RunId> = runs
                .iter()
                .map(|v| &v.record.run_id)
                .filter(|id| id.as_str().starts_with(&prefix))
                .collect();
            match matching.as_slice() {
                [one] => (*one).clone(),
                [] => return Err(not_found(&format!("starting with {prefix}"))),
                many => {
                    let ids: Vec<&str> = many.iter().take(5).map(|id| id.as_str()).collect();
                    return Err(CommandError::Usage(format!(
                        "{prefix} starts {} runs ({}): give more of the id",
                        many.len(),
                        ids.join(", ")
                    )));
                }
            }
        }
    })
}

/// How many runs a prefix is looked up among.
const PREFIX_SEARCH: usize = 10_000;

pub async fn run(source: &dyn Source, args: StatusArgs) -> Result<(), CommandError> {
    // Checked before opening anything: a typo is a usage error, not a lookup.
    let wanted = match &args.run {
        Some(raw) => Some(Wanted::parse(raw)?),
        None => None,
    };
    let storage = StorageSettings::from_env(&Env(source));
    let ledger = startup::ledger(&storage).await?;
    let not_found = |what: &str| {
        CommandError::Failed(format!(
            "no run {what} in the ledger at {} (run `restager status` to list runs)",
            startup::ledger_location(&storage)
        ))
    };
    let run_id = match wanted {
        None => {
            let runs = ledger
                .list_runs(args.limit)
                .await
                .map_err(|e| CommandError::failed("cannot read the runs from the ledger", e))?;
            return if args.output.json {
                print_json(&runs.iter().map(RunSummary::of).collect::<Vec<_>>())
            } else {
                print_runs(&runs, args.wide);
                Ok(())
            };
        }
        Some(wanted) => resolve(ledger.as_ref(), wanted, &not_found).await?,
    };
    let view = ledger
        .get_run(&run_id)
        .await
        .map_err(|e| CommandError::failed("cannot read the run from the ledger", e))?
        .ok_or_else(|| not_found(run_id.as_str()))?;
    if args.output.json {
        print_json(&RunDetail::of(&view))
    } else {
        print_run(&view, args.wide);
        Ok(())
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
    /// Apps in the run, jobs and skipped ones (`apps` is the list in `status RUN`).
    pub app_count: usize,
    pub restaged: usize,
    pub already_current: usize,
    pub skipped: usize,
    pub failed: usize,
    pub in_progress: usize,
    /// Set when the run queued nothing: why (the release is not installed,
    /// the action is `none`, every affected app was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nothing_queued: Option<String>,
    /// `running`, `paused`, `halted`, `aborted` or `completed`.
    pub state: String,
    /// Why it is paused, halted or aborted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    pub rolled_back: usize,
    pub held: usize,
    /// The failures (failed + rolled back) that halt the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<rollout_view::WaveStatus>,
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
            app_count: latest_jobs(view).len() + view.record.skipped.len(),
            restaged: tally.restaged,
            already_current: tally.already_current,
            skipped: tally.skipped,
            failed: tally.failed,
            in_progress: tally.in_progress.saturating_sub(held(view)),
            nothing_queued: nothing_queued(view),
            state: rollout_view::state_name(view).to_string(),
            state_reason: rollout_view::state_reason(view),
            rolled_back: tally.rolled_back,
            held: held(view),
            max_failures: view.rollout.as_ref().map(|r| r.max_failures),
            waves: rollout_view::waves(view),
        }
    }
}

/// Jobs parked in the ledger: held by a pause, a halt or a window, or
/// waiting in a wave not released yet.
fn held(view: &RunView) -> usize {
    latest_jobs(view)
        .iter()
        .filter(|l| {
            matches!(l.job.outcome, Some(Outcome::Held { .. }))
                || rollout_view::waiting_reason(view, l.job).is_some()
        })
        .count()
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
    /// Its wave (1 goes first), when the run has waves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<usize>,
}

impl RunDetail {
    pub fn of(view: &RunView) -> Self {
        let mut apps: Vec<AppStatus> = latest_jobs(view)
            .into_iter()
            .map(|latest| {
                let job = latest.job;
                let waiting = rollout_view::waiting_reason(view, job);
                AppStatus {
                    app: job.app.name.clone(),
                    app_guid: job.app.guid.clone(),
                    org: job.app.org_name.clone(),
                    space: job.app.space_name.clone(),
                    outcome: if waiting.is_some() {
                        "held".to_string()
                    } else {
                        outcome_name(job.outcome.as_ref()).to_string()
                    },
                    reason: waiting.or_else(|| {
                        job.outcome
                            .as_ref()
                            .and_then(Outcome::reason)
                            .map(str::to_string)
                    }),
                    wave: rollout_view::wave_of(view, job),
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
            wave: None,
        }));
        Self {
            summary: RunSummary::of(view),
            apps,
        }
    }
}

/// Default output fits 100 columns; `--wide` shows everything unwrapped.
const WIDTH: u16 = 100;

fn width(wide: bool) -> Option<u16> {
    (!wide).then_some(WIDTH)
}

/// Ids are UUIDs; their first 8 characters tell runs apart in a listing
/// (`status RUN` takes the full id, which `--wide` and `--json` show).
fn short_id(id: &str, wide: bool) -> String {
    if wide {
        id.to_string()
    } else {
        id.chars().take(8).collect()
    }
}

/// RFC 3339 to the second, in UTC, as `2026-12-01 22:53:10`.
fn to_the_second(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

fn print_runs(runs: &[RunView], wide: bool) {
    if runs.is_empty() {
        println!("No runs yet.");
        return;
    }
    let rows = runs.iter().map(RunSummary::of).map(|s| {
        vec![
            short_id(&s.run_id, wide),
            s.notice,
            to_the_second(&s.created_at),
            match (&s.nothing_queued, s.completed_at) {
                (Some(_), _) => "nothing queued".to_string(),
                (None, Some(t)) => to_the_second(&t),
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
        table_within(
            &[
                "run",
                "notice",
                "started (UTC)",
                "completed",
                "restaged",
                "current",
                "skipped",
                "failed",
                "pending",
            ],
            rows,
            width(wide),
        )
    );
    if !wide {
        println!(
            "`restager status RUN` shows a run's apps (its short id is enough; --wide shows full ids)."
        );
    }
}

fn print_run(view: &RunView, wide: bool) {
    let detail = RunDetail::of(view);
    let s = &detail.summary;
    println!("Run {} — {} ({})", s.run_id, s.notice, s.action);
    match &s.nothing_queued {
        Some(why) => println!(
            "Recorded {} UTC. Nothing was queued: {why}.",
            to_the_second(&s.created_at)
        ),
        None => println!(
            "Started {} UTC; {}.",
            to_the_second(&s.created_at),
            s.completed_at.as_ref().map_or_else(
                || "in progress".to_string(),
                |t| format!("completed {} UTC", to_the_second(t))
            )
        ),
    }
    println!(
        "{} restaged, {} already current, {} skipped, {} failed ({} rolled back), {} held, {} pending",
        s.restaged, s.already_current, s.skipped, s.failed, s.rolled_back, s.held, s.in_progress
    );
    if s.state != "completed" && s.state != "running" {
        println!(
            "The run is {}{}: `restager resume {}` or `restager abort {}`.",
            s.state.to_uppercase(),
            s.state_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            short_id(&s.run_id, false),
            short_id(&s.run_id, false)
        );
    }
    if let Some(max) = s.max_failures {
        println!("Error budget: halts after {} failures.", max + 1);
    }
    if s.waves.len() > 1 {
        for w in &s.waves {
            println!(
                "  wave {} ({}): {}/{} finished, {}",
                w.wave,
                w.name,
                w.finished,
                w.jobs,
                w.released_at.map_or_else(
                    || "held".to_string(),
                    |t| format!("released {}", t.format("%H:%M:%S UTC"))
                )
            );
        }
    }
    let rows = detail.apps.iter().map(|a| {
        let mut row = vec![
            a.app.clone(),
            place(&a.org, &a.space),
            a.outcome.clone(),
            a.reason.clone().unwrap_or_default(),
            a.version.clone().unwrap_or_default(),
            a.attempts.to_string(),
        ];
        if wide {
            row.push(a.app_guid.clone());
            row.push(
                a.updated_at
                    .as_deref()
                    .map(to_the_second)
                    .unwrap_or_default(),
            );
        }
        row
    });
    let mut header = vec![
        "app",
        "org/space",
        "outcome",
        "reason",
        "version",
        "attempts",
    ];
    if wide {
        header.extend(["app guid", "updated (UTC)"]);
    }
    println!("{}", table_within(&header, rows, width(wide)));
}
