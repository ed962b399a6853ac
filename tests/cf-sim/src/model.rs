//! The foundation's records, stored append-only in [`Table`]s (CC never
//! forgets a build, droplet or deployment during a test run either).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use tokio::time::Instant;

pub(crate) type Labels = BTreeMap<String, String>;

/// A record addressable by guid and, when it belongs to one, by app guid.
pub(crate) trait Row {
    fn guid(&self) -> &str;
    fn app_guid(&self) -> Option<&str> {
        None
    }
}

/// `Row` for a record whose `guid` field is its guid; `by app` also indexes
/// it by its `app_guid` field.
macro_rules! impl_row {
    ($t:ty) => {
        impl $crate::model::Row for $t {
            fn guid(&self) -> &str {
                &self.guid
            }
        }
    };
    ($t:ty, by app) => {
        impl $crate::model::Row for $t {
            fn guid(&self) -> &str {
                &self.guid
            }
            fn app_guid(&self) -> Option<&str> {
                Some(&self.app_guid)
            }
        }
    };
}
pub(crate) use impl_row;

/// Insertion-ordered rows with a guid index and a per-app index.
pub(crate) struct Table<T> {
    rows: Vec<T>,
    by_guid: HashMap<String, usize>,
    by_app: HashMap<String, Vec<usize>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            by_guid: HashMap::new(),
            by_app: HashMap::new(),
        }
    }
}

impl<T: Row> Table<T> {
    pub(crate) fn insert(&mut self, row: T) {
        let idx = self.rows.len();
        self.by_guid.insert(row.guid().to_owned(), idx);
        if let Some(app) = row.app_guid() {
            self.by_app.entry(app.to_owned()).or_default().push(idx);
        }
        self.rows.push(row);
    }

    pub(crate) fn get(&self, guid: &str) -> Option<&T> {
        self.by_guid.get(guid).map(|&i| &self.rows[i])
    }

    pub(crate) fn get_mut(&mut self, guid: &str) -> Option<&mut T> {
        self.by_guid.get(guid).map(|&i| &mut self.rows[i])
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.rows.iter()
    }

    /// The first row `pred` accepts, to change in place.
    pub(crate) fn find_mut(&mut self, pred: impl Fn(&T) -> bool) -> Option<&mut T> {
        self.rows.iter_mut().find(|r| pred(r))
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Rows of one app, oldest first.
    pub(crate) fn for_app(&self, app: &str) -> impl Iterator<Item = &T> {
        self.by_app
            .get(app)
            .into_iter()
            .flatten()
            .map(|&i| &self.rows[i])
    }

    /// Rows of the apps a list filter names (each app's oldest first, the
    /// apps in the order named), or every row when it names none.
    pub(crate) fn for_apps(&self, apps: &Option<Vec<String>>) -> Vec<&T> {
        match apps {
            Some(apps) => apps.iter().flat_map(|a| self.for_app(a)).collect(),
            None => self.iter().collect(),
        }
    }

    /// Insertion position of a row (CC's `id` order).
    pub(crate) fn position(&self, guid: &str) -> usize {
        self.by_guid.get(guid).copied().unwrap_or(usize::MAX)
    }

    pub(crate) fn guids_for_app(&self, app: &str) -> Vec<String> {
        self.for_app(app).map(|r| r.guid().to_owned()).collect()
    }
}

pub(crate) struct Org {
    pub guid: String,
    pub name: String,
    /// Its organization quota (`crate::quota`); every org has one.
    pub quota_guid: String,
    pub created_at: DateTime<Utc>,
    pub labels: Labels,
    pub annotations: Labels,
}
impl_row!(Org);

pub(crate) struct Space {
    pub guid: String,
    pub name: String,
    pub org_guid: String,
    /// Its space quota, if one is applied.
    pub quota_guid: Option<String>,
    pub created_at: DateTime<Utc>,
    pub labels: Labels,
    pub annotations: Labels,
}
impl_row!(Space);

/// Stack states as `GET /v3/stacks` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackState {
    Active,
    Deprecated,
    Restricted,
    Disabled,
}

impl StackState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Deprecated => "DEPRECATED",
            Self::Restricted => "RESTRICTED",
            Self::Disabled => "DISABLED",
        }
    }
}

pub(crate) struct Stack {
    pub guid: String,
    pub name: String,
    pub description: String,
    pub state: StackState,
    pub default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl_row!(Stack);

/// Whether a buildpack has bits: CC derives it from `filename`
/// (`Buildpack#state`, app/models/runtime/buildpack.rb).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildpackState {
    /// Created, bits not uploaded yet: `filename` is null.
    AwaitingUpload,
    Ready,
}

impl BuildpackState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingUpload => "AWAITING_UPLOAD",
            Self::Ready => "READY",
        }
    }
}

pub(crate) struct Buildpack {
    pub guid: String,
    pub name: String,
    /// `None`: a buildpack for any stack (`"stack": null`).
    pub stack: Option<String>,
    /// Only ever shown inside `filename`: the API has no version field.
    /// `None` while AWAITING_UPLOAD.
    pub version: Option<String>,
    pub position: u32,
    pub enabled: bool,
    pub locked: bool,
    /// `buildpack` or `cnb`.
    pub lifecycle: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl_row!(Buildpack);

impl Buildpack {
    /// The uploaded file's name; `None` while no bits were uploaded.
    pub(crate) fn filename(&self) -> Option<String> {
        let version = self.version.as_ref()?;
        Some(match &self.stack {
            Some(stack) => format!("{}-{}-v{}.zip", self.name, stack, version),
            None => format!("{}-v{}.zip", self.name, version),
        })
    }

    pub(crate) fn state(&self) -> BuildpackState {
        if self.version.is_some() {
            BuildpackState::Ready
        } else {
            BuildpackState::AwaitingUpload
        }
    }

    /// Usable for staging on `stack`: has bits, is enabled, and is for that stack or any.
    pub(crate) fn serves(&self, stack: &str) -> bool {
        self.version.is_some() && self.stack.as_deref().is_none_or(|s| s == stack)
    }
}

/// An app's lifecycle type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleKind {
    Buildpack,
    Docker,
}

impl LifecycleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buildpack => "buildpack",
            Self::Docker => "docker",
        }
    }
}

/// An app's desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    Started,
    Stopped,
}

impl AppState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::Stopped => "STOPPED",
        }
    }
}

pub(crate) struct App {
    pub guid: String,
    pub name: String,
    pub space_guid: String,
    pub state: AppState,
    pub lifecycle: LifecycleKind,
    /// Buildpacks the developer asked for (often empty: auto-detect).
    pub requested_buildpacks: Vec<String>,
    /// What staging detects when nothing is requested.
    pub detected_buildpack: String,
    pub stack: String,
    pub docker_image: Option<String>,
    pub current_droplet: Option<String>,
    /// The app's `revisions` feature (CC's default: on).
    pub revisions_enabled: bool,
    /// The newest revision: `(guid, version, droplet guid)`.
    pub latest_revision: Option<Revision>,
    /// A fault: this app's JSON is malformed in listings and GETs.
    pub corruption: Option<crate::faults::Corruption>,
    pub labels: Labels,
    pub annotations: Labels,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl_row!(App);

impl App {
    /// The buildpacks a build of this app runs: the requested ones, else the detected one.
    pub(crate) fn staging_buildpacks(&self) -> Vec<String> {
        if self.requested_buildpacks.is_empty() {
            vec![self.detected_buildpack.clone()]
        } else {
            self.requested_buildpacks.clone()
        }
    }
}

/// An app revision as deployments reference it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Revision {
    pub guid: String,
    pub version: u32,
    pub droplet_guid: String,
}

/// One `buildpacks[]` entry of a droplet. CC stores what the buildpack
/// reported; a field it did not report is null (droplet_presenter.rb).
#[derive(Debug, Clone)]
pub(crate) struct DropletBuildpack {
    pub name: String,
    pub buildpack_name: Option<String>,
    pub version: Option<String>,
    /// Only the buildpack that produced the start command has detect output.
    pub detect_output: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropletState {
    Staged,
}

impl DropletState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staged => "STAGED",
        }
    }
}

pub(crate) struct Droplet {
    pub guid: String,
    pub app_guid: String,
    pub state: DropletState,
    pub lifecycle: LifecycleKind,
    /// `None` for docker droplets.
    pub buildpacks: Option<Vec<DropletBuildpack>>,
    pub stack: Option<String>,
    pub image: Option<String>,
    pub package_guid: Option<String>,
    pub web_command: String,
    pub checksum: String,
    pub labels: Labels,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl_row!(Droplet, by app);

/// Package states: the full set of `PackageModel::PACKAGE_STATES`
/// (app/models/runtime/package_model.rb).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageState {
    AwaitingUpload,
    ProcessingUpload,
    Ready,
    Failed,
    Copying,
    Expired,
}

impl PackageState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingUpload => "AWAITING_UPLOAD",
            Self::ProcessingUpload => "PROCESSING_UPLOAD",
            Self::Ready => "READY",
            Self::Failed => "FAILED",
            Self::Copying => "COPYING",
            Self::Expired => "EXPIRED",
        }
    }

    /// Whether the bits exist (a checksum is known): READY, or EXPIRED
    /// (the package row keeps its checksum after the bits go).
    pub(crate) fn has_bits(self) -> bool {
        matches!(self, Self::Ready | Self::Expired)
    }
}

pub(crate) struct Package {
    pub guid: String,
    pub app_guid: String,
    pub state: PackageState,
    /// `Some(image)` for docker packages, `None` for bits.
    pub image: Option<String>,
    /// sha256 of the bits.
    pub checksum: String,
    /// `data.error` of a FAILED bits package.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl_row!(Package, by app);

/// Build states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildState {
    Staging,
    Staged,
    Failed,
}

impl BuildState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staging => "STAGING",
            Self::Staged => "STAGED",
            Self::Failed => "FAILED",
        }
    }
}

/// Who made a build or deployment: the API client, or a person at the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Actor {
    pub guid: String,
    pub name: String,
    pub email: String,
    pub is_client: bool,
}

/// How a STAGING build will settle, decided when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BuildOutcome {
    Succeed,
    /// FAILED with this `build.error`.
    Fail(String),
    /// Stays STAGING for ever.
    Stuck,
}

pub(crate) struct Build {
    pub guid: String,
    pub app_guid: String,
    pub package_guid: String,
    pub state: BuildState,
    pub error: Option<String>,
    pub droplet_guid: Option<String>,
    pub lifecycle: LifecycleKind,
    pub buildpacks: Vec<String>,
    pub stack: String,
    pub staging_memory_mb: u64,
    pub staging_disk_mb: u64,
    pub created_by: Actor,
    pub labels: Labels,
    pub annotations: Labels,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub settles_at: Instant,
    pub outcome: BuildOutcome,
}
impl_row!(Build, by app);

/// Internal deployment states (the `states` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    Deploying,
    /// Canary instances starting; becomes PAUSED once they are routable.
    Prepaused,
    Paused,
    Deployed,
    Canceling,
    Canceled,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploying => "DEPLOYING",
            Self::Prepaused => "PREPAUSED",
            Self::Paused => "PAUSED",
            Self::Deployed => "DEPLOYED",
            Self::Canceling => "CANCELING",
            Self::Canceled => "CANCELED",
        }
    }
}

pub(crate) struct Deployment {
    pub guid: String,
    pub app_guid: String,
    pub state: DeploymentState,
    /// `ACTIVE` or `FINALIZED`.
    pub status_value: &'static str,
    /// DEPLOYING|CANCELING (ACTIVE); DEPLOYED|CANCELED|SUPERSEDED (FINALIZED).
    pub status_reason: &'static str,
    pub error: Option<String>,
    pub strategy: String,
    pub max_in_flight: u32,
    /// The scaling options the request set (`options.*`, shown only when set).
    pub scaling: ScalingOptions,
    /// `options.canary.steps` as requested (canary strategy only).
    pub canary_steps_requested: Option<Vec<serde_json::Value>>,
    /// The revision this deployment rolled out (`None` with revisions off).
    pub revision: Option<Revision>,
    /// Made on a STOPPED app: CC starts it and finalizes at once, and
    /// records no deployment process (`new_processes: []`).
    pub stopped_app: bool,
    pub desired_instances: u32,
    pub original_web_instances: u32,
    pub droplet_guid: String,
    pub previous_droplet_guid: Option<String>,
    pub new_process_guid: Option<String>,
    /// `canary_current_step` (1-based; DeploymentModel#before_create sets 1
    /// for canaries, DeploymentContinue moves it on).
    pub canary_current_step: u32,
    /// `status.details.error` shown while the new instances are crashing.
    pub crash_error: Option<String>,
    pub created_by: Actor,
    pub labels: Labels,
    pub annotations: Labels,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_healthy_at: DateTime<Utc>,
    pub last_status_change: DateTime<Utc>,
    /// Set by the human-push-during-deploy fault; fires on the next tick.
    pub pending_human_push: bool,
}
impl_row!(Deployment, by app);

/// `options.web_instances`, `memory_in_mb`, `disk_in_mb`,
/// `log_rate_limit_in_bytes_per_second` of a deployment request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScalingOptions {
    pub web_instances: Option<u32>,
    pub memory_in_mb: Option<u64>,
    pub disk_in_mb: Option<u64>,
    pub log_rate_limit: Option<i64>,
}

/// DeploymentModel#canary_step_plan (app/models/runtime/deployment_model.rb):
/// `(canary, original)` per step; without steps one canary instance.
/// A step's canary is `round(instances × weight / 100)`, at least 1,
/// where instances is `web_instances` if smaller than the original count;
/// original is `instances − canary + 1`, or 0 at weight 100.
pub(crate) fn canary_plan(
    steps: Option<&[serde_json::Value]>,
    original: u32,
    web_instances: Option<u32>,
) -> Vec<(u32, u32)> {
    let Some(steps) = steps else {
        return vec![(1, original)];
    };
    let instances = match web_instances {
        Some(w) if w < original => w,
        _ => original,
    };
    steps
        .iter()
        .map(|step| {
            let weight = step
                .get("instance_weight")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0);
            // Ruby's Float#round: half away from zero, as f64::round.
            let canary = (f64::from(instances) * (weight as f64 / 100.0)).round() as i64;
            let canary = canary.max(1);
            let original = if weight == 100 {
                0
            } else {
                (i64::from(instances) - canary + 1).max(0)
            };
            (
                u32::try_from(canary).unwrap_or(u32::MAX),
                u32::try_from(original).unwrap_or(0),
            )
        })
        .collect()
}

impl Deployment {
    /// [`canary_plan`] for this deployment's request.
    pub(crate) fn canary_step_plan(&self) -> Vec<(u32, u32)> {
        canary_plan(
            self.canary_steps_requested.as_deref(),
            self.original_web_instances,
            self.scaling.web_instances,
        )
    }

    /// DeploymentModel#canary_step: the plan entry of the current step.
    pub(crate) fn canary_step(&self) -> (u32, u32) {
        let plan = self.canary_step_plan();
        let i = self.canary_current_step.max(1) as usize - 1;
        plan.get(i)
            .or(plan.last())
            .copied()
            .unwrap_or((1, self.original_web_instances))
    }

    pub(crate) fn is_active(&self) -> bool {
        self.status_value == "ACTIVE"
    }

    pub(crate) fn set_status(
        &mut self,
        state: DeploymentState,
        value: &'static str,
        reason: &'static str,
        now: DateTime<Utc>,
    ) {
        let changed = self.status_value != value || self.status_reason != reason;
        self.state = state;
        self.status_value = value;
        self.status_reason = reason;
        self.updated_at = now;
        if changed {
            self.last_status_change = now;
        }
    }
}

/// What an instance reports in process stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    Starting,
    Running,
    Crashed,
    Down,
}

impl InstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "STARTING",
            Self::Running => "RUNNING",
            Self::Crashed => "CRASHED",
            Self::Down => "DOWN",
        }
    }
}

pub(crate) struct Process {
    pub guid: String,
    pub app_guid: String,
    pub kind: String,
    pub command: String,
    pub memory_mb: u64,
    pub disk_mb: u64,
    /// Start time of each instance; its length is the instance count.
    pub instance_starts: Vec<Instant>,
    /// Instances of this process crash once started (a bad new droplet).
    pub crashing: bool,
    /// The droplet this process runs (its revision's, else the app's when it started).
    pub droplet_guid: Option<String>,
    /// When a crash-after-deploy droplet counts as deployed here: its
    /// instances crash `after` past this (see `crate::crash`).
    pub crash_anchor: Option<Instant>,
    /// Crashes already recorded as audit events, per instance index.
    pub crash_recorded: Vec<u32>,
    /// Removed at finalize/cancel; kept so stats on a stale guid 404.
    pub destroyed: bool,
    /// The revision a deployment created this process for.
    pub revision_guid: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl_row!(Process, by app);

impl Process {
    pub(crate) fn instances(&self) -> u32 {
        u32::try_from(self.instance_starts.len()).unwrap_or(u32::MAX)
    }

    /// Grow or shrink to `n` instances; new ones start now, the highest indexes go first.
    pub(crate) fn scale_to(&mut self, n: u32, now: Instant) {
        let n = n as usize;
        if n < self.instance_starts.len() {
            self.instance_starts.truncate(n);
        } else {
            self.instance_starts.resize(n, now);
        }
        self.crash_recorded.resize(n, 0);
    }

    /// Every instance starts again (a new LRP: Diego's crash counts restart).
    pub(crate) fn restart(&mut self, now: Instant) {
        for s in &mut self.instance_starts {
            *s = now;
        }
        self.crash_recorded = vec![0; self.instance_starts.len()];
        self.crash_anchor = None;
    }
}
