//! `restager plan`: what a notice would do, without doing it.

use restager_shared::config::{CfSettings, Env, IntakeSettings, Source};
use restager_shared::discovery::{self, Plan};
use restager_shared::domain::{Notice, RunId, Version};
use restager_shared::startup;
use serde::Serialize;

use super::{CommandError, read_notice};
use crate::cli::PlanArgs;
use crate::render::{place, plural, print_json, table};

pub async fn run(source: &dyn Source, args: PlanArgs) -> Result<(), CommandError> {
    let notice = notice_from_args(&args)?;
    let env = Env(source);
    let cf_settings = CfSettings::from_env(&env)?;
    let intake = IntakeSettings::from_env(&env)?;
    let cf = startup::cf_client(&cf_settings)?;
    let action = intake.action_for(notice.kind());
    let plan = discovery::plan(&cf, &notice, action, &intake.scope)
        .await
        .map_err(|e| CommandError::failed("cannot plan the notice", e))?;
    let report = PlanReport::of(&notice, action.to_string(), &plan, chrono::Utc::now());
    if args.output.json {
        print_json(&report)
    } else {
        print_plan(&report);
        Ok(())
    }
}

/// The notice from `--notice FILE`, or from `--buildpack/--stack` and `--version`.
fn notice_from_args(args: &PlanArgs) -> Result<Notice, CommandError> {
    if let Some(path) = &args.notice {
        return read_notice(path);
    }
    let raw_version = args.version.as_deref().ok_or_else(|| {
        CommandError::Usage(
            "say what was released: --notice FILE, or --buildpack NAME --version V, or --stack NAME --version V"
                .into(),
        )
    })?;
    let version =
        Version::parse(raw_version).map_err(|e| CommandError::Usage(format!("--version: {e}")))?;
    match (&args.buildpack, &args.stack) {
        (Some(buildpack), stack) => Ok(Notice::Buildpack {
            buildpack: buildpack.clone(),
            version,
            stack: stack.clone(),
        }),
        (None, Some(stack)) => Ok(Notice::Stack {
            stack: stack.clone(),
            version,
        }),
        (None, None) => Err(CommandError::Usage(
            "--version needs --buildpack NAME (a buildpack release) or --stack NAME (a stack release)"
                .into(),
        )),
    }
}

/// The plan as printed (`--json` prints exactly this).
#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub notice: Notice,
    pub action: String,
    /// The run id a webhook delivery of this notice would get.
    pub run_id: String,
    /// Set when the foundation does not have the released version yet: nothing would be queued.
    pub not_installed: Option<String>,
    /// How the foundation was read, where worth saying (an older Cloud
    /// Controller that cost a request per app).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Requests the plan sent to Cloud Controller and UAA.
    pub cf_requests: u64,
    /// The order the apps would go in, wave by wave.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<restager_shared::discovery::PlannedWave>,
    /// Failures (failed + rolled back) beyond this halt the run.
    pub max_failures: usize,
    pub restage: Vec<PlannedApp>,
    pub skipped: Vec<SkippedApp>,
}

#[derive(Debug, Serialize)]
pub struct PlannedApp {
    pub app: String,
    pub app_guid: String,
    pub org: String,
    pub space: String,
    pub droplet_guid: String,
    pub buildpack: Option<String>,
    /// The buildpack version the app's live droplet has now.
    pub current_version: Option<String>,
    pub target_version: Option<String>,
    /// Its wave: 1 goes first.
    pub wave: usize,
    /// Its maintenance window (`restager.io/window` on its space or org,
    /// else `RESTAGER_WINDOW`); `None`: at any time.
    pub window: Option<String>,
    /// When its restage may next start, in the window's zone.
    pub next_window: String,
    /// Its owners' Slack channel (`restager.io/slack-channel`).
    pub slack_channel: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SkippedApp {
    pub app: String,
    pub app_guid: String,
    pub org: String,
    pub space: String,
    pub reason: String,
}

impl PlanReport {
    pub fn of(
        notice: &Notice,
        action: String,
        plan: &Plan,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        Self {
            notice: notice.clone(),
            action,
            run_id: RunId::for_release(&notice.release_key()).to_string(),
            not_installed: plan.not_installed.as_ref().map(ToString::to_string),
            notes: plan.notes.clone(),
            cf_requests: plan.cf_requests,
            waves: plan.waves.clone(),
            max_failures: plan.max_failures,
            restage: plan
                .jobs
                .iter()
                .zip(plan.job_waves().iter().copied().chain(std::iter::repeat(0)))
                .map(|(job, wave)| PlannedApp {
                    wave: wave as usize + 1,
                    app: job.app.name.clone(),
                    app_guid: job.app.guid.clone(),
                    org: job.app.org_name.clone(),
                    space: job.app.space_name.clone(),
                    droplet_guid: job.droplet_guid.clone(),
                    buildpack: job.buildpack.clone(),
                    current_version: plan.current_versions.get(&job.app.guid).cloned(),
                    target_version: job.target_version.as_ref().map(ToString::to_string),
                    window: job.window.clone(),
                    next_window: plan.next_window(job, now),
                    slack_channel: job.slack_channel.clone(),
                })
                .collect(),
            skipped: plan
                .skipped
                .iter()
                .map(|s| SkippedApp {
                    app: s.app.name.clone(),
                    app_guid: s.app.guid.clone(),
                    org: s.app.org_name.clone(),
                    space: s.app.space_name.clone(),
                    reason: s.reason.clone(),
                })
                .collect(),
        }
    }
}

fn print_plan(report: &PlanReport) {
    println!("Notice: {} (action: {})", report.notice, report.action);
    if let Some(why) = &report.not_installed {
        println!("Nothing would be queued: {why}.");
    }
    for note in &report.notes {
        println!("Note: {note}");
    }
    println!(
        "{} to {}, {} skipped.",
        plural(report.restage.len(), "app"),
        report.action,
        report.skipped.len()
    );
    let waves = report.waves.len() > 1;
    if waves {
        println!(
            "In {} waves, each after the one before and its soak:",
            report.waves.len()
        );
        for w in &report.waves {
            println!(
                "  {}. {} — {} ({})",
                w.wave,
                w.name,
                plural(w.jobs, "app"),
                w.spaces.join(", ")
            );
        }
    }
    if !report.restage.is_empty() {
        println!(
            "The run halts after {} (failed or rolled back).",
            plural(report.max_failures + 1, "failure")
        );
        let mut apps: Vec<&PlannedApp> = report.restage.iter().collect();
        apps.sort_by_key(|a| a.wave);
        let rows = apps.into_iter().map(|a| {
            let mut row = vec![
                a.app.clone(),
                place(&a.org, &a.space),
                a.buildpack.clone().unwrap_or_default(),
                a.current_version.clone().unwrap_or_else(|| "-".into()),
                a.target_version
                    .clone()
                    .unwrap_or_else(|| "fresh staging".into()),
                a.next_window.clone(),
            ];
            if waves {
                row.insert(0, a.wave.to_string());
            }
            row
        });
        let mut header = vec![
            "app",
            "org/space",
            "buildpack",
            "current",
            "target",
            "next window",
        ];
        if waves {
            header.insert(0, "wave");
        }
        println!("{}", table(&header, rows));
    }
    if !report.skipped.is_empty() {
        let rows = report
            .skipped
            .iter()
            .map(|s| vec![s.app.clone(), place(&s.org, &s.space), s.reason.clone()]);
        println!("{}", table(&["skipped app", "org/space", "reason"], rows));
    }
}
