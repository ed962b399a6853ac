//! Step 7 at a canary's pause: Cloud Controller has started the step's new
//! instances and waits. The canary is verified for `verify_for` from the
//! moment it paused (by CC's clock, as step 8 verifies), then continued to
//! its next step; a canary that crashes is canceled, which makes the
//! previous droplet current again.
//!
//! Everything a later delivery needs is on the deployment itself: which
//! pause it is at (`status.canary.steps.current` and the time it paused),
//! and, once a crash was seen, the reason as an annotation. So a redelivered
//! job verifies only the pause it finds, never continues a pause it has not
//! verified, and reports a canceled canary instead of canceling it again.

use super::*;

impl Restage<'_> {
    /// Takes the PAUSED canary `dep` past its pause: `Continue` with the
    /// deployment as it is after the continue (re-read), or `Break` with
    /// the rollback of a crashing canary.
    pub(super) async fn past_canary_pause(&self, dep: Deployment) -> Step<Deployment> {
        if let Some(reason) = dep.metadata.annotations.get(ROLLBACK_REASON) {
            // An earlier delivery saw it crash; its cancel may never have arrived.
            return self.cancel_canary(&dep, reason).await;
        }
        if !self.settings.verify_for.is_zero() {
            match self.verify(&dep).await? {
                Health::Healthy => {}
                Health::Crashed(evidence) => {
                    let reason = crashed_canary(&dep, &evidence);
                    return self.cancel_canary(&dep, &reason).await;
                }
                Health::OutOfTime => {
                    return Break(self.out_of_time(&format!(
                        "canary deployment {} is PAUSED{} and being verified",
                        dep.guid,
                        at_step(&dep)
                    )));
                }
            }
            // Only the pause that was verified may be continued: someone
            // (or another delivery) may have moved it on meanwhile.
            let now = self.poll_deployment(&dep.guid).await?;
            if !same_pause(&dep, &now) {
                return Continue(now);
            }
        }
        match self.cf.continue_deployment(&dep.guid).await {
            Ok(()) => {
                tracing::info!(job = %self.job.job_id, deployment = %dep.guid, step = at_step(&dep), "canary verified; continued")
            }
            // 422: no longer PAUSED (continued or canceled by someone else
            // first); lost: it may have arrived. Either way the next read
            // says where the deployment is, and a continue is never resent
            // blindly.
            Err(e) if e.status() == Some(422) || is_lost(&e) => {
                tracing::info!(job = %self.job.job_id, deployment = %dep.guid, error = %e, "continue not confirmed; re-reading the canary")
            }
            Err(e) => return Break(api_error("continuing the canary deployment", &e)),
        }
        self.poll_deployment(&dep.guid).await
    }

    /// Cancels the crashing canary `dep`: CC's cancel assigns the previous
    /// droplet at once (deployment_cancel.rb). The reason is noted on the
    /// deployment first, so a later delivery reports this rollback.
    async fn cancel_canary(&self, dep: &Deployment, reason: &str) -> Step<Deployment> {
        if !dep.metadata.annotations.contains_key(ROLLBACK_REASON) {
            let note = [(ROLLBACK_REASON.to_string(), reason.to_string())].into();
            self.cf
                .annotate_deployment(&dep.guid, &note)
                .await
                .or_stop("noting why the canary is canceled")?;
        }
        match self.cf.cancel_deployment(&dep.guid).await {
            Ok(()) => {
                tracing::warn!(job = %self.job.job_id, deployment = %dep.guid, %reason, "canary crashed; canceled");
                Break(Outcome::RolledBack {
                    reason: reason.to_string(),
                    deployment_guid: dep.guid.clone(),
                })
            }
            // It may have arrived: the next read (CANCELING, or still PAUSED
            // with the note) leads to the report or to one more cancel.
            Err(e) if is_lost(&e) => self.poll_deployment(&dep.guid).await,
            Err(e) if e.status() == Some(422) => {
                let now = self.poll_deployment(&dep.guid).await?;
                if now.is_active() && now.status.reason != DeploymentStatusReason::Canceling {
                    // Still PAUSED: CC could not put the previous droplet back.
                    return Break(Outcome::Failed {
                        reason: format!(
                            "{reason}; but Cloud Controller refused to cancel it: {e}; \
                             cancel it by hand (`cf cancel-deployment APP`)"
                        ),
                        permanent: true,
                    });
                }
                Continue(now)
            }
            Err(e) => Break(api_error("canceling the crashing canary", &e)),
        }
    }

    async fn poll_deployment(&self, guid: &str) -> Step<Deployment> {
        self.cf
            .get_deployment(guid)
            .await
            .or_stop("polling the deployment")
    }
}

/// A canary restager canceled because it crashed: its outcome, from the
/// note on the deployment (`None` for any other deployment).
pub(super) fn canceled_canary(dep: &Deployment) -> Option<Outcome> {
    let canceled = matches!(
        dep.status.reason,
        DeploymentStatusReason::Canceling | DeploymentStatusReason::Canceled
    );
    (canceled && is_crashed_canary(dep)).then(|| rolled_back(dep))
}

/// A canary restager noted as crashing (whether or not its cancel arrived).
pub(super) fn is_crashed_canary(dep: &Deployment) -> bool {
    dep.is_canary() && dep.metadata.annotations.contains_key(ROLLBACK_REASON)
}

fn crashed_canary(dep: &Deployment, evidence: &str) -> String {
    let back = match dep.previous_droplet_guid() {
        Some(previous) => format!("the previous droplet {previous} is current again"),
        None => "the previous droplet is current again".to_string(),
    };
    format!(
        "the canary crashed while it was verified{} ({evidence}); deployment {} was canceled and {back}",
        at_step(dep),
        dep.guid
    )
}

/// ` at step 2 of 3`, where Cloud Controller says (3.189+).
fn at_step(dep: &Deployment) -> String {
    let steps = dep.status.canary.as_ref().map(|c| &c.steps);
    match (steps.and_then(|s| s.current), steps.and_then(|s| s.total)) {
        (Some(current), Some(total)) => format!(" at step {current} of {total}"),
        (Some(current), None) => format!(" at step {current}"),
        _ => String::new(),
    }
}

/// Whether `now` is still the pause `then` was verified at.
fn same_pause(then: &Deployment, now: &Deployment) -> bool {
    now.status.reason == DeploymentStatusReason::Paused
        && now.canary_step() == then.canary_step()
        && now.status.details.last_status_change == then.status.details.last_status_change
}
