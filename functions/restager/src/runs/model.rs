//! A run as the operator sees it: the JSON of `restager status --json`, of
//! `GET /runs` and `GET /runs/{id}` on `restager serve`, and what the tables
//! and the run page are drawn from. Built from the ledger's [`RunView`] by
//! the process that reads the ledger; read back from JSON by `status --server`.

use restager_shared::domain::Outcome;
use restager_shared::ledger::{RunState, RunView};
use restager_shared::slack::latest::latest_jobs;
use restager_shared::slack::messages::Tally;
use serde::{Deserialize, Serialize};

use crate::render::outcome_name;

/// One line of `status`: a run and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub notice: String,
    pub action: String,
    pub created_at: String,
    pub completed_at: Option<String>,
    /// `running`, `paused`, `halted`, `aborted` or `completed`.
    #[serde(default)]
    pub state: String,
    /// Who or what put the run in its state, when, and why: `paused by
    /// alice at …`, `run halted after 3 failures (budget 2) at …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_detail: Option<String>,
    /// Apps in the run, jobs and skipped ones (`apps` is the list in `status RUN`).
    pub app_count: usize,
    pub restaged: usize,
    pub already_current: usize,
    pub skipped: usize,
    /// Final failures, rolled-back apps included.
    pub failed: usize,
    /// Of the failures, apps whose new droplet crashed and was rolled back.
    #[serde(default)]
    pub rolled_back: usize,
    pub in_progress: usize,
    /// The run's waves, first to last (empty for a run without waves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<WaveSummary>,
    /// Set when the run queued nothing: why (the release is not installed,
    /// the action is `none`, every affected app was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nothing_queued: Option<String>,
}

/// One wave of a run: how big, how far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveSummary {
    /// 1 for the first wave.
    pub number: u32,
    /// How the wave was chosen (`*/dev*`, `label 0`, `everything else`).
    #[serde(default)]
    pub name: String,
    pub size: usize,
    /// Apps of the wave with a final outcome.
    pub done: usize,
    /// Of those, failures (rolled back included).
    pub failed: usize,
    /// When the wave was released to the queue; `None` while it waits.
    pub released_at: Option<String>,
}

/// `status RUN`: the run's counts and each app's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub apps: Vec<AppStatus>,
}

/// One app of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    pub app: String,
    pub app_guid: String,
    pub org: String,
    pub space: String,
    /// The wave the app is in, for a run with waves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
    /// Where the app is now: `queued`, `held`, `staging`, `deploying`,
    /// `verifying` or `done` (`skipped` for apps discovery left alone).
    #[serde(default)]
    pub phase: String,
    /// `pending` until a worker reports.
    pub outcome: String,
    pub reason: Option<String>,
    pub version: Option<String>,
    pub attempts: u32,
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_guid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_guid: Option<String>,
    /// When the restage began (its build was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended (verified, failed, rolled back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl AppStatus {
    /// A final failure: the app needs an operator.
    pub fn is_failure(&self) -> bool {
        self.phase == PHASE_DONE && matches!(self.outcome.as_str(), "failed" | "rolled_back")
    }
}

pub const PHASE_QUEUED: &str = "queued";
pub const PHASE_DONE: &str = "done";
pub const PHASE_SKIPPED: &str = "skipped";

pub const PHASE_HELD: &str = "held";

pub const STATE_RUNNING: &str = "running";
pub const STATE_COMPLETED: &str = "completed";
pub const STATE_ABORTED: &str = "aborted";

impl RunSummary {
    pub fn of(view: &RunView) -> Self {
        let tally = Tally::of(view);
        Self {
            run_id: view.record.run_id.to_string(),
            notice: view.record.notice.to_string(),
            action: view.record.action.to_string(),
            created_at: view.record.created_at.to_rfc3339(),
            completed_at: view.completed_at.map(|t| t.to_rfc3339()),
            state: state_of(view).to_string(),
            state_detail: state_detail(view),
            app_count: latest_jobs(view).len() + view.record.skipped.len(),
            restaged: tally.restaged,
            already_current: tally.already_current,
            skipped: tally.skipped,
            failed: tally.failed,
            rolled_back: tally.rolled_back,
            in_progress: tally.in_progress,
            waves: waves_of(view),
            nothing_queued: nothing_queued(view),
        }
    }

    /// Whether the run may still change (the run page refreshes then).
    pub fn is_live(&self) -> bool {
        self.state != STATE_COMPLETED
            && self.state != STATE_ABORTED
            && self.nothing_queued.is_none()
    }
}

/// The run's state: an aborted run stays aborted once its jobs are all
/// final; any other run with every job final is completed.
fn state_of(view: &RunView) -> &'static str {
    let rollout = view.rollout.as_ref().map(|r| &r.state);
    match rollout {
        Some(RunState::Aborted { .. }) => STATE_ABORTED,
        _ if view.completed_at.is_some() => STATE_COMPLETED,
        Some(state) => state.name(),
        None => STATE_RUNNING,
    }
}

/// Who, when and why, for a run that is not simply running.
fn state_detail(view: &RunView) -> Option<String> {
    let when = |at: &chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    match &view.rollout.as_ref()?.state {
        RunState::Running => None,
        RunState::Paused { by, at } => Some(format!("paused by {by} at {}", when(at))),
        RunState::Halted { reason, at } => Some(format!("{reason} at {}", when(at))),
        RunState::Aborted { by, at } => Some(format!("aborted by {by} at {}", when(at))),
    }
}

/// Each wave's size and progress, from the rollout record and the jobs.
fn waves_of(view: &RunView) -> Vec<WaveSummary> {
    let Some(rollout) = &view.rollout else {
        return Vec::new();
    };
    let latest = latest_jobs(view);
    rollout
        .waves
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let in_wave = latest
                .iter()
                .filter(|l| l.expected.map_or(0, |e| e.wave) as usize == i);
            let (mut done, mut failed) = (0, 0);
            for l in in_wave {
                if l.job.outcome.as_ref().is_some_and(Outcome::is_final) {
                    done += 1;
                }
                if l.is_final_failure() {
                    failed += 1;
                }
            }
            WaveSummary {
                number: i as u32 + 1,
                name: info.name.clone(),
                size: info.jobs,
                done,
                failed,
                released_at: info.released_at.map(|t| t.to_rfc3339()),
            }
        })
        .collect()
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

/// Where a job is now, from its outcome.
fn phase_of(outcome: Option<&Outcome>) -> &'static str {
    match outcome {
        Some(o) if o.is_final() => PHASE_DONE,
        Some(Outcome::Held { .. }) => PHASE_HELD,
        // No outcome yet, or deferred / failed for now: back on the queue.
        _ => PHASE_QUEUED,
    }
}

impl RunDetail {
    pub fn of(view: &RunView) -> Self {
        let mut apps: Vec<AppStatus> = latest_jobs(view)
            .into_iter()
            .map(|latest| {
                let job = latest.job;
                let wave = view
                    .rollout
                    .as_ref()
                    .map(|_| latest.expected.map_or(0, |e| e.wave) + 1);
                let outcome = job.outcome.as_ref();
                let phase = phase_of(outcome);
                AppStatus {
                    app: job.app.name.clone(),
                    app_guid: job.app.guid.clone(),
                    org: job.app.org_name.clone(),
                    space: job.app.space_name.clone(),
                    wave,
                    phase: phase.to_string(),
                    outcome: outcome_name(outcome).to_string(),
                    reason: outcome.and_then(Outcome::reason).map(str::to_string),
                    version: match outcome {
                        Some(Outcome::Restaged { version, .. }) => version.clone(),
                        _ => None,
                    },
                    attempts: job.attempts,
                    updated_at: job.updated_at.map(|t| t.to_rfc3339()),
                    build_guid: None,
                    deployment_guid: match outcome {
                        Some(Outcome::Restaged {
                            deployment_guid, ..
                        })
                        | Some(Outcome::RolledBack {
                            deployment_guid, ..
                        }) => Some(deployment_guid.clone()),
                        _ => None,
                    },
                    started_at: None,
                    finished_at: (phase == PHASE_DONE)
                        .then(|| job.updated_at.map(|t| t.to_rfc3339()))
                        .flatten(),
                }
            })
            .collect();
        apps.extend(view.record.skipped.iter().map(|s| AppStatus {
            app: s.app.name.clone(),
            app_guid: s.app.guid.clone(),
            org: s.app.org_name.clone(),
            space: s.app.space_name.clone(),
            wave: None,
            phase: PHASE_SKIPPED.to_string(),
            outcome: "skipped".to_string(),
            reason: Some(s.reason.clone()),
            version: None,
            attempts: 0,
            updated_at: None,
            build_guid: None,
            deployment_guid: None,
            started_at: None,
            finished_at: None,
        }));
        Self {
            summary: RunSummary::of(view),
            apps,
        }
    }
}
