//! Fault switches (cf-api.md 6.3). A [`FaultRule`] pairs a [`Fault`] with a
//! target (one app, every app, or each event with a probability drawn from a
//! seeded RNG) and an optional number of times it fires.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Staging failures, with the error ids CC reports in `build.error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagingFailure {
    NoAppDetected,
    BuildpackCompileFailed,
    BuildpackReleaseFailed,
    InsufficientResources,
    StagingTimeExpired,
    NoCompatibleCell,
    CellCommunicationError,
}

impl StagingFailure {
    /// The error id and text Diego's staging failure reaches
    /// `BuildModel#fail_to_stage!` with, after
    /// lib/cloud_controller/diego/failure_reason_sanitizer.rb (buildpack exit
    /// codes 222/223/224 → "staging failed"; cell trouble keeps its text) or
    /// app/jobs/runtime/pending_build_cleanup.rb (StagingTimeExpired with the
    /// default "staging failed").
    pub fn reason(self) -> (&'static str, &'static str) {
        match self {
            Self::NoAppDetected => ("NoAppDetectedError", "staging failed"),
            Self::BuildpackCompileFailed => ("BuildpackCompileFailed", "staging failed"),
            Self::BuildpackReleaseFailed => ("BuildpackReleaseFailed", "staging failed"),
            Self::InsufficientResources => {
                ("InsufficientResources", "insufficient resources: memory")
            }
            Self::StagingTimeExpired => ("StagingTimeExpired", "staging failed"),
            Self::NoCompatibleCell => ("NoCompatibleCell", "found no compatible cell"),
            Self::CellCommunicationError => (
                "CellCommunicationError",
                "unable to communicate to compatible cells",
            ),
        }
    }

    /// `build.error` exactly as CC stores and presents it, e.g.
    /// `StagingError - Staging error: unable to communicate to compatible cells`
    /// for [`CellCommunicationError`](Self::CellCommunicationError), whose id CC does not keep.
    pub fn error_string(self) -> String {
        let (id, details) = self.reason();
        staging_error(id, details)
    }

    /// Whether retrying later can succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::InsufficientResources
                | Self::StagingTimeExpired
                | Self::NoCompatibleCell
                | Self::CellCommunicationError
        )
    }
}

/// The error ids `BuildModel#fail_to_stage!` keeps (`STAGING_FAILED_REASONS`,
/// app/models/runtime/build_model.rb); any other id becomes `StagingError`.
pub const STAGING_FAILED_REASONS: &[&str] = &[
    "StagerError",
    "StagingError",
    "StagingTimeExpired",
    "NoAppDetectedError",
    "BuildpackCompileFailed",
    "BuildpackReleaseFailed",
    "InsufficientResources",
    "NoCompatibleCell",
    "CNBGenericBuildFailed",
    "CNBDownloadBuildpackFailed",
    "CNBDetectFailed",
    "CNBBuildFailed",
    "CNBExportFailed",
    "CNBLaunchFailed",
    "CNBRestoreFailed",
];

/// The `build.error` CC stores for a staging failure with this error id and
/// details: `fail_to_stage!` (app/models/runtime/build_model.rb) keeps a
/// known id or turns it into `StagingError`, renders the description from
/// the id's errors/v2.yml message (`%s` = details; no `%s`, details dropped),
/// and BuildPresenter joins them as `"<id> - <description>"`.
pub fn staging_error(error_id: &str, details: &str) -> String {
    let id = if STAGING_FAILED_REASONS.contains(&error_id) {
        error_id
    } else {
        "StagingError"
    };
    // errors/v2.yml messages of the kept ids.
    let description = match id {
        "StagerError" => format!("Stager error: {details}"),
        "StagingTimeExpired" => format!("Staging time expired: {details}"),
        "NoAppDetectedError" => {
            "An app was not successfully detected by any available buildpack".to_owned()
        }
        "BuildpackCompileFailed" => "App staging failed in the buildpack compile phase".to_owned(),
        "BuildpackReleaseFailed" => "App staging failed in the buildpack release phase".to_owned(),
        "InsufficientResources" => "Insufficient resources".to_owned(),
        "NoCompatibleCell" => "Found no compatible cell".to_owned(),
        "CNBGenericBuildFailed" => "cnb: generic build failure".to_owned(),
        "CNBDownloadBuildpackFailed" => "cnb: downloading buildpacks failed: This may be caused by a wrong url, invalid buildpack or invalid credentials. Check the staging logs for more details.".to_owned(),
        "CNBDetectFailed" => "cnb: detecting failed".to_owned(),
        "CNBBuildFailed" => "cnb: building failed".to_owned(),
        "CNBExportFailed" => "cnb: exporting failed".to_owned(),
        "CNBLaunchFailed" => "cnb: launching failed".to_owned(),
        "CNBRestoreFailed" => "cnb: restore failed".to_owned(),
        _ => format!("Staging error: {details}"),
    };
    format!("{id} - {description}")
}

/// Ways to make one app's JSON unreadable (`CfSim::corrupt_app`): a field of
/// the wrong type, while every other app on the page stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// `"name": 42`
    NameNotString,
    /// `"state": 7`
    StateNotString,
    /// `"guid": null`
    GuidNull,
    /// `"relationships": {"space": {"data": {"guid": 7}}, ...}`
    SpaceGuidNotString,
    /// `"metadata": {"labels": ["x"], ...}`
    LabelsNotObject,
}

impl Corruption {
    /// Apply to one rendered app object.
    pub(crate) fn apply(self, app: &mut serde_json::Value) {
        use serde_json::json;
        match self {
            Self::NameNotString => app["name"] = json!(42),
            Self::StateNotString => app["state"] = json!(7),
            Self::GuidNull => app["guid"] = serde_json::Value::Null,
            Self::SpaceGuidNotString => app["relationships"]["space"]["data"]["guid"] = json!(7),
            Self::LabelsNotObject => app["metadata"]["labels"] = json!(["x"]),
        }
    }
}

/// One misbehaviour of the foundation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next build settles FAILED with this error.
    StagingFails(StagingFailure),
    /// The next build settles FAILED with this Diego error id and text,
    /// stored as CC does ([`staging_error`]): an id CC knows keeps it, any
    /// other becomes `StagingError - Staging error: <details>`.
    StagingFailsWith { error_id: String, details: String },
    /// The next build stays STAGING for ever.
    StagingStuck,
    /// Instances of the next deployment's new process crash; the deployment
    /// stays ACTIVE/DEPLOYING, with `status.details.error` when given.
    InstancesCrash { error: Option<String> },
    /// The next droplet staged for the app (by the client's build) is bad
    /// after it is deployed: a deployment of it reaches FINALIZED/DEPLOYED
    /// (a canary PAUSED) normally, then `after` later its web instances
    /// crash, and Diego restarts them by its restart policy, so they
    /// crash-loop with `crash_count` growing (see `SimConfig::crash_backoff`);
    /// each crash is an `audit.app.process.crash` event. Instances of every
    /// other droplet (e.g. a rollback to the previous one) stay healthy.
    CrashAfterDeploy { after: std::time::Duration },
    /// 422 at `POST /v3/builds`: staging memory exceeds the org quota.
    BuildQuotaExceeded,
    /// 422 at `POST /v3/deployments`: the first rolling step exceeds the quota.
    DeploymentQuotaExceeded,
    /// A scale-up tick fails with `status.details.error = "memory quota_exceeded"`
    /// and makes no progress (once per firing).
    MidDeployQuotaExceeded,
    /// When our build settles STAGED, a person pushes the app (current droplet
    /// changes between our build and our deployment).
    HumanPushBeforeDeploy,
    /// On the first tick after our deployment is created, a person's rolling
    /// push supersedes it.
    HumanPushDuringDeploy,
    /// An operator continues the app's PAUSED canary (`cf continue-deployment`)
    /// just before the client's `continue` arrives, which then meets the
    /// state the operator's left: 422 "Cannot continue a deployment with
    /// status: ACTIVE and reason: DEPLOYING" (app/actions/deployment_continue.rb).
    OperatorContinuesFirst,
    /// A person starts a build just before ours: 422 StagingInProgress.
    ConcurrentStaging,
    /// 503 CF-StagerUnavailable on `POST /v3/builds`, and no build (a
    /// simplification kept for existing tests: real CC saves the build
    /// first, see [`StagerUnreachable`](Self::StagerUnreachable)).
    StagerUnavailable,
    /// 503 CF-StagerUnavailable on `POST /v3/builds` as CC really answers
    /// it: the build was saved and is left FAILED with
    /// `StagingError - Staging error: Stager is unavailable: …`
    /// (lib/cloud_controller/diego/stager.rb).
    StagerUnreachable,
    /// 503 CF-InstancesUnavailable on process stats.
    InstancesUnavailable,
    /// 429 CF-RateLimitExceeded with `Retry-After: secs` (request not processed).
    RateLimited { retry_after_secs: u64 },
    /// 502 from the router (request not processed).
    BadGateway,
    /// 503 from the router (request not processed).
    ServiceUnavailable,
    /// A GET's connection is closed with a TCP reset before any response.
    ConnectionReset,
    /// The request is processed, then the connection is reset instead of
    /// answering (a lost response; any method).
    LostResponse,
    /// Pagination links use this host (same scheme and port).
    PaginationHost(String),
    /// After page 1 of a multi-page `GET /v3/apps`, a new app is inserted at
    /// the front of the default order.
    InsertBetweenPages,
}

/// Which apps or events a rule applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Every matching event.
    All,
    /// One app (for request-level faults: requests whose path, query or body mention it).
    App(String),
    /// Each matching event independently with this probability (seeded).
    Random(f64),
}

/// A fault switch.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub fault: Fault,
    pub target: Target,
    /// `None`: until cleared; `Some(n)`: fires n times.
    pub remaining: Option<u32>,
}

impl FaultRule {
    pub fn app(guid: impl Into<String>, fault: Fault) -> Self {
        Self {
            fault,
            target: Target::App(guid.into()),
            remaining: None,
        }
    }

    pub fn all(fault: Fault) -> Self {
        Self {
            fault,
            target: Target::All,
            remaining: None,
        }
    }

    pub fn random(probability: f64, fault: Fault) -> Self {
        Self {
            fault,
            target: Target::Random(probability),
            remaining: None,
        }
    }

    /// Fire only `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }
}

/// The installed rules and the RNG that draws probabilistic ones.
pub(crate) struct FaultBook {
    rules: Vec<FaultRule>,
    rng: ChaCha8Rng,
}

impl FaultBook {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rules: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473),
        }
    }

    pub(crate) fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    /// Fire the first rule accepted by `select` whose target matches `subject`;
    /// `subject` is an app guid, or the request text for request-level faults.
    pub(crate) fn fire<T>(
        &mut self,
        subject: &str,
        mut select: impl FnMut(&Fault) -> Option<T>,
    ) -> Option<T> {
        for i in 0..self.rules.len() {
            let Some(value) = select(&self.rules[i].fault) else {
                continue;
            };
            let hit = match &self.rules[i].target {
                Target::All => true,
                Target::App(guid) => subject.contains(guid.as_str()),
                Target::Random(p) => self.rng.random_bool(p.clamp(0.0, 1.0)),
            };
            if !hit {
                continue;
            }
            if let Some(n) = self.rules[i].remaining.as_mut() {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.rules.remove(i);
                }
            }
            return Some(value);
        }
        None
    }

    /// Like [`fire`](Self::fire) for a fault without payload.
    pub(crate) fn fire_eq(&mut self, subject: &str, fault: &Fault) -> bool {
        self.fire(subject, |f| (f == fault).then_some(())).is_some()
    }

    /// A standing setting (not consumed): the first matching rule's value.
    pub(crate) fn peek<T>(&self, select: impl Fn(&Fault) -> Option<T>) -> Option<T> {
        self.rules.iter().find_map(|r| select(&r.fault))
    }
}
