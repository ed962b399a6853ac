//! Restaging one app: the eight steps of a restage, written so that a
//! redelivered job resumes the build or deployment it already started.
//!
//! Order on every delivery, numbered as in [`Restage::run`]:
//! 1. re-read the app; look for a deployment carrying this job's label and,
//!    if there is one, follow it (steps 7 and 8) instead of doing anything new;
//! 2. stand back for stopped/docker apps, apps already at the target version,
//!    apps someone pushed since discovery, and apps someone else is deploying;
//! 3. stage the package behind the live droplet (or resume this job's build);
//! 4. poll the build until it is STAGED;
//! 5. re-check the current droplet: nobody may have pushed while we staged;
//! 6. create the deployment: rolling, or canary where configured and the
//!    Cloud Controller has it (3.173+; steps 3.189+), else rolling with a note;
//! 7. watch it to FINALIZED: at each canary pause verify the canary for
//!    `verify_for` and continue, or cancel a crashing canary (reported as
//!    rolled back); cancel a deployment that is stuck;
//! 8. verify the DEPLOYED app for `verify_for` (no crash, every web instance
//!    RUNNING) and, if its new droplet crashes, deploy the previous droplet
//!    again, labelled so that a redelivery follows that rollback; report how
//!    it finalized.
//!
//! Steps 1 and 2 read everything at once (with the package the job names,
//! when discovery read it): a round trip to CC is on every restage's
//! critical path, so a restage costs two before its build, not four.
//!
//! A restart skips steps 3 to 5. Every step returns a [`Step`]: it carries
//! on, or it stops the restage with its outcome (`ControlFlow::Break`).
//!
//! Before creating anything the deadline is checked, and every wait ends at
//! the deadline's stop margin with a resumable `Deferred`. Builds and
//! deployments are polled when their end is likely (`engine::poll`) when
//! the job's hints say how long they took last time.

use std::collections::HashSet;
use std::ops::ControlFlow::{self, Break, Continue};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::classify::{api_error, is_quota_text, quota, staging_failure};
use super::deadline::Deadline;
use super::labels::{
    JOB_LABEL, ROLLBACK_LABEL, ROLLBACK_REASON, RUN_LABEL, job_labels, job_selector, label_value,
};
use super::poll::{Calibration, Phase, PollPlan};
use super::verify::{self, Health};
use crate::cf::{
    App, AppState, Build, BuildState, CfClient, CfError, CurrentDroplet, Deployment,
    DeploymentRequest, DeploymentStatusReason, DeploymentStatusValue, Droplet, LifecycleType,
    Package, PackageState, PackageType,
};
use crate::config::WorkerSettings;
use crate::domain::{Action, Outcome, RestageJob};
use crate::ledger::Phase as Progressed;
use crate::retry;

mod canary;
mod deploy;
mod finish;
mod stage;
mod stand_back;

use canary::{canceled_canary, is_crashed_canary};
use finish::rolled_back;
use stand_back::{ForStaging, Prefetched};

/// Log target of finished restages (one line each, with its duration).
pub const RESTAGE_LOG: &str = "restager::restage";

/// How many polls in a row a deployment may report `status.details.error`
/// before it counts as stuck (the updater clears a passing error on its next
/// successful step).
const ERROR_POLLS: u32 = 3;
/// Polls come every poll interval ±20 %, so many workers do not poll in lockstep.
const POLL_SPREAD: f64 = 0.2;

/// One step of the restage: carry on with `T`, or stop the restage here
/// with this outcome. `?` passes a stop up to [`Restage::run`].
type Step<T> = ControlFlow<Outcome, T>;

/// A Cloud Controller answer as a step: an error stops the restage with
/// [`api_error`]'s classification of it.
trait OrStop<T> {
    fn or_stop(self, doing: &str) -> Step<T>;
}

impl<T> OrStop<T> for Result<T, CfError> {
    fn or_stop(self, doing: &str) -> Step<T> {
        match self {
            Ok(value) => Continue(value),
            Err(e) => Break(api_error(doing, &e)),
        }
    }
}

/// Told where a restage is (the worker writes it to the ledger, for the
/// run's live view). Reporting never stops or fails a restage.
#[async_trait::async_trait]
pub trait ProgressSink: Send + Sync {
    async fn reached(
        &self,
        phase: Progressed,
        build_guid: Option<&str>,
        deployment_guid: Option<&str>,
    );
}

/// Tells nobody.
pub struct NoProgress;

#[async_trait::async_trait]
impl ProgressSink for NoProgress {
    async fn reached(&self, _: Progressed, _: Option<&str>, _: Option<&str>) {}
}

/// Restages (or restarts) `job`'s app and says what happened. Never panics
/// and never returns an error: every problem is an [`Outcome`].
pub async fn restage_one(
    cf: &CfClient,
    settings: &WorkerSettings,
    job: &RestageJob,
    deadline: &Deadline,
) -> Outcome {
    restage_with(
        cf,
        settings,
        job,
        deadline,
        &Calibration::default(),
        &NoProgress,
    )
    .await
}

/// [`restage_one`] with the process's record of how good its expectations
/// were (the batch engine keeps one per process; see `engine::poll`),
/// telling `progress` as each phase starts.
pub(crate) async fn restage_with(
    cf: &CfClient,
    settings: &WorkerSettings,
    job: &RestageJob,
    deadline: &Deadline,
    calibration: &Calibration,
    progress: &dyn ProgressSink,
) -> Outcome {
    let run = Restage {
        cf,
        settings,
        job,
        deadline,
        selector: job_selector(job),
        job_label: label_value(job.job_id.as_str()),
        progress,
        calibration,
        staged_version: std::sync::Mutex::new(None),
        staging_since: Mark::default(),
        rollout_since: Mark::default(),
    };
    let started = Instant::now();
    // Either the restage went through to its end, or a step stopped it.
    let (Continue(outcome) | Break(outcome)) = run.run().await;
    let took = Duration::from_millis(started.elapsed().as_millis() as u64);
    let what = if outcome.is_final() {
        "restage finished"
    } else {
        "restage not finished; back on the queue"
    };
    tracing::info!(target: RESTAGE_LOG, app = %job.app.name, org = %job.app.org_name, space = %job.app.space_name,
        outcome = %outcome.kind(), duration = %humantime::format_duration(took), job = %job.job_id, run = %job.run_id,
        reason = outcome.reason().unwrap_or_default(), "{what}");
    outcome
}

struct Restage<'a> {
    cf: &'a CfClient,
    settings: &'a WorkerSettings,
    job: &'a RestageJob,
    deadline: &'a Deadline,
    selector: String,
    job_label: String,
    progress: &'a dyn ProgressSink,
    calibration: &'a Calibration,
    /// The staged droplet's buildpack version, read beside step 5's checks
    /// so that step 8 need not wait for it: `(droplet guid, version)`.
    staged_version: std::sync::Mutex<Option<(String, Option<String>)>>,
    /// When this delivery created the build / deployment it watches (a
    /// resumed one started before, by CC's clock); the phase's length is
    /// measured from here, more finely than CC's whole-second timestamps.
    staging_since: Mark,
    rollout_since: Mark,
}

/// When something started, set by the step that started it.
#[derive(Default)]
struct Mark(std::sync::Mutex<Option<Instant>>);

impl Mark {
    fn set(&self, at: Option<Instant>) {
        // An Option<Instant> cannot be left half-written by a panic.
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Restage<'_> {
    fn app_guid(&self) -> &str {
        &self.job.app.guid
    }

    fn is_ours(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        labels.get(JOB_LABEL) == Some(&self.job_label)
    }

    /// When to poll a phase that its hints say took `raw` last time.
    fn poll_plan(&self, phase: Phase, raw: Option<Duration>) -> PollPlan {
        let expectation = raw
            .filter(|_| self.settings.predicted_polling)
            .map(|r| self.calibration.expect(phase, r));
        PollPlan::new(self.settings.poll_interval, expectation)
    }

    /// Where the deployment updater ticks, if this process knows (never
    /// with a zero period: the beat learns nothing of one).
    fn updater_ticks(&self) -> Option<super::beat::Ticks> {
        self.calibration
            .beat
            .ticks(self.settings.updater_period, Instant::now())
    }

    /// The eight steps of the module doc; each `?` is a step that may stop
    /// the restage. `Continue` only once step 8 has reported.
    async fn run(&self) -> Step<Outcome> {
        if self.job.action == Action::None {
            return Break(skipped("the configured action is `none`: report only"));
        }
        // 1. Re-read the app; a deployment this job created is followed to
        // its end. Step 2's reads (and the package to stage) go out with
        // these: each round trip to CC is on every restage's critical path,
        // and they are wasted only on a redelivery that resumes, or an app
        // someone stopped since discovery.
        let (app, ours, look) =
            futures::join!(self.read_app(), self.our_deployments(), self.first_look());
        let app = app?;
        let ours = ours?;
        let known: HashSet<String> = ours.iter().map(|d| d.guid.clone()).collect();
        let resumed = match ours.into_iter().next() {
            Some(dep)
                if dep.status.reason == DeploymentStatusReason::Canceled
                    && !is_crashed_canary(&dep) =>
            {
                // Only a retryable failure (a stall on quota) leads here:
                // permanent ones are final in the ledger and never resumed.
                tracing::info!(job = %self.job.job_id, deployment = %dep.guid, "this job's previous deployment was canceled; trying again");
                None
            }
            other => other,
        };
        let deployment = match resumed {
            Some(dep) => dep,
            None => {
                // 2. Stand back unless the app is ours to restage.
                let (current, look) = self.stand_back(&app, look).await?;
                let droplet = match self.job.action {
                    Action::Restart => None,
                    Action::Restage | Action::None => {
                        // 3. Stage the live droplet's package (or resume this job's build).
                        let build = self.build(&current, look).await?;
                        self.progress
                            .reached(Progressed::Staging, Some(&build.guid), None)
                            .await;
                        // 4. Poll the build until it is STAGED.
                        let droplet = self.watch_build(build).await?;
                        // 5. Re-check the current droplet.
                        self.recheck_before_deploy(&droplet).await?;
                        Some(droplet)
                    }
                };
                // 6. Create the deployment (rolling or canary).
                self.deploy(droplet.as_deref(), &known).await?
            }
        };
        self.progress
            .reached(Progressed::Deploying, None, Some(&deployment.guid))
            .await;
        // 7. Watch it to FINALIZED, taking a canary past its pauses.
        let finalized = self.watch_deployment(deployment).await?;
        // 8. Verify a DEPLOYED app (rolling back a crashing droplet) and report.
        self.finalized(&finalized).await
    }

    async fn read_app(&self) -> Step<App> {
        match self.cf.get_app(self.app_guid()).await {
            Ok(app) => Continue(app),
            Err(e) if e.is_not_found() => Break(skipped("the app no longer exists")),
            Err(e) => Break(api_error("reading the app", &e)),
        }
    }

    async fn our_deployments(&self) -> Step<Vec<Deployment>> {
        self.cf
            .list_deployments(self.app_guid(), &[], Some(&self.selector))
            .await
            .or_stop("looking for this job's deployment")
    }

    /// A resumable deferral: the message comes back soon and this job's
    /// labels lead the next delivery to the build or deployment in flight.
    fn out_of_time(&self, state: &str) -> Outcome {
        if self.deadline.is_shutting_down() {
            return handed_back(state);
        }
        Outcome::Deferred {
            reason: format!("out of time in this invocation; {state}; resuming on redelivery"),
            retry_after: Some(self.settings.poll_interval.min(Duration::from_secs(30))),
        }
    }
}

/// Work stopped by a shutdown (SIGTERM), not by its own doing: back on the
/// queue at once for the next start, which resumes from the job's labels.
/// The batch does not count it as an attempt.
pub(crate) fn handed_back(state: &str) -> Outcome {
    Outcome::Deferred {
        reason: format!("handed back at shutdown; {state}; the next start resumes it"),
        retry_after: Some(Duration::ZERO),
    }
}

fn skipped(reason: &str) -> Outcome {
    Outcome::Skipped {
        reason: reason.to_string(),
    }
}

fn someone_deploying(what: &str) -> Outcome {
    Outcome::Deferred {
        reason: format!("someone else is deploying ({what}); not superseding them"),
        retry_after: None,
    }
}

/// A POST whose response never arrived (timeout, reset) or was garbled or
/// unreadable: it may have been processed.
fn is_lost(e: &CfError) -> bool {
    matches!(
        e,
        CfError::Unavailable { .. } | CfError::Invalid(_) | CfError::Unreadable { .. }
    ) || matches!(e, CfError::Api { status, .. } if *status >= 500)
}

/// How long ago CC created something, by CC's clock when it says (this
/// survives redeliveries), else since this process first saw it.
fn age(created_at: Option<DateTime<Utc>>, seen: Instant) -> Duration {
    match created_at {
        Some(t) => Utc::now()
            .signed_duration_since(t)
            .to_std()
            .unwrap_or(Duration::ZERO),
        None => seen.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_responses_are_recognised() {
        assert!(is_lost(&CfError::Unavailable {
            request: "POST /v3/builds".into(),
            detail: "reset".into()
        }));
        assert!(!is_lost(&CfError::from_response(
            "POST /v3/builds",
            422,
            b"{}"
        )));
    }
}
