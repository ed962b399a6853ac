//! Restaging one app: the eight steps of a rolling restage, written so that a
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
//! 6. create the rolling deployment;
//! 7. watch it to FINALIZED, cancelling it if it is stuck;
//! 8. verify the DEPLOYED app for `verify_for` (no crash, every web instance
//!    RUNNING) and, if its new droplet crashes, deploy the previous droplet
//!    again, labelled so that a redelivery follows that rollback; report how
//!    it finalized.
//!
//! A restart skips steps 3 to 5. Every step returns a [`Step`]: it carries
//! on, or it stops the restage with its outcome (`ControlFlow::Break`).
//!
//! Before creating anything the deadline is checked, and every wait ends at
//! the deadline's stop margin with a resumable `Deferred`.

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
use super::verify::{self, Health};
use crate::cf::{
    App, AppState, Build, BuildState, CfClient, CfError, CurrentDroplet, Deployment,
    DeploymentRequest, DeploymentStatusReason, DeploymentStatusValue, Droplet, LifecycleType,
    PackageState, PackageType,
};
use crate::config::WorkerSettings;
use crate::domain::{Action, Outcome, RestageJob};
use crate::retry;

mod finish;

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

/// Restages (or restarts) `job`'s app and says what happened. Never panics
/// and never returns an error: every problem is an [`Outcome`].
pub async fn restage_one(
    cf: &CfClient,
    settings: &WorkerSettings,
    job: &RestageJob,
    deadline: &Deadline,
) -> Outcome {
    let run = Restage {
        cf,
        settings,
        job,
        deadline,
        selector: job_selector(job),
        job_label: label_value(job.job_id.as_str()),
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
}

impl Restage<'_> {
    fn app_guid(&self) -> &str {
        &self.job.app.guid
    }

    fn is_ours(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        labels.get(JOB_LABEL) == Some(&self.job_label)
    }

    /// The eight steps of the module doc; each `?` is a step that may stop
    /// the restage. `Continue` only once step 8 has reported.
    async fn run(&self) -> Step<Outcome> {
        if self.job.action == Action::None {
            return Break(skipped("the configured action is `none`: report only"));
        }
        // 1. Re-read the app; a deployment this job created is followed to its end.
        let app = self.read_app().await?;
        let ours = self.our_deployments().await?;
        let known: HashSet<String> = ours.iter().map(|d| d.guid.clone()).collect();
        let resumed = match ours.into_iter().next() {
            Some(dep) if dep.status.reason == DeploymentStatusReason::Canceled => {
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
                let current = self.stand_back(&app).await?;
                let droplet = match self.job.action {
                    Action::Restart => None,
                    Action::Restage | Action::None => {
                        // 3. Stage the live droplet's package (or resume this job's build).
                        let build = self.build(&current).await?;
                        // 4. Poll the build until it is STAGED.
                        let droplet = self.watch_build(build).await?;
                        // 5. Re-check the current droplet.
                        self.recheck_before_deploy(&droplet).await?;
                        Some(droplet)
                    }
                };
                // 6. Create the rolling deployment.
                self.deploy(droplet.as_deref(), &known).await?
            }
        };
        // 7. Watch it to FINALIZED, cancelling it if it is stuck.
        let finalized = self.watch_deployment(deployment).await?;
        // 8. Verify a DEPLOYED app (rolling back a crashing droplet) and report.
        self.finalized(&finalized).await
    }

    /// Step 2: the app's current droplet, unless the app is stopped, a docker
    /// app, already current, pushed since discovery, or someone is deploying it.
    async fn stand_back(&self, app: &App) -> Step<Droplet> {
        if app.state == AppState::Stopped {
            return Break(skipped(
                "the app is STOPPED: a deployment would start it, so it is left alone",
            ));
        }
        if app.lifecycle_type() == Some(&LifecycleType::Docker) {
            return Break(skipped(
                "docker app: no buildpack to update (a restage would re-pull the image)",
            ));
        }
        let Some(current) = self
            .cf
            .get_current_droplet(self.app_guid())
            .await
            .or_stop("reading the current droplet")?
        else {
            return Break(skipped("not restageable: the app has no current droplet"));
        };
        if self.already_current(&current) {
            return Break(self.current_by_whom(&current).await);
        }
        if current.guid != self.job.droplet_guid {
            return Break(self.droplet_changed(&current.guid, None).await);
        }
        let staging = self
            .cf
            .list_builds(self.app_guid(), &[BuildState::Staging], None)
            .await
            .or_stop("listing staging builds")?;
        if let Some(theirs) = staging.iter().find(|b| !self.is_ours(&b.metadata.labels)) {
            return Break(someone_deploying(&format!(
                "build {} is STAGING",
                theirs.guid
            )));
        }
        self.check_no_foreign_deployment().await?;
        Continue(current)
    }

    /// Already current: by someone else's doing (its owner restaged it
    /// after the advance notice, say) when the droplet is not the one
    /// discovery saw and no restager run staged it.
    async fn current_by_whom(&self, current: &Droplet) -> Outcome {
        if current.guid == self.job.droplet_guid
            || self.restager_run_behind(&current.guid).await.is_some()
        {
            return Outcome::AlreadyCurrent;
        }
        let has = match (&self.job.buildpack, &self.job.target_version) {
            (Some(bp), Some(v)) => format!(" already has {bp} {v} or newer"),
            _ => String::new(),
        };
        Outcome::DoneByOwner {
            droplet_guid: current.guid.clone(),
            note: format!(
                "done by its owner: the current droplet {}{has}; it was staged since discovery (which saw {}), not by restager",
                current.guid, self.job.droplet_guid
            ),
        }
    }

    async fn read_app(&self) -> Step<App> {
        match self.cf.get_app(self.app_guid()).await {
            Ok(app) => Continue(app),
            Err(e) if e.is_not_found() => Break(skipped("the app no longer exists")),
            Err(e) => Break(api_error("reading the app", &e)),
        }
    }

    fn already_current(&self, droplet: &Droplet) -> bool {
        let (Some(target), Some(bp)) = (&self.job.target_version, &self.job.buildpack) else {
            return false;
        };
        droplet
            .buildpack(bp)
            .and_then(|b| b.parsed_version())
            .is_some_and(|v| v >= *target)
    }

    async fn our_deployments(&self) -> Step<Vec<Deployment>> {
        self.cf
            .list_deployments(self.app_guid(), &[], Some(&self.selector))
            .await
            .or_stop("looking for this job's deployment")
    }

    async fn check_no_foreign_deployment(&self) -> Step<()> {
        let active = self
            .cf
            .list_deployments(self.app_guid(), &[DeploymentStatusValue::Active], None)
            .await
            .or_stop("listing active deployments")?;
        match active.iter().find(|d| !self.is_ours(&d.metadata.labels)) {
            Some(theirs) => Break(someone_deploying(&format!(
                "deployment {} is ACTIVE",
                theirs.guid
            ))),
            None => Continue(()),
        }
    }

    /// Step 3: this job's earlier build if it staged (or is still staging),
    /// else a new build of the live droplet's package.
    async fn build(&self, current: &Droplet) -> Step<Build> {
        let builds = self
            .cf
            .list_builds(self.app_guid(), &[], Some(&self.selector))
            .await
            .or_stop("looking for this job's build")?;
        if let Some(build) = builds.into_iter().next() {
            match build.state {
                BuildState::Staging | BuildState::Staged => return Continue(build),
                BuildState::Failed => {
                    let failed =
                        staging_failure(&build.guid, build.error.as_deref(), build.error_id());
                    if failed.is_final() {
                        return Break(failed);
                    }
                    // A transient failure: this delivery is the retry.
                }
                BuildState::Other(_) => return Continue(build),
            }
        }
        self.create_build(current).await
    }

    async fn create_build(&self, current: &Droplet) -> Step<Build> {
        let Some(package_guid) = current.package_guid() else {
            return Break(skipped(&format!(
                "not restageable: droplet {} has no package (pushed as a droplet?)",
                current.guid
            )));
        };
        let package = match self.cf.get_package(package_guid).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => {
                return Break(skipped(&format!(
                    "not restageable: package {package_guid} behind the live droplet is gone"
                )));
            }
            Err(e) => return Break(api_error("reading the live droplet's package", &e)),
        };
        if package.kind == PackageType::Docker {
            return Break(skipped("docker package: nothing to restage"));
        }
        if package.state != PackageState::Ready {
            return Break(skipped(&format!(
                "not restageable: package {} behind the live droplet is {}",
                package.guid, package.state
            )));
        }
        if !self.deadline.can_start_work() {
            return Break(self.out_of_time("staging has not started"));
        }
        match self
            .cf
            .create_build(&package.guid, &job_labels(self.job))
            .await
        {
            Ok(build) => {
                tracing::info!(job = %self.job.job_id, build = %build.guid, package = %package.guid, "staging started");
                Continue(build)
            }
            Err(e) if e.is_disk_limit_exceeded() => Break(Outcome::Failed {
                reason: "the app's disk quota is larger than this foundation allows for staging \
                         (Cloud Controller: disk limit exceeded); lower it (cf scale APP -k ...) \
                         or raise maximum_app_disk_in_mb, then retry"
                    .to_string(),
                permanent: true,
            }),
            Err(e) if e.is_quota() => Break(quota("staging", &e)),
            Err(e) if is_lost(&e) || e.is_staging_in_progress() => {
                // The POST may have created the build even though we did not
                // hear back (or a duplicate delivery just did): find it by label.
                let found = self
                    .cf
                    .list_builds(self.app_guid(), &[], Some(&self.selector))
                    .await
                    .or_stop("looking for this job's build")?;
                match found.into_iter().next() {
                    Some(b) => Continue(b),
                    None if e.is_staging_in_progress() => {
                        Break(someone_deploying("a build is STAGING"))
                    }
                    None => Break(api_error("creating the build", &e)),
                }
            }
            Err(e) if e.is_stack_disabled() => Break(Outcome::Failed {
                reason: format!("the app's stack is DISABLED: {e}"),
                permanent: true,
            }),
            Err(e) => Break(api_error("creating the build", &e)),
        }
    }

    /// Step 4: the droplet of `build` once it is STAGED.
    async fn watch_build(&self, mut build: Build) -> Step<String> {
        let started = Instant::now();
        loop {
            match build.state {
                BuildState::Staged => {
                    return match build.droplet_guid() {
                        Some(droplet) => Continue(droplet.to_string()),
                        None => Break(Outcome::Failed {
                            reason: format!("build {} is STAGED but names no droplet", build.guid),
                            permanent: false,
                        }),
                    };
                }
                BuildState::Failed => {
                    return Break(staging_failure(
                        &build.guid,
                        build.error.as_deref(),
                        build.error_id(),
                    ));
                }
                BuildState::Staging | BuildState::Other(_) => {}
            }
            if age(build.created_at, started) >= self.settings.staging_timeout {
                return Break(Outcome::Failed {
                    reason: format!(
                        "staging timed out: build {} still STAGING after {}",
                        build.guid,
                        humantime::format_duration(self.settings.staging_timeout)
                    ),
                    permanent: false,
                });
            }
            if !self
                .deadline
                .sleep(retry::spread(self.settings.poll_interval, POLL_SPREAD))
                .await
            {
                return Break(self.out_of_time(&format!("build {} is still STAGING", build.guid)));
            }
            build = self
                .cf
                .get_build(&build.guid)
                .await
                .or_stop("polling the build")?;
        }
    }

    /// The app's live droplet GUID: from the app object, or, where CC's app
    /// objects do not name it (older APIs), from the app's current droplet.
    async fn live_droplet_guid(&self, app: &App) -> Step<Option<String>> {
        match app.current_droplet() {
            CurrentDroplet::Guid(g) => Continue(Some(g.to_string())),
            CurrentDroplet::None => Continue(None),
            CurrentDroplet::NotReported => self
                .cf
                .get_current_droplet(self.app_guid())
                .await
                .map(|d| d.map(|d| d.guid))
                .or_stop("reading the current droplet"),
        }
    }

    /// Step 5: nobody may have pushed (or stopped or deployed the app) while we staged.
    async fn recheck_before_deploy(&self, droplet: &str) -> Step<()> {
        let app = self.read_app().await?;
        let live = self.live_droplet_guid(&app).await?;
        let now = live.as_deref().unwrap_or("none");
        if now != self.job.droplet_guid {
            return Break(self.droplet_changed(now, Some(droplet)).await);
        }
        if app.state == AppState::Stopped {
            return Break(skipped(
                "the app was STOPPED while we staged: a deployment would start it",
            ));
        }
        self.check_no_foreign_deployment().await
    }

    /// The skip when the live droplet is not the one discovery saw: either
    /// restager itself restaged the app meanwhile (another run's job, e.g. a
    /// sweep, whose build carries `restager.io/run`), or someone pushed.
    /// `ours` is this job's staged droplet when it had got that far.
    async fn droplet_changed(&self, now: &str, ours: Option<&str>) -> Outcome {
        let not_deployed = ours
            .map(|d| format!("; our droplet {d} was not deployed"))
            .unwrap_or_default();
        if let Some(run) = self.restager_run_behind(now).await {
            return skipped(&format!(
                "already restaged by restager run {run}: the current droplet {now} was staged by it \
                 (discovery saw {}){not_deployed}",
                self.job.droplet_guid
            ));
        }
        let when = if ours.is_some() {
            " while we staged"
        } else {
            ""
        };
        skipped(&format!(
            "someone pushed{when}: the current droplet is {now} (discovery saw {}){not_deployed}",
            self.job.droplet_guid
        ))
    }

    /// The run label of the restager build that staged `droplet_guid`, if
    /// one did. Costs one request, only when the droplet changed; an error
    /// reading builds falls back to "someone pushed".
    async fn restager_run_behind(&self, droplet_guid: &str) -> Option<String> {
        let builds = match self
            .cf
            .list_builds(self.app_guid(), &[BuildState::Staged], Some(RUN_LABEL))
            .await
        {
            Ok(builds) => builds,
            Err(e) => {
                tracing::debug!(job = %self.job.job_id, error = %e, "could not tell who staged the current droplet");
                return None;
            }
        };
        builds
            .into_iter()
            .find(|b| b.droplet_guid() == Some(droplet_guid))
            .and_then(|b| b.metadata.labels.get(RUN_LABEL).cloned())
    }

    /// Step 6: the rolling deployment of `droplet` (of the current one for a
    /// restart); `known` are this job's deployments from before.
    async fn deploy(&self, droplet: Option<&str>, known: &HashSet<String>) -> Step<Deployment> {
        if !self.deadline.can_start_work() {
            let what = match droplet {
                Some(d) => format!("droplet {d} is staged and waits to be deployed"),
                None => "the restart has not started".to_string(),
            };
            return Break(self.out_of_time(&what));
        }
        let created = self
            .cf
            .create_deployment(
                self.app_guid(),
                droplet,
                self.settings.max_in_flight,
                &job_labels(self.job),
            )
            .await;
        let deployment = match created {
            Ok(d) => d,
            Err(e) if e.is_quota() => return Break(quota("creating the deployment", &e)),
            Err(e) if e.is_deployments_disabled() => {
                return Break(Outcome::Deferred {
                    reason: format!("the operator has disabled deployments: {e}"),
                    retry_after: Some(Duration::from_secs(15 * 60)),
                });
            }
            Err(e) if is_lost(&e) => {
                // Never POST again blindly: a second deployment would
                // supersede the first. Find the one we may have created.
                let found = self.our_deployments().await?;
                match found.into_iter().find(|d| !known.contains(&d.guid)) {
                    Some(d) => d,
                    None => return Break(api_error("creating the deployment", &e)),
                }
            }
            Err(e) => return Break(api_error("creating the deployment", &e)),
        };
        tracing::info!(job = %self.job.job_id, deployment = %deployment.guid, droplet = droplet.unwrap_or("current"), "deployment started");
        Continue(deployment)
    }

    /// Step 7: `dep` once it is FINALIZED. A stuck deployment is canceled and
    /// stops the restage as failed.
    async fn watch_deployment(&self, mut dep: Deployment) -> Step<Deployment> {
        let started = Instant::now();
        let mut error_polls = 0u32;
        loop {
            if dep.is_finalized() {
                return Continue(dep);
            }
            if dep.status.reason != DeploymentStatusReason::Canceling {
                error_polls = if dep.error().is_some() {
                    error_polls + 1
                } else {
                    0
                };
                let stuck = if error_polls >= ERROR_POLLS {
                    Some(dep.error().unwrap_or_default().to_string())
                } else if age(dep.created_at, started) >= self.settings.deploy_timeout {
                    Some(format!(
                        "not finished after {} (new instances never became healthy)",
                        humantime::format_duration(self.settings.deploy_timeout)
                    ))
                } else {
                    None
                };
                if let Some(why) = stuck {
                    match self.cf.cancel_deployment(&dep.guid).await {
                        Ok(()) => {
                            tracing::warn!(job = %self.job.job_id, deployment = %dep.guid, reason = %why, "deployment stuck; canceled");
                            // Cancel restores the previous droplet at once; the
                            // updater finishes later. No need to wait for it.
                            return Break(stuck_failure(&dep.guid, &why));
                        }
                        // 422: it finalized meanwhile; the next read says how.
                        Err(e) if e.status() == Some(422) => {}
                        Err(e) => return Break(api_error("canceling a stuck deployment", &e)),
                    }
                }
            }
            if !self
                .deadline
                .sleep(retry::spread(self.settings.poll_interval, POLL_SPREAD))
                .await
            {
                return Break(self.out_of_time(&format!(
                    "deployment {} is still {}",
                    dep.guid, dep.status.reason
                )));
            }
            dep = self
                .cf
                .get_deployment(&dep.guid)
                .await
                .or_stop("polling the deployment")?;
        }
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

fn stuck_failure(deployment: &str, why: &str) -> Outcome {
    Outcome::Failed {
        reason: format!(
            "deployment {deployment} stuck: {why}; canceled, the previous droplet is current again"
        ),
        // A stall on quota may pass once other restages finish; a
        // crash-looping droplet will crash again.
        permanent: !is_quota_text(why),
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

    #[test]
    fn stuck_quota_is_retryable_and_crashes_are_not() {
        assert!(!stuck_failure("d", "memory quota_exceeded").is_final());
        assert!(stuck_failure("d", "not finished after 10m").is_final());
    }
}
