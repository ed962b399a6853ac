//! `restager status [RUN]`: the runs, or one run's apps, from the ledger or
//! (with `--server`) from a running `restager serve`.

use restager_shared::config::Source;
use restager_shared::domain::RunId;

use super::CommandError;
use crate::cli::StatusArgs;
use crate::render::{place, print_json, table_within};
use crate::runs::Runs;
use crate::runs::model::{
    AppStatus, PHASE_DONE, PHASE_QUEUED, PHASE_SKIPPED, RunDetail, RunSummary,
};

/// What `status RUN` was given: a whole run id, or the first characters of
/// one as the table shows them.
pub(crate) enum Wanted {
    Run(RunId),
    Prefix(String),
}

impl Wanted {
    pub(crate) fn parse(raw: &str) -> Result<Self, CommandError> {
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

/// How many runs a prefix is looked up among.
pub(crate) const PREFIX_SEARCH: usize = 10_000;

pub async fn run(source: &dyn Source, args: StatusArgs) -> Result<(), CommandError> {
    // Checked before opening anything: a typo is a usage error, not a lookup.
    let wanted = match &args.run {
        Some(raw) => Some(Wanted::parse(raw)?),
        None => None,
    };
    let runs = Runs::open(source).await?;
    let not_found = |what: &str| {
        CommandError::Failed(format!(
            "no run {what} in {} (run `restager status` to list runs)",
            runs.location()
        ))
    };
    let run_id = match wanted {
        None => {
            let list = runs.list(args.limit).await?;
            return if args.output.json {
                print_json(&list)
            } else {
                print_runs(&list, args.wide);
                Ok(())
            };
        }
        Some(Wanted::Run(id)) => id,
        Some(Wanted::Prefix(prefix)) => {
            let list = runs.list(PREFIX_SEARCH).await?;
            pick(&prefix, list.iter().map(|s| s.run_id.as_str()), &not_found)?
        }
    };
    let detail = runs
        .get(&run_id)
        .await?
        .ok_or_else(|| not_found(run_id.as_str()))?;
    if args.output.json {
        print_json(&detail)
    } else {
        print_run(&detail, args.wide);
        Ok(())
    }
}

/// The run a full id or a prefix names, in the ledger at `location` (the
/// run controls' lookup).
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
    match Wanted::parse(raw)? {
        Wanted::Run(id) => Ok(id),
        Wanted::Prefix(prefix) => {
            let runs = ledger
                .list_runs(PREFIX_SEARCH)
                .await
                .map_err(|e| CommandError::failed("cannot read the runs from the ledger", e))?;
            pick(
                &prefix,
                runs.iter().map(|v| v.record.run_id.as_str()),
                &not_found,
            )
        }
    }
}

/// The one run among `ids` that starts with `prefix`.
pub(crate) fn pick<'a>(
    prefix: &str,
    ids: impl Iterator<Item = &'a str>,
    not_found: &dyn Fn(&str) -> CommandError,
) -> Result<RunId, CommandError> {
    let matching: Vec<&str> = ids.filter(|id| id.starts_with(prefix)).collect();
    match matching.as_slice() {
        [one] => RunId::parse(one).map_err(CommandError::Failed),
        [] => Err(not_found(&format!("starting with {prefix}"))),
        many => {
            let ids: Vec<&str> = many.iter().take(5).copied().collect();
            Err(CommandError::Usage(format!(
                "{prefix} starts {} runs ({}): give more of the id",
                many.len(),
                ids.join(", ")
            )))
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

/// A run's state as the tables say it.
fn state_text(state: &str) -> String {
    match state {
        "running" | "" => "in progress".to_string(),
        other => other.replace('_', " "),
    }
}

/// The outcome column: the outcome, and where a pending app is now.
fn outcome_text(app: &AppStatus) -> String {
    match app.phase.as_str() {
        PHASE_DONE | PHASE_SKIPPED | "" => app.outcome.clone(),
        PHASE_QUEUED if app.outcome == "pending" => app.outcome.clone(),
        phase => format!("{} ({phase})", app.outcome),
    }
}

fn print_runs(runs: &[RunSummary], wide: bool) {
    if runs.is_empty() {
        println!("No runs yet.");
        return;
    }
    let rows = runs.iter().cloned().map(|s| {
        vec![
            short_id(&s.run_id, wide),
            s.notice,
            to_the_second(&s.created_at),
            match (&s.nothing_queued, &s.completed_at) {
                (Some(_), _) => "nothing queued".to_string(),
                (None, Some(t)) => to_the_second(t),
                (None, None) => state_text(&s.state),
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

fn print_run(detail: &RunDetail, wide: bool) {
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
                || state_text(&s.state),
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
                "  wave {} ({}): {}/{} finished, {} failed, {}",
                w.wave,
                w.name,
                w.finished,
                w.jobs,
                w.failed,
                w.released_at.as_deref().map_or_else(
                    || "held".to_string(),
                    |t| format!("released {} UTC", to_the_second(t))
                )
            );
        }
    }
    let rows = detail.apps.iter().map(|a| {
        let mut row = vec![
            a.app.clone(),
            place(&a.org, &a.space),
            outcome_text(a),
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
