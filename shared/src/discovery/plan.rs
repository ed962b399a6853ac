//! What one notice means for this foundation: the jobs to queue and the
//! affected apps left alone, each with its reason.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::DiscoveryError;
use super::fan_out::RunPlan;
use super::hints;
use super::installed::Installed;
use super::inventory::Inventory;
use super::owners::Owners;
use super::rules;
use super::waves::{self, PlannedWave};
use crate::cf::{App, AppQuery, AppState, CfClient, LifecycleType, StackState};
use crate::config::{RolloutSettings, ScopeSettings, WAVE_LABEL, WindowSettings};
use crate::domain::{Action, AppRef, Notice, NoticeKind, RestageJob, RunId, Version};
use crate::ledger::{RunRecord, SkippedApp};
use crate::window::{Windows, act_after};

/// The decision for one notice. Nothing has been changed anywhere yet.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// `RunId::for_release(notice.release_key())`: the same release always
    /// plans the same run, so a repeated fan-out merges instead of doubling.
    pub run_id: RunId,
    pub notice: Notice,
    pub action: Action,
    pub jobs: Vec<RestageJob>,
    pub skipped: Vec<SkippedApp>,
    /// Why nothing is queued although apps may be affected: the foundation
    /// does not have the released version (or stack) yet.
    pub not_installed: Option<String>,
    /// Why nothing was looked up: the configured action is `none`.
    pub note: Option<String>,
    /// Requests this plan sent to Cloud Controller and UAA.
    pub cf_requests: u64,
    /// How the foundation was read, where that is worth telling (an older
    /// Cloud Controller that cost a request per app, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The buildpack version each planned app's live droplet has now, by app
    /// guid (buildpack notices; shown beside the target by `restager plan`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub current_versions: BTreeMap<String, String>,
    /// The order the jobs go in, wave by wave (empty without jobs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<PlannedWave>,
    /// How many failures halt the run, and the configured budget.
    pub max_failures: usize,
    pub budget: String,
    /// The wave of each job.
    #[serde(skip)]
    assignment: waves::Assignment,
    /// `restager.io/wave` labels of the spaces seen, by space guid.
    #[serde(skip)]
    wave_labels: HashMap<String, String>,
    #[serde(skip)]
    rollout: RolloutSettings,
    /// Each space's window and owners' channel, from the listing.
    #[serde(skip)]
    owners: Owners,
    #[serde(skip)]
    windows: WindowSettings,
}

impl Plan {
    fn empty(notice: &Notice, action: Action, scope: &ScopeSettings) -> Self {
        let rollout = &scope.rollout;
        Self {
            run_id: RunId::for_release(&notice.release_key()),
            notice: notice.clone(),
            action,
            jobs: Vec::new(),
            skipped: Vec::new(),
            not_installed: None,
            note: None,
            cf_requests: 0,
            notes: Vec::new(),
            current_versions: BTreeMap::new(),
            waves: Vec::new(),
            max_failures: 0,
            budget: rollout.max_failures.to_string(),
            assignment: waves::Assignment::default(),
            wave_labels: HashMap::new(),
            rollout: rollout.clone(),
            owners: Owners::default(),
            windows: scope.windows.clone(),
        }
    }

    /// Each job's wave (an index into [`Plan::waves`]), in job order.
    pub fn job_waves(&self) -> &[u32] {
        &self.assignment.job_waves
    }

    /// Orders the jobs into waves (see `waves`); called once the jobs are known.
    fn assign_waves(&mut self) {
        let labels = &self.wave_labels;
        let assignment = waves::assign(&self.jobs, &self.rollout.waves, |space| {
            labels.get(space).map(String::as_str)
        });
        self.notes.extend(assignment.notes.iter().cloned());
        self.waves = assignment.waves.clone();
        self.max_failures = self.rollout.max_failures.allowed(self.jobs.len());
        self.assignment = assignment;
    }

    /// A plan whose answer is final: neither waiting for an installation nor
    /// switched off. Only such a plan should mark its release as handled;
    /// otherwise a later delivery must be able to act.
    pub fn is_definitive(&self) -> bool {
        self.not_installed.is_none() && self.note.is_none()
    }

    /// When a new build of `job`'s app may next start, in its window's own
    /// zone (`Sat 5 Dec 02:00 CET (Europe/Berlin)`, `now (no maintenance
    /// window)`), as `restager plan` shows it.
    pub fn next_window(&self, job: &RestageJob, now: DateTime<Utc>) -> String {
        match job.window.as_deref().map(Windows::parse) {
            None => Windows::always().next_opening_description(now, self.windows.cutoff),
            Some(Ok(w)) => w.next_opening_description(now, self.windows.cutoff),
            Some(Err(e)) => format!("unknown ({e})"),
        }
    }

    /// The run to record and queue.
    pub fn into_run(self, created_at: DateTime<Utc>) -> RunPlan {
        let rollout = self.assignment.rollout(&self.rollout, &self.windows);
        let expected = self.assignment.expected(&self.jobs);
        RunPlan {
            record: RunRecord {
                run_id: self.run_id,
                notice: self.notice,
                action: self.action,
                created_at,
                expected,
                skipped: self.skipped,
                note: self.not_installed.or(self.note),
                released_at: None,
                release_url: None,
            },
            jobs: self.jobs,
            rollout,
        }
    }

    /// The run of a notice that says when its release was published (or
    /// not): it is acted on only once the release is
    /// `RESTAGER_MIN_RELEASE_AGE` old, counted from then (from
    /// `created_at` when unknown).
    pub fn into_release_run(
        self,
        created_at: DateTime<Utc>,
        released_at: Option<DateTime<Utc>>,
        release_url: Option<String>,
    ) -> RunPlan {
        let min_age = self.windows.min_release_age;
        let mut run = self.into_run(created_at);
        run.record.released_at = released_at;
        run.record.release_url = release_url;
        run.rollout.not_before = act_after(released_at, created_at, min_age);
        run
    }

    /// Plans a restage of the app at `place`, in its space's window; an app
    /// whose window annotation cannot be used is skipped with why.
    fn job(
        &mut self,
        place: crate::domain::AppRef,
        droplet: &str,
        package: Option<&str>,
        bp: Option<&str>,
        target: Option<&Version>,
    ) {
        let owners = self.owners.of_space(&place.space_guid);
        if let Err(e) = &owners.windows {
            let reason = format!(
                "{e}; fix it on {}/{} (README, \"Maintenance windows\") and the next sweep or notice plans the app",
                place.org_name, place.space_name
            );
            self.skip(place, reason);
            return;
        }
        let job = RestageJob::new(
            &self.run_id,
            self.notice.clone(),
            self.action,
            place,
            droplet.to_string(),
            bp.map(str::to_string),
            target.cloned(),
        )
        .with_package(package.map(str::to_string))
        .for_owners(owners.job_window(), owners.slack_channel);
        self.jobs.push(job);
    }

    /// The jobs' scheduling hints (history and space allowances), with notes.
    async fn hint(&mut self, cf: &CfClient, inventory: &Inventory, scope: &ScopeSettings) {
        let notes = hints::attach(cf, inventory, &mut self.jobs, &scope.capacity).await;
        self.notes.extend(notes);
    }

    fn skip(&mut self, app: crate::domain::AppRef, reason: String) {
        self.skipped.push(SkippedApp { app, reason });
    }

    /// Takes what the inventory learned: its notes, and every app whose
    /// object could not be read, skipped with the reason.
    fn absorb(&mut self, inventory: &Inventory) {
        self.notes.extend(inventory.notes.iter().cloned());
        self.owners = Owners::read(&inventory.listing, &self.windows);
        self.notes.extend(self.owners.notes.iter().cloned());
        for (guid, space) in &inventory.listing.spaces {
            if let Some(label) = space.metadata.labels.get(WAVE_LABEL) {
                self.wave_labels.insert(guid.clone(), label.clone());
            }
        }
        for (place, reason) in inventory.unreadable_apps() {
            self.skip(place, reason);
        }
    }
}

/// Worth a request of its own on a Cloud Controller that does not name
/// apps' droplets: in scope, not opted out, started, not docker.
fn worth_a_lookup(app: &App, place: &AppRef, scope: &ScopeSettings) -> bool {
    rules::excluded(app, place, scope).is_none()
        && app.state == AppState::Started
        && app.lifecycle_type() != Some(&LifecycleType::Docker)
}

/// The setting that chooses the action for a kind of notice.
fn action_setting(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Buildpack => "RESTAGER_BUILDPACK_ACTION",
        NoticeKind::Stack => "RESTAGER_STACK_ACTION",
        NoticeKind::Stemcell => "RESTAGER_STEMCELL_ACTION",
    }
}

/// Plans `notice` with `action` (from [`IntakeSettings::action_for`]) over
/// the apps `scope` allows; the notes say where this Cloud Controller
/// cannot restage them as `scope.deploy` asks.
///
/// [`IntakeSettings::action_for`]: crate::config::IntakeSettings::action_for
pub async fn plan(
    cf: &CfClient,
    notice: &Notice,
    action: Action,
    scope: &ScopeSettings,
) -> Result<Plan, DiscoveryError> {
    let before = cf.request_counts().total();
    let mut plan = Plan::empty(notice, action, scope);
    if action == Action::None {
        plan.note = Some(match notice.kind() {
            NoticeKind::Stemcell => format!(
                "stemcell releases need no app action (BOSH rolls the cells and apps move with them; {}=none)",
                action_setting(NoticeKind::Stemcell)
            ),
            kind => format!(
                "the action for {kind} notices is `none` ({}=none)",
                action_setting(kind)
            ),
        });
        return Ok(plan);
    }
    match notice {
        Notice::Buildpack {
            buildpack,
            version,
            stack,
        } => plan_buildpack(cf, &mut plan, buildpack, version, stack.as_deref(), scope).await?,
        Notice::Stack { stack, .. } => plan_stack(cf, &mut plan, stack, scope).await?,
        Notice::Stemcell { .. } => plan_every_app(cf, &mut plan, scope).await?,
    }
    plan.assign_waves();
    if !plan.jobs.is_empty() {
        // The root is already cached: this costs no request.
        if let Ok(caps) = cf.capabilities().await {
            plan.notes.extend(caps.deployment_notes(&scope.deploy));
        }
    }
    plan.cf_requests = cf.request_counts().total().saturating_sub(before);
    Ok(plan)
}

/// Started buildpack apps whose droplet has `buildpack` older than `version`,
/// provided the foundation can stage with `version` (or newer).
async fn plan_buildpack(
    cf: &CfClient,
    plan: &mut Plan,
    buildpack: &str,
    version: &Version,
    stack: Option<&str>,
    scope: &ScopeSettings,
) -> Result<(), DiscoveryError> {
    let installed = Installed::fetch(cf).await?;
    let usable = |on: Option<&str>| {
        installed
            .version_for(buildpack, on)
            .is_some_and(|v| v >= version)
    };
    if !usable(stack) {
        let on = stack.map(|s| format!(" for {s}")).unwrap_or_default();
        plan.not_installed = Some(format!(
            "{buildpack} {version} is not installed in this foundation{on} (installed: {}): \
             install it (cf update-buildpack) and send the notice again, \
             or let the scheduled sweep pick it up",
            installed.describe(buildpack)
        ));
        return Ok(());
    }
    let query = AppQuery {
        lifecycle_type: Some("buildpack".to_string()),
        stacks: stack.map(str::to_string).into_iter().collect(),
        ..AppQuery::default()
    };
    // An app that names other buildpacks cannot have staged with this one.
    let inventory = Inventory::fetch(cf, &query, |app, place| {
        let asked = app.lifecycle.as_ref().map(|l| &l.data.buildpacks);
        worth_a_lookup(app, place, scope)
            && asked.is_none_or(|names| names.is_empty() || names.iter().any(|b| b == buildpack))
    })
    .await?;
    plan.absorb(&inventory);
    for app in inventory.apps() {
        if let Some(why) = inventory.unreadable_reason(app) {
            plan.skip(inventory.app_ref(app), why.to_string());
            continue;
        }
        let droplet = inventory.droplet_of(app);
        let entry = droplet.and_then(|d| rules::droplet_buildpack(d, buildpack));
        // Without a droplet, only an explicit request for the buildpack ties
        // the app to this release.
        let requested = droplet.is_none()
            && app
                .lifecycle
                .as_ref()
                .is_some_and(|l| l.data.buildpacks.iter().any(|b| b == buildpack));
        if entry.is_none() && !requested {
            continue;
        }
        let app_stack = rules::stack_of(app, droplet);
        if stack.is_some_and(|wanted| app_stack != Some(wanted)) {
            continue;
        }
        let place = inventory.app_ref(app);
        let current = entry.and_then(|e| e.parsed_version());
        let reason = rules::excluded(app, &place, scope)
            .or_else(|| {
                current
                    .as_ref()
                    .filter(|c| *c >= version)
                    .map(|c| format!("already current: {buildpack} {c}"))
            })
            .or_else(|| rules::blocker(app, droplet, plan.action))
            .or_else(|| {
                (!usable(app_stack)).then(|| {
                    format!(
                        "{buildpack} {version} is not installed for {} (installed: {}): restaging would not update it",
                        app_stack.unwrap_or("its stack"),
                        installed.describe(buildpack)
                    )
                })
            });
        match (reason, inventory.current_droplet_guid(app)) {
            (None, Some(droplet_guid)) => {
                if let Some(now) = entry.and_then(|e| e.version.clone()) {
                    plan.current_versions.insert(place.guid.clone(), now);
                }
                let package = droplet.and_then(|d| d.package_guid());
                plan.job(place, droplet_guid, package, Some(buildpack), Some(version))
            }
            (Some(reason), _) => plan.skip(place, reason),
            // `blocker` already refused apps without a droplet.
            (None, None) => {}
        }
    }
    plan.hint(cf, &inventory, scope).await;
    Ok(())
}

/// Every app on `stack`. The rootfs version is not visible through the API,
/// so no app counts as already current.
async fn plan_stack(
    cf: &CfClient,
    plan: &mut Plan,
    stack: &str,
    scope: &ScopeSettings,
) -> Result<(), DiscoveryError> {
    let stacks = cf.list_stacks().await?;
    let Some(found) = stacks.iter().find(|s| s.name == stack) else {
        let names: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
        plan.not_installed = Some(format!(
            "stack {stack} is not installed in this foundation (stacks: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
        return Ok(());
    };
    if found.state == StackState::Disabled && plan.action == Action::Restage {
        plan.not_installed = Some(format!(
            "stack {stack} is DISABLED, so apps on it cannot be staged"
        ));
        return Ok(());
    }
    let query = AppQuery {
        stacks: vec![stack.to_string()],
        ..AppQuery::default()
    };
    let inventory = Inventory::fetch(cf, &query, |a, p| worth_a_lookup(a, p, scope)).await?;
    plan_all_listed(&inventory, plan, scope);
    plan.hint(cf, &inventory, scope).await;
    Ok(())
}

/// Every app in scope (stemcell notices configured to restage or restart).
async fn plan_every_app(
    cf: &CfClient,
    plan: &mut Plan,
    scope: &ScopeSettings,
) -> Result<(), DiscoveryError> {
    let inventory =
        Inventory::fetch(cf, &AppQuery::default(), |a, p| worth_a_lookup(a, p, scope)).await?;
    plan_all_listed(&inventory, plan, scope);
    plan.hint(cf, &inventory, scope).await;
    Ok(())
}

fn plan_all_listed(inventory: &Inventory, plan: &mut Plan, scope: &ScopeSettings) {
    plan.absorb(inventory);
    for app in inventory.apps() {
        let droplet = inventory.droplet_of(app);
        let place = inventory.app_ref(app);
        let reason = rules::excluded(app, &place, scope)
            .or_else(|| inventory.unreadable_reason(app).map(str::to_string))
            .or_else(|| rules::blocker(app, droplet, plan.action));
        match (reason, inventory.current_droplet_guid(app)) {
            (None, Some(droplet_guid)) => {
                let package = droplet.and_then(|d| d.package_guid());
                plan.job(place, droplet_guid, package, None, None)
            }
            (Some(reason), _) => plan.skip(place, reason),
            (None, None) => {}
        }
    }
}
