//! Builds: creation guards, settling STAGING → STAGED/FAILED, and the
//! "someone else pushed" operator actions that reuse staging.

use chrono::Utc;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::api::error::ApiError;
use crate::faults::Fault;
use crate::model::{
    Actor, Build, BuildOutcome, BuildState, Droplet, DropletBuildpack, DropletState, Labels,
    LifecycleKind, Package, PackageState, StackState,
};
use crate::world::World;

/// A parsed `POST /v3/builds` body.
pub(crate) struct BuildRequest {
    pub package_guid: String,
    pub buildpacks: Option<Vec<String>>,
    pub stack: Option<String>,
    pub staging_memory_mb: Option<u64>,
    pub staging_disk_mb: Option<u64>,
    pub labels: Labels,
    pub annotations: Labels,
}

/// Staging disk when the request names none: CC takes the web process's
/// disk but at least `staging.minimum_staging_disk_mb` (StagingDiskCalculator),
/// 4096 on a typical foundation.
const STAGING_DISK_MB: u64 = 4096;

/// `buildpack_name` / `detect_output` as buildpacks report them: `ruby_buildpack` → `ruby`.
pub(crate) fn short_name(buildpack: &str) -> String {
    buildpack
        .strip_suffix("_buildpack")
        .unwrap_or(buildpack)
        .to_owned()
}

pub(crate) fn web_command(buildpack: &str) -> String {
    match short_name(buildpack).as_str() {
        "ruby" => "bundle exec rackup config.ru -p $PORT".to_owned(),
        "go" => "./bin/app".to_owned(),
        "java" => "JAVA_OPTS=\"-agentpath:$PWD/.java-buildpack/open_jdk_jre/bin/jvmkill-1.16.0_RELEASE=printHeapHistogram=1\" exec $PWD/.java-buildpack/open_jdk_jre/bin/java -cp $PWD/. org.springframework.boot.loader.launch.JarLauncher".to_owned(),
        "nodejs" => "npm start".to_owned(),
        "python" => "python app.py".to_owned(),
        "staticfile" => "$HOME/boot.sh".to_owned(),
        other => format!("./{other}"),
    }
}

impl World {
    /// `POST /v3/builds`. Returns the build guid and any `X-Cf-Warnings`.
    pub(crate) fn create_build(
        &mut self,
        req: BuildRequest,
        actor: Actor,
        now: Instant,
    ) -> Result<(String, Vec<String>), ApiError> {
        let unusable = || {
            ApiError::unprocessable(
                "Unable to use package. Ensure that the package exists and you have access to it.",
            )
        };
        let package = self.packages.get(&req.package_guid).ok_or_else(unusable)?;
        let app_guid = package.app_guid.clone();
        let package_ready = package.state == PackageState::Ready;
        let app = self.apps.get(&app_guid).ok_or_else(unusable)?;
        let lifecycle = app.lifecycle;
        let stack = req.stack.clone().unwrap_or_else(|| app.stack.clone());
        let buildpacks = req
            .buildpacks
            .clone()
            .unwrap_or_else(|| app.requested_buildpacks.clone());

        // BuildsController#create validates the lifecycle first (unknown
        // stack or buildpack: 422), then BuildCreate#create_and_stage checks,
        // in this order, stack state, a STAGING build, a READY package and
        // disabled buildpacks (app/actions/build_create.rb).
        if lifecycle == LifecycleKind::Buildpack {
            if !self.stacks.iter().any(|s| s.name == stack) {
                return Err(ApiError::unprocessable(format!(
                    "Stack '{stack}' does not exist"
                )));
            }
            for bp in &buildpacks {
                let is_url = bp.starts_with("http://") || bp.starts_with("https://");
                if !is_url && !self.buildpacks.iter().any(|b| &b.name == bp) {
                    return Err(ApiError::unprocessable(format!(
                        "\"{bp}\" must be an existing admin buildpack or a valid git URI"
                    )));
                }
            }
        }
        let warnings = self.validate_stack_state(lifecycle, &stack, &app_guid)?;
        if actor.is_client {
            if self.faults.fire_eq(&app_guid, &Fault::StagerUnavailable) {
                return Err(ApiError::stager_unavailable());
            }
            if self.faults.fire_eq(&app_guid, &Fault::ConcurrentStaging)
                && self.staging_build_of(&app_guid).is_none()
            {
                self.start_human_build(&app_guid, now);
            }
        }
        if self.staging_build_of(&app_guid).is_some() {
            return Err(ApiError::staging_in_progress());
        }
        if !package_ready {
            // BuildCreate::InvalidPackage → bad_request! (400 CF-BadRequest 1004,
            // app/controllers/v3/builds_controller.rb).
            return Err(ApiError::bad_request(
                "Cannot stage package whose state is not ready.",
            ));
        }
        if lifecycle == LifecycleKind::Buildpack {
            // BuildCreate#requested_buildpacks_disabled!.
            let disabled: Vec<String> = buildpacks
                .iter()
                .filter(|bp| {
                    let rows: Vec<_> = self.buildpacks.iter().filter(|b| &b.name == *bp).collect();
                    !rows.is_empty() && rows.iter().all(|b| !b.enabled)
                })
                .map(|bp| format!("'{bp}'"))
                .collect();
            if !disabled.is_empty() {
                return Err(ApiError::buildpack_invalid(format!(
                    "Requested buildpack(s) {} are disabled and cannot be used for staging",
                    disabled.join(", ")
                )));
            }
        }
        // BuildCreate#get_memory_limit: the request's, else the newest web
        // process's memory; below the minimum the minimum, unchecked
        // (QuotaValidatingStagingMemoryCalculator#get_limit), else checked
        // against what the space, then the org, has left.
        let asked = req
            .staging_memory_mb
            .or_else(|| self.web_processes(&app_guid).last().map(|p| p.memory_mb));
        let minimum = self.cfg.staging_memory_mb;
        let staging_memory_mb = asked.unwrap_or(minimum).max(minimum);
        let quota_fault =
            actor.is_client && self.faults.fire_eq(&app_guid, &Fault::BuildQuotaExceeded);
        if quota_fault {
            return Err(ApiError::unprocessable(format!(
                "organization's memory limit exceeded: staging requires {staging_memory_mb}M memory"
            )));
        }
        if asked.is_some_and(|mb| mb >= minimum)
            && let Some(refusal) = self.staging_refusal(&app_guid, staging_memory_mb)
        {
            return Err(ApiError::unprocessable(refusal));
        }

        let outcome = if actor.is_client {
            self.faults
                .fire(&app_guid, |f| match f {
                    Fault::StagingFails(kind) => Some(BuildOutcome::Fail(kind.error_string())),
                    Fault::StagingFailsWith { error_id, details } => Some(BuildOutcome::Fail(
                        crate::faults::staging_error(error_id, details),
                    )),
                    Fault::StagingStuck => Some(BuildOutcome::Stuck),
                    _ => None,
                })
                .unwrap_or(BuildOutcome::Succeed)
        } else {
            BuildOutcome::Succeed
        };
        let guid = self.guid();
        let ts = Utc::now();
        let app = self.apps.get(&app_guid).ok_or_else(unusable)?;
        let build_buildpacks = if lifecycle == LifecycleKind::Buildpack {
            if buildpacks.is_empty() {
                app.staging_buildpacks()
            } else {
                buildpacks
            }
        } else {
            Vec::new()
        };
        let settles_at = now + self.staging_duration_for(&app_guid);
        let unreachable =
            actor.is_client && self.faults.fire_eq(&app_guid, &Fault::StagerUnreachable);
        // BuildCreate#create_and_stage records the event with the build.
        self.record_build_create(&guid, &req.package_guid, &app_guid, &actor);
        self.builds.insert(Build {
            guid: guid.clone(),
            app_guid,
            package_guid: req.package_guid,
            state: BuildState::Staging,
            error: None,
            droplet_guid: None,
            lifecycle,
            buildpacks: build_buildpacks,
            stack,
            staging_memory_mb,
            staging_disk_mb: req.staging_disk_mb.unwrap_or(STAGING_DISK_MB),
            created_by: actor,
            labels: req.labels,
            annotations: req.annotations,
            created_at: ts,
            updated_at: ts,
            settles_at,
            outcome,
        });
        if unreachable {
            // Stager#stage (lib/cloud_controller/diego/stager.rb): the saved
            // build is failed with the StagerUnavailable text, then the 503 is raised.
            let e = ApiError::stager_unavailable();
            if let Some(b) = self.builds.get_mut(&guid) {
                b.state = BuildState::Failed;
                b.error = Some(crate::faults::staging_error("StagingError", &e.detail));
            }
            return Err(e);
        }
        self.staging.push(guid.clone());
        self.update_peaks();
        Ok((guid, warnings))
    }

    /// BuildCreate#validate_stack_state! with StackStateValidator
    /// (lib/cloud_controller/stack_state_validator.rb), from 3.210.0: an
    /// app's first build fails on a RESTRICTED or DISABLED stack, a restage
    /// only on DISABLED; DEPRECATED (and RESTRICTED on a restage) warns.
    fn validate_stack_state(
        &self,
        lifecycle: LifecycleKind,
        stack: &str,
        app_guid: &str,
    ) -> Result<Vec<String>, ApiError> {
        if lifecycle == LifecycleKind::Docker
            || !self.api.at_least(crate::version::since::STACK_STATE)
        {
            return Ok(Vec::new());
        }
        let Some(s) = self.stacks.iter().find(|s| s.name == stack) else {
            return Ok(Vec::new());
        };
        // `app.builds_dataset.empty?`; seeded apps were staged before the
        // simulator started, so a droplet counts as an earlier build.
        let first_build = self.builds.for_app(app_guid).next().is_none()
            && self.droplets.for_app(app_guid).next().is_none();
        let warning = || {
            vec![format!(
                "WARNING: The stack '{stack}' is '{}' and will be removed in the future.",
                s.state.as_str()
            )]
        };
        match s.state {
            StackState::Active => Ok(Vec::new()),
            StackState::Disabled => Err(ApiError::stack_invalid(stack, s.state)),
            StackState::Restricted if first_build => Err(ApiError::stack_invalid(stack, s.state)),
            StackState::Restricted | StackState::Deprecated => Ok(warning()),
        }
    }

    /// Settle every STAGING build whose time has come.
    pub(crate) fn settle_builds(&mut self, now: Instant) {
        let due: Vec<String> = self
            .staging
            .iter()
            .filter(|g| {
                self.builds.get(g).is_some_and(|b| {
                    b.state == BuildState::Staging
                        && b.outcome != BuildOutcome::Stuck
                        && b.settles_at <= now
                })
            })
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        for guid in &due {
            self.settle_build(guid, now);
        }
        self.staging.retain(|g| {
            self.builds
                .get(g)
                .is_some_and(|b| b.state == BuildState::Staging)
        });
        self.update_peaks();
    }

    fn settle_build(&mut self, guid: &str, now: Instant) {
        let Some(build) = self.builds.get(guid) else {
            return;
        };
        let outcome = build.outcome.clone();
        let by_client = build.created_by.is_client;
        let app_guid = build.app_guid.clone();
        let ts = Utc::now();
        let result = match outcome {
            BuildOutcome::Fail(error) => Err(error),
            BuildOutcome::Stuck => return,
            BuildOutcome::Succeed => self.stage_droplet(guid),
        };
        let Some(build) = self.builds.get_mut(guid) else {
            return;
        };
        build.updated_at = ts;
        match result {
            Ok(droplet) => {
                build.state = BuildState::Staged;
                build.droplet_guid = Some(droplet);
            }
            Err(error) => {
                build.state = BuildState::Failed;
                build.error = Some(error);
            }
        }
        let staged = build.state == BuildState::Staged;
        if staged
            && by_client
            && self
                .faults
                .fire_eq(&app_guid, &Fault::HumanPushBeforeDeploy)
        {
            self.human_push(&app_guid, now);
        }
    }

    /// Make the droplet a finished build produces, with the buildpack
    /// versions installed right now.
    fn stage_droplet(&mut self, build_guid: &str) -> Result<String, String> {
        let Some(build) = self.builds.get(build_guid) else {
            return Err("StagingError - Staging error: build vanished".to_owned());
        };
        let app_guid = build.app_guid.clone();
        let package_guid = build.package_guid.clone();
        let created_by = build.created_by.clone();
        let stack = build.stack.clone();
        let lifecycle = build.lifecycle;
        let names = build.buildpacks.clone();
        let image = self
            .packages
            .get(&package_guid)
            .and_then(|p| p.image.clone());
        let (buildpacks, droplet_stack, command) = if lifecycle == LifecycleKind::Docker {
            (None, None, String::new())
        } else {
            let mut list = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let Some(version) = self.installed_version(name, &stack) else {
                    // Diego fails to download a buildpack it has no bits
                    // for; the sanitizer turns its message into "staging failed".
                    return Err(crate::faults::staging_error(
                        "StagingError",
                        "staging failed",
                    ));
                };
                // DropletPresenter: detect_output only on the buildpack the
                // staging receipt names (the last, which gives the start command).
                let last = i + 1 == names.len();
                list.push(DropletBuildpack {
                    name: name.clone(),
                    buildpack_name: Some(short_name(name)),
                    version: Some(version),
                    detect_output: last.then(|| short_name(name)),
                });
            }
            let command = names.last().map(|n| web_command(n)).unwrap_or_default();
            (Some(list), Some(stack), command)
        };
        let guid = self.guid();
        let checksum = crate::seed::sha256_of(&guid);
        let ts = Utc::now();
        self.record_droplet_create(&guid, &package_guid, &app_guid, &created_by);
        // Fault::CrashAfterDeploy: this droplet is born bad.
        if created_by.is_client
            && let Some(after) = self.faults.fire(&app_guid, |f| match f {
                Fault::CrashAfterDeploy { after } => Some(*after),
                _ => None,
            })
        {
            self.bad_droplets.insert(guid.clone(), after);
        }
        self.droplets.insert(Droplet {
            guid: guid.clone(),
            app_guid,
            state: DropletState::Staged,
            lifecycle,
            buildpacks,
            stack: droplet_stack,
            image,
            package_guid: Some(package_guid),
            web_command: command,
            checksum,
            labels: Labels::new(),
            created_at: ts,
            updated_at: ts,
        });
        Ok(guid)
    }

    pub(crate) fn rng_u64(&mut self) -> u64 {
        use rand::RngExt;
        self.rng.random()
    }

    /// A person starts staging the app's newest READY package (making one if needed).
    pub(crate) fn start_human_build(&mut self, app_guid: &str, now: Instant) -> Option<String> {
        let package = self
            .newest_ready_package(app_guid)
            .or_else(|| self.new_package(app_guid))?;
        let req = BuildRequest {
            package_guid: package,
            buildpacks: None,
            stack: None,
            staging_memory_mb: None,
            staging_disk_mb: None,
            labels: Labels::new(),
            annotations: Labels::new(),
        };
        self.create_build(req, World::human_actor(), now)
            .ok()
            .map(|(g, _)| g)
    }

    pub(crate) fn newest_ready_package(&self, app_guid: &str) -> Option<String> {
        self.packages
            .for_app(app_guid)
            .filter(|p| p.state == PackageState::Ready)
            .max_by_key(|p| p.created_at)
            .map(|p| p.guid.clone())
    }

    /// Upload new bits (or a new image reference) for an app.
    pub(crate) fn new_package(&mut self, app_guid: &str) -> Option<String> {
        let app = self.apps.get(app_guid)?;
        let image = app.docker_image.clone();
        let guid = self.guid();
        let ts = Utc::now();
        self.packages.insert(Package {
            guid: guid.clone(),
            app_guid: app_guid.to_owned(),
            state: PackageState::Ready,
            image,
            checksum: crate::seed::sha256_of(&guid),
            error: None,
            created_at: ts,
            updated_at: ts,
        });
        Some(guid)
    }

    /// A person pushes the app: new package, staged at once, then either a
    /// rolling deployment (superseding an ACTIVE one) or a plain droplet switch
    /// with a restart. Returns the new droplet guid.
    pub(crate) fn human_push(&mut self, app_guid: &str, now: Instant) -> Option<String> {
        let package = self.new_package(app_guid)?;
        let app = self.apps.get(app_guid)?;
        let lifecycle = app.lifecycle;
        let stack = app.stack.clone();
        let buildpacks = if app.lifecycle == LifecycleKind::Buildpack {
            app.staging_buildpacks()
        } else {
            Vec::new()
        };
        let build_guid = self.guid();
        let ts = Utc::now();
        self.record_build_create(&build_guid, &package, app_guid, &World::human_actor());
        self.builds.insert(Build {
            guid: build_guid.clone(),
            app_guid: app_guid.to_owned(),
            package_guid: package,
            state: BuildState::Staging,
            error: None,
            droplet_guid: None,
            lifecycle,
            buildpacks,
            stack,
            staging_memory_mb: self.cfg.staging_memory_mb,
            staging_disk_mb: STAGING_DISK_MB,
            created_by: World::human_actor(),
            labels: Labels::new(),
            annotations: Labels::new(),
            created_at: ts,
            updated_at: ts,
            settles_at: now,
            outcome: BuildOutcome::Succeed,
        });
        self.settle_build(&build_guid, now);
        let droplet = self.builds.get(&build_guid)?.droplet_guid.clone()?;
        if self.active_deployment_of(app_guid).is_some() {
            let req = crate::rollout::DeploymentRequest::rolling(app_guid, &droplet);
            self.create_deployment(req, World::human_actor(), now)
                .ok()?;
        } else {
            let started = self.apps.get(app_guid)?.state == crate::model::AppState::Started;
            if let Some(app) = self.apps.get_mut(app_guid) {
                app.current_droplet = Some(droplet.clone());
                app.updated_at = ts;
            }
            if started {
                for p in self.processes.guids_for_app(app_guid) {
                    if let Some(p) = self.processes.get_mut(&p) {
                        p.restart(now);
                        p.droplet_guid = Some(droplet.clone());
                    }
                    self.arm_crashes(&p, now);
                }
            }
        }
        self.update_peaks();
        Some(droplet)
    }

    /// Metadata from a request body's `metadata` object.
    pub(crate) fn metadata_from(body: &Map<String, Value>) -> Result<(Labels, Labels), ApiError> {
        let mut labels = Labels::new();
        let mut annotations = Labels::new();
        if let Some(meta) = body.get("metadata") {
            let Some(meta) = meta.as_object() else {
                return Err(ApiError::unprocessable("Metadata must be an object"));
            };
            for (key, target) in [("labels", &mut labels), ("annotations", &mut annotations)] {
                if let Some(map) = meta.get(key) {
                    let Some(map) = map.as_object() else {
                        return Err(ApiError::unprocessable(format!(
                            "Metadata {key} must be an object"
                        )));
                    };
                    for (k, v) in map {
                        match v {
                            Value::String(s) => {
                                target.insert(k.clone(), s.clone());
                            }
                            Value::Null => {}
                            _ => {
                                return Err(ApiError::unprocessable(format!(
                                    "Metadata {key} values must be strings: '{k}'"
                                )));
                            }
                        }
                    }
                }
            }
        }
        Ok((labels, annotations))
    }
}
