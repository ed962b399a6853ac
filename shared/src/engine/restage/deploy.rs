//! Steps 6 and 7 of a restage: create the deployment (finding it by label
//! when the POST's answer was lost) and watch it to FINALIZED, cancelling
//! it if it is stuck.

use super::*;

impl Restage<'_> {
    /// Step 6: the rolling deployment of `droplet` (of the current one for a
    /// restart); `known` are this job's deployments from before.
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
    pub(super) async fn watch_deployment(&self, mut dep: Deployment) -> Step<Deployment> {
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
