//! Step 8 of a restage: a FINALIZED deployment's outcome. A DEPLOYED one is
//! verified for `verify_for` first, and its new droplet rolled back if it
//! crashes; the rollback is watched (step 7) and reported the same way.

use super::*;

impl Restage<'_> {
    /// Step 8: the outcome of a FINALIZED deployment; a DEPLOYED one is
    /// verified first and rolled back if its new droplet crashes.
    pub(super) async fn finalized(&self, dep: &Deployment) -> Step<Outcome> {
        match &dep.status.reason {
            DeploymentStatusReason::Deployed => {
                if dep.metadata.labels.contains_key(ROLLBACK_LABEL) {
                    return Continue(rolled_back(dep));
                }
                if !self.settings.verify_for.is_zero() {
                    match self.verify(dep).await? {
                        Health::Healthy => {}
                        Health::Crashed(evidence) => return self.roll_back(dep, &evidence).await,
                        Health::OutOfTime => {
                            return Break(self.out_of_time(&format!(
                                "deployment {} is DEPLOYED and being verified",
                                dep.guid
                            )));
                        }
                    }
                }
                let droplet_guid = dep.droplet_guid().unwrap_or_default().to_string();
                let version = self.deployed_version(&droplet_guid).await;
                let note = match self.cf.capabilities().await {
                    Ok(c) => {
                        let notes: Vec<String> = [
                            c.max_in_flight_note(self.settings.max_in_flight),
                            c.rollout_note(&self.settings.deploy),
                        ]
                        .into_iter()
                        .flatten()
                        .collect();
                        (!notes.is_empty()).then(|| notes.join("; "))
                    }
                    Err(_) => None,
                };
                Continue(Outcome::Restaged {
                    droplet_guid,
                    deployment_guid: dep.guid.clone(),
                    version,
                    note,
                    deployed_at: dep.created_at,
                })
            }
            DeploymentStatusReason::Superseded => Continue(skipped(&format!(
                "someone else deployed: our deployment {} was superseded",
                dep.guid
            ))),
            // Canceled by someone else: a cancel of ours has stopped at step 7.
            DeploymentStatusReason::Canceled => Continue(Outcome::Failed {
                reason: format!("deployment {} was canceled", dep.guid),
                permanent: true,
            }),
            other => Continue(Outcome::Failed {
                reason: format!("deployment {} finalized as {other}", dep.guid),
                permanent: true,
            }),
        }
    }

    /// Step 8 (and step 7 at a canary's pause): watches the app for
    /// `verify_for` after the deployment settled, by Cloud Controller's clock. CC's timestamps are
    /// whole seconds: the settle time is taken as the end of its second, so
    /// the window is never shorter than `verify_for`.
    pub(super) async fn verify(&self, dep: &Deployment) -> Step<Health> {
        self.progress
            .reached(Progressed::Verifying, None, Some(&dep.guid))
            .await;
        let settled_at = dep
            .status
            .details
            .last_status_change
            .or(dep.updated_at)
            .map(|t| t + chrono::Duration::seconds(1))
            .unwrap_or_else(Utc::now);
        verify::watch(
            self.cf,
            self.app_guid(),
            dep,
            settled_at,
            self.settings.verify_for,
            || retry::spread(self.settings.poll_interval, POLL_SPREAD),
            self.deadline,
        )
        .await
        .or_stop("verifying the deployed app")
    }

    /// The new droplet crashed: deploy the previous one again. The rollback
    /// carries this job's labels plus [`ROLLBACK_LABEL`], and the reason as
    /// an annotation, so a redelivery follows it and reports it.
    async fn roll_back(&self, dep: &Deployment, evidence: &str) -> Step<Outcome> {
        let new = dep.droplet_guid().unwrap_or("the new droplet");
        let Some(previous) = dep
            .previous_droplet_guid()
            .filter(|p| Some(*p) != dep.droplet_guid())
        else {
            return Continue(Outcome::Failed {
                reason: format!(
                    "droplet {new} crashed after deployment {}: {evidence}; there is no earlier droplet to go back to: \
                     inspect it with `cf logs APP --recent` and fix or `cf rollback APP` by hand",
                    dep.guid
                ),
                permanent: true,
            });
        };
        match self.cf.get_droplet(previous).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                return Continue(Outcome::Failed {
                    reason: format!(
                        "droplet {new} crashed after deployment {}: {evidence}; the previous droplet {previous} is gone, \
                         so restager left the app as it is: run `cf droplets APP` and `cf set-droplet APP GUID` \
                         with a good droplet, then `cf restart APP --strategy rolling`",
                        dep.guid
                    ),
                    permanent: true,
                });
            }
            Err(e) => return Break(api_error("reading the previous droplet", &e)),
        }
        if !self.deadline.can_start_work() {
            return Break(self.out_of_time(&format!(
                "droplet {new} crashed ({evidence}) and waits to be rolled back"
            )));
        }
        let reason = format!(
            "the new droplet crashed while it was verified ({evidence}); rolled back to the previous droplet {previous}"
        );
        let mut labels = job_labels(self.job);
        labels.insert(ROLLBACK_LABEL.to_string(), label_value(&dep.guid));
        let request = DeploymentRequest {
            app_guid: self.app_guid().to_string(),
            droplet_guid: Some(previous.to_string()),
            canary_steps: None,
            max_in_flight: self.settings.max_in_flight,
            labels,
            annotations: [(ROLLBACK_REASON.to_string(), reason.clone())].into(),
        };
        tracing::warn!(job = %self.job.job_id, deployment = %dep.guid, %evidence, "new droplet crashed; rolling back");
        let rollback = match self.cf.create_deployment_as(&request).await {
            Ok(d) => d,
            Err(e) if is_lost(&e) => {
                let found = self.our_deployments().await?;
                match found
                    .into_iter()
                    .find(|d| d.metadata.labels.contains_key(ROLLBACK_LABEL))
                {
                    Some(d) => d,
                    None => return Break(api_error("creating the rollback deployment", &e)),
                }
            }
            Err(e) if e.is_quota() => return Break(quota("rolling back", &e)),
            Err(e) => {
                return Continue(Outcome::Failed {
                    reason: format!(
                        "{reason} failed: {e}; roll back by hand with `cf rollback APP`"
                    ),
                    permanent: true,
                });
            }
        };
        // Not the rollout the hints describe: timed by CC's clock, not learned from.
        self.rollout_since.set(None);
        let rolled = self.watch_deployment(rollback).await?;
        Box::pin(self.finalized(&rolled)).await
    }

    /// The version of the job's buildpack in the deployed droplet, for the
    /// report: as read at step 5 when it is the droplet staged then.
    async fn deployed_version(&self, droplet_guid: &str) -> Option<String> {
        let read = self
            .staged_version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match read {
            Some((guid, version)) if guid == droplet_guid => version,
            _ => self.version_of(droplet_guid).await.flatten(),
        }
    }

    /// The job's buildpack's version in `droplet_guid`: `None` when there is
    /// nothing to read (no buildpack to ask about), `Some(None)` when the
    /// droplet does not say or could not be read.
    pub(super) async fn version_of(&self, droplet_guid: &str) -> Option<Option<String>> {
        let bp = self.job.buildpack.as_deref()?;
        if droplet_guid.is_empty() {
            return None;
        }
        Some(match self.cf.get_droplet(droplet_guid).await {
            Ok(d) => d.buildpack(bp).and_then(|b| b.version.clone()),
            Err(e) => {
                tracing::debug!(droplet = droplet_guid, error = %e, "could not read the deployed droplet's version");
                None
            }
        })
    }
}

/// The outcome of a rollback restager made (a rollback deployment, or a
/// canceled canary), from the deployment's own metadata.
pub(super) fn rolled_back(dep: &Deployment) -> Outcome {
    let reason = dep
        .metadata
        .annotations
        .get(ROLLBACK_REASON)
        .cloned()
        .unwrap_or_else(|| {
            format!(
                "the new droplet crashed and deployment {} put the previous droplet back",
                dep.guid
            )
        });
    Outcome::RolledBack {
        reason,
        deployment_guid: dep.guid.clone(),
    }
}
