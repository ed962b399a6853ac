//! cf-sim: a Cloud Foundry Cloud Controller v3 + UAA simulator for tests,
//! demos and benchmarks. It models the parts a rolling restager touches,
//! including the surprising ones (cf-api.md section 6): builds that settle
//! with the buildpack version installed at that moment, deployments that
//! supersede each other and never FAIL, stopped apps started by a
//! deployment, and switchable faults from staging failures to TCP resets.

mod api;
mod audit;
mod config;
mod crash;
mod error;
mod faults;
mod history;
mod model;
mod net;
mod present;
mod quota;
mod record;
mod rollout;
mod seed;
mod sim;
mod snapshot;
mod staging;
mod version;
mod world;

pub use config::{DEFAULT_API_VERSION, RateLimit, SimConfig};
pub use error::SimError;
pub use faults::{
    Corruption, Fault, FaultRule, STAGING_FAILED_REASONS, StagingFailure, Target, staging_error,
};
pub use history::PastRestage;
pub use model::{
    AppState, BuildState, BuildpackState, DeploymentState, InstanceState, LifecycleKind,
    PackageState, StackState,
};
pub use quota::{QuotaLimits, QuotaUsage};
pub use record::RecordedRequest;
pub use seed::{AppSpec, BUILDPACK_VERSIONS, BuildpackSpec, OPT_OUT_LABEL};
pub use sim::timing::{AppTiming, PhaseTimes, RestageTimes};
pub use sim::{ActionError, CfSim};
pub use snapshot::{
    AppSnapshot, AuditEventSnapshot, BuildSnapshot, BuildpackVersion, DeploymentSnapshot,
    DropletSnapshot, ProcessSnapshot,
};
pub use version::since;
