//! Step 2 of a restage: standing back from an app that is not ours to
//! restage (stopped, docker, already current, pushed since discovery, or
//! being deployed by someone else), and saying who changed it.

use super::*;

/// Step 2's reads, made beside step 1's and judged once the app is read.
pub(super) struct FirstLook {
    current: Result<Option<Droplet>, CfError>,
    staging: Result<Vec<Build>, CfError>,
    active: Result<Vec<Deployment>, CfError>,
    /// This job's builds; `None` for a restart, which builds nothing.
    ours: Option<Result<Vec<Build>, CfError>>,
    /// The package the job names, read for step 3 when it restages.
    package: Option<Prefetched>,
}

/// What step 3 takes from step 2: this job's builds, and the package the
/// job named (step 3 uses it only if it is the current droplet's).
pub(super) struct ForStaging {
    pub ours: Option<Vec<Build>>,
    pub package: Option<Prefetched>,
}

/// A package read ahead: the GUID asked for and CC's answer.
pub(super) struct Prefetched {
    pub guid: String,
    pub read: Result<Package, CfError>,
}

impl Restage<'_> {
    /// Step 2's reads, all at once (step 1 runs them beside its own).
    pub(super) async fn first_look(&self) -> FirstLook {
        let restages = self.job.action != Action::Restart;
        let package = self.job.package_guid.as_deref().filter(|_| restages);
        let (current, staging, active, ours, package) = futures::join!(
            self.cf.get_current_droplet(self.app_guid()),
            self.cf
                .list_builds(self.app_guid(), &[BuildState::Staging], None),
            self.active_deployments(),
            async {
                match restages {
                    true => Some(self.our_builds().await),
                    false => None,
                }
            },
            async {
                match package {
                    Some(guid) => Some(Prefetched {
                        guid: guid.to_string(),
                        read: self.cf.get_package(guid).await,
                    }),
                    None => None,
                }
            },
        );
        FirstLook {
            current,
            staging,
            active,
            ours,
            package,
        }
    }

    /// Step 2: the app's current droplet, unless the app is stopped, a docker
    /// app, already current, pushed since discovery, or someone is deploying
    /// it; with what step 3 needs when it restages. The reads are judged in
    /// this order, so the outcome is the one reading them one after another
    /// gave.
    pub(super) async fn stand_back(
        &self,
        app: &App,
        look: FirstLook,
    ) -> Step<(Droplet, ForStaging)> {
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
        let Some(current) = look.current.or_stop("reading the current droplet")? else {
            return Break(skipped("not restageable: the app has no current droplet"));
        };
        if self.already_current(&current) {
            return Break(self.current_by_whom(&current).await);
        }
        if current.guid != self.job.droplet_guid {
            return Break(self.droplet_changed(&current.guid, None).await);
        }
        let staging = look.staging.or_stop("listing staging builds")?;
        if let Some(theirs) = staging.iter().find(|b| !self.is_ours(&b.metadata.labels)) {
            return Break(someone_deploying(&format!(
                "build {} is STAGING",
                theirs.guid
            )));
        }
        self.no_foreign_deployment(look.active)?;
        let ours = match look.ours {
            Some(listed) => Some(listed.or_stop("looking for this job's build")?),
            None => None,
        };
        Continue((
            current,
            ForStaging {
                ours,
                package: look.package,
            },
        ))
    }

    pub(super) async fn active_deployments(&self) -> Result<Vec<Deployment>, CfError> {
        self.cf
            .list_deployments(self.app_guid(), &[DeploymentStatusValue::Active], None)
            .await
    }

    /// This job's builds, newest first (found by its label).
    pub(super) async fn our_builds(&self) -> Result<Vec<Build>, CfError> {
        self.cf
            .list_builds(self.app_guid(), &[], Some(&self.selector))
            .await
    }

    /// Stops the restage if someone else's deployment is among `active`.
    pub(super) fn no_foreign_deployment(
        &self,
        active: Result<Vec<Deployment>, CfError>,
    ) -> Step<()> {
        let active = active.or_stop("listing active deployments")?;
        match active.iter().find(|d| !self.is_ours(&d.metadata.labels)) {
            Some(theirs) => Break(someone_deploying(&format!(
                "deployment {} is ACTIVE",
                theirs.guid
            ))),
            None => Continue(()),
        }
    }

    pub(super) fn already_current(&self, droplet: &Droplet) -> bool {
        let (Some(target), Some(bp)) = (&self.job.target_version, &self.job.buildpack) else {
            return false;
        };
        droplet
            .buildpack(bp)
            .and_then(|b| b.parsed_version())
            .is_some_and(|v| v >= *target)
    }

    /// The skip when the live droplet is not the one discovery saw: either
    /// restager itself restaged the app meanwhile (another run's job, e.g. a
    /// sweep, whose build carries `restager.io/run`), or someone pushed.
    /// `ours` is this job's staged droplet when it had got that far.
    pub(super) async fn droplet_changed(&self, now: &str, ours: Option<&str>) -> Outcome {
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
    pub(super) async fn restager_run_behind(&self, droplet_guid: &str) -> Option<String> {
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
}
