//! Which apps a notice affects, and what to do with each.
//!
//! Discovery reads the foundation in O(pages), never per app: one listing of
//! apps with `include=space.organization` at a large `per_page`, then their
//! current droplets by `guids` in batches, plus `/v3/buildpacks` or
//! `/v3/stacks`; then, for the jobs, their apps' history and their orgs'
//! quotas and usage (`hints`), as hints for the worker. Every affected app
//! either becomes one [`RestageJob`] or a
//! [`SkippedApp`] with the reason, so a response or a report can explain
//! each decision.
//!
//! - [`plan`]: what one notice means for this foundation.
//! - [`outdated`] / [`sweep_plan`]: apps whose droplet is older than the
//!   buildpack installed for their stack, grouped into runs (the scheduled sweep).
//! - [`fan_out`]: record a run and queue its jobs, safely repeatable.
//!
//! [`RestageJob`]: crate::domain::RestageJob
//! [`SkippedApp`]: crate::ledger::SkippedApp

mod allowance;
mod error;
mod fan_out;
mod forecast;
mod hints;
mod installed;
mod inventory;
mod outdated;
mod owners;
mod plan;
mod quotas;
mod release;
mod rules;
mod waves;

pub use error::{DiscoveryError, FanOutError};
pub use fan_out::{FanOut, RunPlan, SweepError, SweepReport, SweptRun, fan_out, sweep};
pub use installed::Installed;
pub use outdated::{OutdatedApp, outdated, sweep_plan};
pub use plan::{Plan, plan};
pub use release::{Released, release, start_of, upcoming};
pub use rules::OPT_OUT_LABEL;
pub use waves::PlannedWave;
