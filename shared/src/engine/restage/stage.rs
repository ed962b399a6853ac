//! Steps 3 to 5 of a restage: stage the live droplet's package (or resume
//! this job's build), poll the build to STAGED, and re-check that nobody
//! pushed while it staged.

use super::*;

impl Restage<'_> {
    /// Step 3: this job's earlier build if it staged (or is still staging),
    /// else a new build of the live droplet's package. `read` is what step
    /// 2 already read of this job's builds and the package.
    pub(super) async fn build(&self, current: &Droplet, read: ForStaging) -> Step<Build> {
        let builds = match read.ours {
            Some(builds) => builds,
            None => self
                .our_builds()
                .await
                .or_stop("looking for this job's build")?,
        };
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
        self.create_build(current, read.package).await
    }

    /// A new build of `current`'s package; `prefetched` is used when it is
    /// that package.
    pub(super) async fn create_build(
        &self,
        current: &Droplet,
        prefetched: Option<Prefetched>,
    ) -> Step<Build> {
        let Some(package_guid) = current.package_guid() else {
            return Break(skipped(&format!(
                "not restageable: droplet {} has no package (pushed as a droplet?)",
                current.guid
            )));
        };
        let read = match prefetched.filter(|p| p.guid == package_guid) {
            Some(p) => p.read,
            None => self.cf.get_package(package_guid).await,
        };
        let package: Package = match read {
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
                self.staging_since.set(Some(Instant::now()));
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
                    .our_builds()
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

    /// Step 4: the droplet of `build` once it is STAGED, polled when the
    /// app's last staging time says it is likely done.
    pub(super) async fn watch_build(&self, mut build: Build) -> Step<String> {
        let started = Instant::now();
        let since = self.staging_since.get();
        // A build from an earlier delivery has been staging since CC made it.
        let before = match since {
            Some(_) => Duration::ZERO,
            None => age(build.created_at, started),
        };
        let raw = self.job.schedule.staging();
        let mut plan = self.poll_plan(Phase::Staging, raw);
        loop {
            match build.state {
                BuildState::Staged => {
                    if let (Some(raw), Some(since)) = (raw, since) {
                        self.calibration
                            .observe(Phase::Staging, raw, since.elapsed());
                    }
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
            let elapsed = since.map_or_else(|| before + started.elapsed(), |s| s.elapsed());
            if !self.deadline.sleep(plan.next(elapsed)).await {
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
    pub(super) async fn live_droplet_guid(&self, app: &App) -> Step<Option<String>> {
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

    /// Step 5: nobody may have pushed (or stopped or deployed the app) while
    /// we staged. The reads go out together (judged in this order), with
    /// the staged droplet's version for the report.
    pub(super) async fn recheck_before_deploy(&self, droplet: &str) -> Step<()> {
        let (app, active, version) = futures::join!(
            self.read_app(),
            self.active_deployments(),
            self.version_of(droplet),
        );
        if let Some(version) = version {
            *self
                .staged_version
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some((droplet.to_string(), version));
        }
        let app = app?;
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
        self.no_foreign_deployment(active)
    }
}
