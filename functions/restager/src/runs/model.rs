//! A run as the operator sees it: the JSON of `restager status --json`, of
//! `GET /runs` and `GET /runs/{id}` on `restager serve`, and what the tables
//! and the run page are drawn from. Built from the ledger's [`RunView`] by
//! the process that reads the ledger; read back from JSON by `status --server`.

use restager_shared::domain::Outcome;
use restager_shared::ledger::{JobRecord, RunView};
use restager_shared::rollout::view as rollout_view;
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
    /// Who or what stopped the run and when, or why: `paused by alice at
    /// 10:02:03 UTC`, `run halted after 3 failures (budget 2)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
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
    /// Jobs parked in the ledger: held by a pause, a halt or a window, or
    /// waiting in a wave not released yet.
    #[serde(default)]
    pub held: usize,
    /// Jobs queued or restaging (held ones not included).
    pub in_progress: usize,
    /// The failures (failed + rolled back) the run may have before it halts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<usize>,
    /// The run's waves, first to last (empty for a run without waves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<WaveSummary>,
    /// Set when the run queued nothing: why (the release is not installed,
    /// the action is `none`, every affected app was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nothing_queued: Option<String>,
}

/// One wave of a run: how big, how far (the fields of
/// `rollout::view::WaveStatus`, and its failures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveSummary {
    /// 1 for the wave that goes first.
    pub wave: usize,
    /// How the wave was chosen (`*/dev*`, `label 0`, `everything else`).
    pub name: String,
    pub jobs: usize,
    /// Jobs of the wave with a final outcome.
    pub finished: usize,
    /// Of those, failures (rolled back included).
    #[serde(default)]
    pub failed: usize,
    /// When the wave was released to the queue; `None` while it is held.
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
    /// The wave the app is in (1 goes first), for a run with waves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<usize>,
    /// Where the app is now: `queued`, `held`, `staging`, `deploying`,
    /// `verifying` or `done` (`skipped` for apps discovery left alone).
    #[serde(default)]
    pub phase: String,
    /// `pending` until a worker reports; `held` while its wave waits.
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

pub const STATE_COMPLETED: &str = "completed";

impl RunSummary {
    pub fn of(view: &RunView) -> Self {
        let tally = Tally::of(view);
        Self {
            run_id: view.record.run_id.to_string(),
            notice: view.record.notice.to_string(),
            action: view.record.action.to_string(),
            created_at: view.record.created_at.to_rfc3339(),
            completed_at: view.completed_at.map(|t| t.to_rfc3339()),
            state: rollout_view::state_name(view).to_string(),
            state_reason: rollout_view::state_reason(view),
            app_count: latest_jobs(view).len() + view.record.skipped.len(),
            restaged: tally.restaged,
            already_current: tally.already_current,
            skipped: tally.skipped,
            failed: tally.failed,
            rolled_back: tally.rolled_back,
            held: held(view),
            in_progress: tally.in_progress.saturating_sub(held(view)),
            max_failures: view.rollout.as_ref().map(|r| r.max_failures),
            waves: waves_of(view),
            nothing_queued: nothing_queued(view),
        }
    }

    /// Whether the run may still change (the run page refreshes then).
    pub fn is_live(&self) -> bool {
        self.state != STATE_COMPLETED && self.nothing_queued.is_none()
    }
}

/// Jobs parked in the ledger (see [`RunSummary::held`]).
fn held(view: &RunView) -> usize {
    latest_jobs(view)
        .iter()
        .filter(|l| is_held(view, l.job))
        .count()
}

fn is_held(view: &RunView, job: &JobRecord) -> bool {
    matches!(job.outcome, Some(Outcome::Held { .. }))
        || rollout_view::waiting_reason(view, job).is_some()
}

/// Each wave's size and progress ([`rollout_view::waves`]) with its failures.
fn waves_of(view: &RunView) -> Vec<WaveSummary> {
    let latest = latest_jobs(view);
    rollout_view::waves(view)
        .into_iter()
        .map(|w| WaveSummary {
            failed: latest
                .iter()
                .filter(|l| l.is_final_failure())
                .filter(|l| rollout_view::wave_of(view, l.job) == Some(w.wave))
                .count(),
            wave: w.wave,
            name: w.name,
            jobs: w.jobs,
            finished: w.finished,
            released_at: w.released_at.map(|t| t.to_rfc3339()),
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

/// Where a job is now, from its outcome and its wave.
fn phase_of(view: &RunView, job: &JobRecord) -> &'static str {
    if is_held(view, job) {
        return PHASE_HELD;
    }
    match (&job.outcome, &job.progress) {
        (Some(o), _) if o.is_final() => PHASE_DONE,
        // A worker reported where it is and has not reported an end since.
        (_, Some(p)) if job.updated_at.is_none_or(|t| t <= p.at) => p.phase.name(),
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
                let outcome = job.outcome.as_ref();
                let phase = phase_of(view, job);
                let waiting = rollout_view::waiting_reason(view, job);
                AppStatus {
                    app: job.app.name.clone(),
                    app_guid: job.app.guid.clone(),
                    org: job.app.org_name.clone(),
                    space: job.app.space_name.clone(),
                    wave: rollout_view::wave_of(view, job),
                    phase: phase.to_string(),
                    outcome: if waiting.is_some() {
                        PHASE_HELD.to_string()
                    } else {
                        outcome_name(outcome).to_string()
                    },
                    reason: waiting
                        .or_else(|| outcome.and_then(Outcome::reason).map(str::to_string)),
                    version: match outcome {
                        Some(Outcome::Restaged { version, .. }) => version.clone(),
                        _ => None,
                    },
                    attempts: job.attempts,
                    updated_at: job.updated_at.map(|t| t.to_rfc3339()),
                    build_guid: job.progress.as_ref().and_then(|p| p.build_guid.clone()),
                    deployment_guid: match outcome {
                        Some(Outcome::Restaged {
                            deployment_guid, ..
                        })
                        | Some(Outcome::RolledBack {
                            deployment_guid, ..
                        }) => Some(deployment_guid.clone()),
                        _ => job
                            .progress
                            .as_ref()
                            .and_then(|p| p.deployment_guid.clone()),
                    },
                    started_at: job.progress.as_ref().map(|p| p.started_at.to_rfc3339()),
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
