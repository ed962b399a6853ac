//! Steps 6 and 7 of a restage: create the deployment, rolling or canary
//! (finding it by label when the POST's answer was lost), and watch it to
//! FINALIZED, taking a canary past each pause (`canary.rs`) and cancelling
//! a deployment that is stuck.

use super::*;

impl Restage<'_> {
    /// Step 6: the deployment of `droplet` (of the current one for a
    /// restart), canary where configured and this Cloud Controller has it;
    /// `known` are this job's deployments from before.
    pub(super) async fn deploy(
        &self,
        droplet: Option<&str>,
        known: &HashSet<String>,
    ) -> Step<Deployment> {
        if !self.deadline.can_start_work() {
            let what = match droplet {
                Some(d) => format!("droplet {d} is staged and waits to be deployed"),
                None => "the restart has not started".to_string(),
            };
            return Break(self.out_of_time(&what));
        }
        let caps = self
            .cf
            .capabilities()
            .await
            .or_stop("reading the Cloud Controller's version")?;
        if let Some(note) = caps.rollout_note(&self.settings.deploy) {
            tracing::warn!(job = %self.job.job_id, %note, "the deployment differs from the configured strategy");
        }
        let request = DeploymentRequest {
            app_guid: self.app_guid().to_string(),
            droplet_guid: droplet.map(str::to_string),
            canary_steps: (self.settings.deploy.is_canary() && caps.canary())
                .then(|| self.settings.deploy.canary_steps.clone()),
            max_in_flight: self.settings.max_in_flight,
            labels: job_labels(self.job),
            annotations: Default::default(),
        };
        let created = self.cf.create_deployment_as(&request).await;
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
        self.rollout_since.set(Some(Instant::now()));
        tracing::info!(job = %self.job.job_id, deployment = %deployment.guid, droplet = droplet.unwrap_or("current"),
            strategy = deployment.strategy.as_deref().unwrap_or_default(), "deployment started");
        Continue(deployment)
    }

    /// Step 7: `dep` once it is FINALIZED. A canary is verified and
    /// continued at each pause, and canceled if it crashes; a stuck
    /// deployment is canceled. Either cancel stops the restage. A rolling
    /// deployment is polled when the app's last rollout says it is likely
    /// done; a canary, whose pauses are ours, on the fixed beat.
    pub(super) async fn watch_deployment(&self, mut dep: Deployment) -> Step<Deployment> {
        let started = Instant::now();
        let since = self.rollout_since.get();
        let before = match since {
            Some(_) => Duration::ZERO,
            None => age(dep.created_at, started),
        };
        let raw = (!dep.is_canary())
            .then(|| self.job.schedule.rollout(self.settings.max_in_flight))
            .flatten();
        let mut plan = self.poll_plan(Phase::Rollout, raw);
        let mut error_polls = 0u32;
        // When the poll before the last one was sent: a deployment first
        // seen FINALIZED brackets an updater tick since then.
        let mut asked_before: Option<Instant> = None;
        let mut asked: Option<Instant> = None;
        loop {
            if let Some(done) = canceled_canary(&dep) {
                return Break(done);
            }
            if dep.is_finalized() {
                if let Some(before) = asked_before {
                    // A zero period (aiming off) is ignored by the beat itself.
                    let period = self.settings.updater_period;
                    self.calibration
                        .beat
                        .bracket(period, before, Instant::now());
                }
                if let (Some(raw), Some(since), true) = (raw, since, dep.is_deployed()) {
                    self.calibration
                        .observe(Phase::Rollout, raw, since.elapsed());
                }
                return Continue(dep);
            }
            match dep.status.reason {
                DeploymentStatusReason::Paused => {
                    dep = self.past_canary_pause(dep).await?;
                    error_polls = 0;
                    if dep.status.reason != DeploymentStatusReason::Paused {
                        continue;
                    }
                    // Still paused (our continue did not take): look again
                    // after the poll interval.
                }
                DeploymentStatusReason::Canceling => {}
                _ => {
                    self.cancel_if_stuck(&dep, &mut error_polls, started)
                        .await?
                }
            }
            let elapsed = since.map_or_else(|| before + started.elapsed(), |s| s.elapsed());
            // A rollout only moves on an updater tick: aim just after one.
            plan.aim(self.updater_ticks());
            if !self.deadline.sleep(plan.next(elapsed)).await {
                return Break(self.out_of_time(&format!(
                    "deployment {} is still {}",
                    dep.guid, dep.status.reason
                )));
            }
            asked_before = asked;
            let sent = Instant::now();
            asked = Some(sent);
            dep = self
                .cf
                .get_deployment(&dep.guid)
                .await
                .or_stop("polling the deployment")?;
            self.calibration.beat.round_trip(sent.elapsed());
        }
    }

    /// Cancels `dep` once it has reported an error `ERROR_POLLS` polls in a
    /// row, or has not moved on for the deploy timeout.
    async fn cancel_if_stuck(
        &self,
        dep: &Deployment,
        error_polls: &mut u32,
        started: Instant,
    ) -> Step<()> {
        *error_polls = if dep.error().is_some() {
            *error_polls + 1
        } else {
            0
        };
        let why = if *error_polls >= ERROR_POLLS {
            dep.error().unwrap_or_default().to_string()
        } else if age(moved_on_at(dep), started) >= self.settings.deploy_timeout {
            format!(
                "not finished after {} (new instances never became healthy)",
                humantime::format_duration(self.settings.deploy_timeout)
            )
        } else {
            return Continue(());
        };
        match self.cf.cancel_deployment(&dep.guid).await {
            Ok(()) => {
                tracing::warn!(job = %self.job.job_id, deployment = %dep.guid, reason = %why, "deployment stuck; canceled");
                // Cancel restores the previous droplet at once; the
                // updater finishes later. No need to wait for it.
                Break(stuck_failure(&dep.guid, &why))
            }
            // 422: it finalized meanwhile; the next read says how.
            Err(e) if e.status() == Some(422) => Continue(()),
            Err(e) => Break(api_error("canceling a stuck deployment", &e)),
        }
    }
}

/// Since when `dep` has been working towards its next stop: its creation,
/// or for a canary the last continue (each step gets the deploy timeout;
/// the pauses in between are verification, not a stall).
fn moved_on_at(dep: &Deployment) -> Option<DateTime<Utc>> {
    if dep.is_canary() {
        dep.status.details.last_status_change.or(dep.created_at)
    } else {
        dep.created_at
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_quota_is_retryable_and_crashes_are_not() {
        assert!(!stuck_failure("d", "memory quota_exceeded").is_final());
        assert!(stuck_failure("d", "not finished after 10m").is_final());
    }
}
