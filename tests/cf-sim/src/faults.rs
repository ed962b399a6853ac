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
    /// `"<ErrorId> - <description>"`, as CC's build presenter joins them.
    pub fn error_string(self) -> String {
        let (id, text) = match self {
            Self::NoAppDetected => (
                "NoAppDetectedError",
                "An app was not successfully detected by any available buildpack",
            ),
            Self::BuildpackCompileFailed => (
                "BuildpackCompileFailed",
                "App staging failed in the buildpack compile phase",
            ),
            Self::BuildpackReleaseFailed => (
                "BuildpackReleaseFailed",
                "App staging failed in the buildpack release phase",
            ),
            Self::InsufficientResources => ("InsufficientResources", "Insufficient resources"),
            Self::StagingTimeExpired => ("StagingTimeExpired", "Staging time expired"),
            Self::NoCompatibleCell => ("NoCompatibleCell", "Found no compatible cell"),
            Self::CellCommunicationError => ("CellCommunicationError", "Cell communication error"),
        };
        format!("{id} - {text}")
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

/// One misbehaviour of the foundation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next build settles FAILED with this error.
    StagingFails(StagingFailure),
    /// The next build stays STAGING for ever.
    StagingStuck,
    /// Instances of the next deployment's new process crash; the deployment
    /// stays ACTIVE/DEPLOYING, with `status.details.error` when given.
    InstancesCrash { error: Option<String> },
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
    /// A person starts a build just before ours: 422 StagingInProgress.
    ConcurrentStaging,
    /// 503 CF-StagerUnavailable on `POST /v3/builds`.
    StagerUnavailable,
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
