//! [`CfSim`]: a running simulator and the operator/observer handle tests use.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::api::{Shared, router};
use crate::config::SimConfig;
use crate::error::SimError;
use crate::faults::{Corruption, FaultRule};
use crate::model::{Buildpack, BuildpackState, Package, PackageState, StackState};
use crate::net::{ConnKill, ResettableListener};
use crate::record::RecordedRequest;
use crate::seed::{AppSpec, BuildpackSpec};
use crate::snapshot::{
    AppSnapshot, AuditEventSnapshot, BuildSnapshot, DeploymentSnapshot, DropletSnapshot,
};
use crate::world::World;

mod quotas;
pub(crate) mod timing;

/// Why an operator action was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActionError {
    #[error("no app with guid {0} in the simulator; use a guid from add_app or apps()")]
    UnknownApp(String),
    #[error("the simulator refused the action: {0}")]
    Refused(String),
}

/// A running Cloud Controller + UAA simulator. Dropping it stops the server.
pub struct CfSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    client_id: String,
    client_secret: String,
    tick_tx: watch::Sender<Duration>,
    shutdown_tx: watch::Sender<bool>,
    server: JoinHandle<()>,
    updater: JoinHandle<()>,
}

impl CfSim {
    /// Bind 127.0.0.1 on a free port and serve.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Bind `addr` and serve (the binary uses this).
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> Result<Self, SimError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(SimError::LocalAddr)?;
        let now = Instant::now();
        let epoch = Utc::now();
        let mut world = World::empty(config.clone(), addr.port());
        if addr.ip().is_unspecified() {
            world.base_url = format!("http://127.0.0.1:{}", addr.port());
        } else {
            world.base_url = format!("http://{addr}");
        }
        world.seed_platform(epoch);
        world.seed_apps(config.apps, epoch, now);
        world.seed_never_staged(config.never_staged_apps, epoch, now);
        let shared = Arc::new(Shared::new(world));

        let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
        let app = router(shared.clone()).into_make_service_with_connect_info::<ConnKill>();
        let server = tokio::spawn(async move {
            let serve =
                axum::serve(ResettableListener(listener), app).with_graceful_shutdown(async move {
                    let _ = shutdown_rx.wait_for(|stop| *stop).await;
                });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "cf-sim server stopped");
            }
        });

        let (tick_tx, tick_rx) = watch::channel(config.tick);
        let updater = tokio::spawn(run_updater(shared.clone(), tick_rx));
        Ok(Self {
            shared,
            addr,
            client_id: config.client_id,
            client_secret: config.client_secret,
            tick_tx,
            shutdown_tx,
            server,
            updater,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.shared.lock().base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// Stop serving (in-flight requests finish) and stop the updater.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        self.updater.abort();
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    }

    // ---- operator actions ----

    /// Install a buildpack version on every stack it exists for (cflinuxfs4
    /// if it is new): new filename and `updated_at`; an AWAITING_UPLOAD one
    /// becomes READY.
    pub fn install_buildpack(&self, name: &str, version: &str) {
        let mut w = self.shared.lock();
        let mut stacks: Vec<Option<String>> = w
            .buildpacks
            .iter()
            .filter(|b| b.name == name)
            .map(|b| b.stack.clone())
            .collect();
        if stacks.is_empty() {
            stacks.push(Some("cflinuxfs4".to_owned()));
        }
        for stack in stacks {
            install(&mut w, name, stack.as_deref(), version);
        }
    }

    /// Install a buildpack version for one stack only.
    pub fn install_buildpack_for_stack(&self, name: &str, stack: &str, version: &str) {
        install(&mut self.shared.lock(), name, Some(stack), version);
    }

    /// The version currently installed for a buildpack and stack.
    pub fn installed_version(&self, name: &str, stack: &str) -> Option<String> {
        self.shared.lock().installed_version(name, stack)
    }

    /// Add an app (and its org/space if new); returns the app guid.
    /// [`AppSpec::never_staged`] adds one that was never staged.
    pub fn add_app(&self, spec: AppSpec) -> String {
        let mut w = self.shared.lock();
        w.insert_app(&spec, None, Instant::now())
    }

    /// The API version the simulator plays (`SimConfig::api_version`).
    pub fn api_version(&self) -> String {
        self.shared.lock().cfg.api_version.clone()
    }

    /// Make one app's JSON malformed wherever it is rendered (listings,
    /// `GET /v3/apps/:guid`, start/stop answers): one field of the wrong
    /// type, the rest of the page valid. Replaces an earlier corruption.
    pub fn corrupt_app(&self, app_guid: &str, how: Corruption) -> Result<(), ActionError> {
        let mut w = self.shared.lock();
        let app = w
            .apps
            .get_mut(app_guid)
            .ok_or_else(|| ActionError::UnknownApp(app_guid.to_owned()))?;
        app.corruption = Some(how);
        Ok(())
    }

    /// Render the app correctly again.
    pub fn clear_corruption(&self, app_guid: &str) -> Result<(), ActionError> {
        let mut w = self.shared.lock();
        let app = w
            .apps
            .get_mut(app_guid)
            .ok_or_else(|| ActionError::UnknownApp(app_guid.to_owned()))?;
        app.corruption = None;
        Ok(())
    }

    /// Add a buildpack in any state (e.g. [`BuildpackSpec::awaiting_upload`]:
    /// `AWAITING_UPLOAD`, `filename` null); returns its guid. A buildpack
    /// without bits is listed but never used for staging.
    pub fn add_buildpack(&self, spec: BuildpackSpec) -> String {
        let mut w = self.shared.lock();
        let now = Utc::now();
        let position = spec
            .position
            .unwrap_or_else(|| u32::try_from(w.buildpacks.len()).unwrap_or(u32::MAX) + 1);
        let guid = w.guid();
        w.buildpacks.insert(Buildpack {
            guid: guid.clone(),
            name: spec.name,
            stack: spec.stack,
            version: spec.version,
            position,
            enabled: spec.enabled,
            locked: spec.locked,
            lifecycle: spec.lifecycle,
            created_at: now,
            updated_at: now,
        });
        guid
    }

    /// A buildpack's state by guid (READY once bits are installed).
    pub fn buildpack_state(&self, guid: &str) -> Option<BuildpackState> {
        self.shared
            .lock()
            .buildpacks
            .get(guid)
            .map(Buildpack::state)
    }

    /// Give an app a new package in `state` (any of CC's package states);
    /// returns its guid. Only READY packages can be staged.
    pub fn add_package(&self, app_guid: &str, state: PackageState) -> Result<String, ActionError> {
        let mut w = self.shared.lock();
        let image = w
            .apps
            .get(app_guid)
            .ok_or_else(|| ActionError::UnknownApp(app_guid.to_owned()))?
            .docker_image
            .clone();
        let guid = w.guid();
        let now = Utc::now();
        w.packages.insert(Package {
            guid: guid.clone(),
            app_guid: app_guid.to_owned(),
            state,
            image,
            checksum: crate::seed::sha256_of(&guid),
            error: (state == PackageState::Failed).then(|| "Invalid zip archive.".to_owned()),
            created_at: now,
            updated_at: now,
        });
        Ok(guid)
    }

    /// Move a package to another state; false if no such package.
    pub fn set_package_state(&self, package_guid: &str, state: PackageState) -> bool {
        let mut w = self.shared.lock();
        match w.packages.get_mut(package_guid) {
            Some(p) => {
                p.state = state;
                if state == PackageState::Failed && p.error.is_none() {
                    p.error = Some("Invalid zip archive.".to_owned());
                }
                p.updated_at = Utc::now();
                true
            }
            None => false,
        }
    }

    /// Sets a label on a space (as `cf set-label space NAME k=v` does);
    /// false if no such space. Shown in `metadata` wherever the space is
    /// presented (the apps listing's `include=space`).
    pub fn set_space_label(&self, org: &str, space: &str, key: &str, value: &str) -> bool {
        self.with_space(org, space, |s| {
            s.labels.insert(key.to_owned(), value.to_owned());
        })
    }

    /// Sets an annotation on a space (`cf curl -X PATCH /v3/spaces/GUID`).
    pub fn set_space_annotation(&self, org: &str, space: &str, key: &str, value: &str) -> bool {
        self.with_space(org, space, |s| {
            s.annotations.insert(key.to_owned(), value.to_owned());
        })
    }

    /// Sets an annotation on an org; false if no such org.
    pub fn set_org_annotation(&self, org: &str, key: &str, value: &str) -> bool {
        let mut w = self.shared.lock();
        match w.orgs.find_mut(|o| o.name == org) {
            Some(o) => {
                o.annotations.insert(key.to_owned(), value.to_owned());
                true
            }
            None => false,
        }
    }

    fn with_space(
        &self,
        org: &str,
        space: &str,
        change: impl FnOnce(&mut crate::model::Space),
    ) -> bool {
        let mut w = self.shared.lock();
        let org_guid = w
            .orgs
            .iter()
            .find(|o| o.name == org)
            .map(|o| o.guid.clone());
        match w
            .spaces
            .find_mut(|s| Some(&s.org_guid) == org_guid.as_ref() && s.name == space)
        {
            Some(s) => {
                change(s);
                true
            }
            None => false,
        }
    }

    /// Change a stack's state; false if no such stack.
    pub fn set_stack_state(&self, name: &str, state: StackState) -> bool {
        let mut w = self.shared.lock();
        match w.stacks.find_mut(|s| s.name == name) {
            Some(stack) => {
                stack.state = state;
                stack.updated_at = Utc::now();
                true
            }
            None => false,
        }
    }

    /// Someone else pushes the app: new package and droplet; a rolling
    /// deployment superseding an ACTIVE one, else a droplet switch and
    /// restart. Returns the new droplet guid.
    pub fn human_push(&self, app_guid: &str) -> Result<String, ActionError> {
        let mut w = self.shared.lock();
        if w.apps.get(app_guid).is_none() {
            return Err(ActionError::UnknownApp(app_guid.to_owned()));
        }
        w.human_push(app_guid, Instant::now())
            .ok_or_else(|| ActionError::Refused("the push could not be staged".to_owned()))
    }

    /// Someone else starts a build (STAGING for `staging_duration`).
    pub fn start_build_as_human(&self, app_guid: &str) -> Result<String, ActionError> {
        let mut w = self.shared.lock();
        if w.apps.get(app_guid).is_none() {
            return Err(ActionError::UnknownApp(app_guid.to_owned()));
        }
        if w.staging_build_of(app_guid).is_some() {
            return Err(ActionError::Refused(
                "a build is already STAGING for this app".to_owned(),
            ));
        }
        w.start_human_build(app_guid, Instant::now())
            .ok_or_else(|| ActionError::Refused("the build could not start".to_owned()))
    }

    /// Run one deployment-updater pass now.
    pub fn tick(&self) {
        self.shared.lock().tick(Instant::now());
    }

    /// Change the updater period (`Duration::ZERO`: manual ticks only) —
    /// a long period simulates a slow updater.
    pub fn set_tick(&self, period: Duration) {
        let _ = self.tick_tx.send(period);
    }

    /// Make every token issued so far invalid (401 CF-InvalidAuthToken).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for exp in self.shared.lock().tokens.values_mut() {
            *exp = now;
        }
    }

    /// Make a droplet crash after it is deployed, as
    /// [`Fault::CrashAfterDeploy`](crate::Fault::CrashAfterDeploy) does for
    /// a new one: web instances running it crash `after` past the rollout
    /// that deploys it (web processes already running it outside a
    /// rollout: `after` from now), then crash-loop.
    pub fn crash_droplet_after_deploy(
        &self,
        droplet_guid: &str,
        after: Duration,
    ) -> Result<(), ActionError> {
        let mut w = self.shared.lock();
        if w.droplets.get(droplet_guid).is_none() {
            return Err(ActionError::Refused(format!(
                "no droplet with guid {droplet_guid}"
            )));
        }
        let now = Instant::now();
        w.advance_instances(now);
        w.bad_droplets.insert(droplet_guid.to_owned(), after);
        let rolling_out: Vec<String> = w
            .active
            .iter()
            .filter_map(|g| w.deployments.get(g))
            .filter(|d| d.is_active())
            .filter_map(|d| d.new_process_guid.clone())
            .collect();
        let running: Vec<String> = w
            .processes
            .iter()
            .filter(|p| !p.destroyed && p.droplet_guid.as_deref() == Some(droplet_guid))
            .filter(|p| !rolling_out.contains(&p.guid))
            .map(|p| p.guid.clone())
            .collect();
        for p in running {
            w.arm_crashes(&p, now);
        }
        Ok(())
    }

    // ---- faults ----

    pub fn set_fault(&self, rule: FaultRule) {
        self.shared.lock().faults.add(rule);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// The rules still installed (spent `times` rules are gone).
    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.lock().faults.rules()
    }

    // ---- observation ----

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Requests with this method whose path starts with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
            .count()
    }

    pub fn app(&self, guid: &str) -> Option<AppSnapshot> {
        self.shared.lock().app_snapshot(guid, Instant::now())
    }

    pub fn app_by_name(&self, name: &str) -> Option<AppSnapshot> {
        let w = self.shared.lock();
        let guid = w.apps.iter().find(|a| a.name == name)?.guid.clone();
        w.app_snapshot(&guid, Instant::now())
    }

    /// Every app, in creation order.
    pub fn apps(&self) -> Vec<AppSnapshot> {
        let w = self.shared.lock();
        let now = Instant::now();
        w.apps
            .iter()
            .filter_map(|a| w.app_snapshot(&a.guid, now))
            .collect()
    }

    pub fn droplet(&self, guid: &str) -> Option<DropletSnapshot> {
        self.shared.lock().droplet_snapshot(guid)
    }

    pub fn deployments_for(&self, app_guid: &str) -> Vec<DeploymentSnapshot> {
        self.shared.lock().deployments_snapshot(app_guid)
    }

    /// Audit events targeting the app (`GET /v3/audit_events?target_guids=`),
    /// oldest first, with every crash up to now recorded.
    pub fn audit_events_for(&self, app_guid: &str) -> Vec<AuditEventSnapshot> {
        let mut w = self.shared.lock();
        w.advance_instances(Instant::now());
        w.audit_snapshot(Some(app_guid))
    }

    /// Every audit event, oldest first.
    pub fn audit_events(&self) -> Vec<AuditEventSnapshot> {
        let mut w = self.shared.lock();
        w.advance_instances(Instant::now());
        w.audit_snapshot(None)
    }

    pub fn builds_for(&self, app_guid: &str) -> Vec<BuildSnapshot> {
        self.shared.lock().builds_snapshot(app_guid)
    }

    /// Most apps that at once had a client-made STAGING build or ACTIVE deployment.
    pub fn peak_active_restages(&self) -> usize {
        self.shared.lock().peak_active
    }

    /// The same peak, counted within the busiest space.
    pub fn peak_active_per_space(&self) -> usize {
        self.shared.lock().peak_per_space
    }

    pub fn reset_peaks(&self) {
        let mut w = self.shared.lock();
        w.peak_active = 0;
        w.peak_per_space = 0;
        w.update_peaks();
    }
}

impl Drop for CfSim {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
        self.updater.abort();
        self.server.abort();
    }
}

fn install(w: &mut World, name: &str, stack: Option<&str>, version: &str) {
    let now = Utc::now();
    let existing = w
        .buildpacks
        .iter()
        .find(|b| b.name == name && b.stack.as_deref() == stack)
        .map(|b| b.guid.clone());
    match existing.and_then(|g| w.buildpacks.get_mut(&g)) {
        Some(bp) => {
            bp.version = Some(version.to_owned());
            bp.updated_at = now;
        }
        None => {
            let position = u32::try_from(w.buildpacks.len()).unwrap_or(u32::MAX) + 1;
            let guid = w.guid();
            w.buildpacks.insert(Buildpack {
                guid,
                name: name.to_owned(),
                stack: stack.map(str::to_owned),
                version: Some(version.to_owned()),
                position,
                enabled: true,
                locked: false,
                lifecycle: "buildpack".to_owned(),
                created_at: now,
                updated_at: now,
            });
        }
    }
}

/// The deployment updater: one tick per period; period zero waits for a change.
/// CC's scheduler (cloud_controller_ng `lib/cloud_controller/
/// deployment_updater/scheduler.rb`) sleeps the period less the loop's own
/// duration, so its loops start a period apart and do not drift; ticks here
/// keep to that grid (a sleep of its own per tick would drift by the
/// timer's rounding, which the bench's time scale blows up to seconds).
async fn run_updater(shared: Arc<Shared>, mut period: watch::Receiver<Duration>) {
    loop {
        let p = *period.borrow_and_update();
        if p.is_zero() {
            if period.changed().await.is_err() {
                return;
            }
            continue;
        }
        let mut next = Instant::now() + p;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {
                    let now = Instant::now();
                    shared.lock().tick(now);
                    // A tick that overran its period starts the next at once.
                    next = (next + p).max(now);
                }
                changed = period.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}
