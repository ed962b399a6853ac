//! The restage engine shared by the worker Lambda and the local runner.
//!
//! - [`restage::restage_one`]: one app, one job, against Cloud Foundry.
//! - [`batch::Engine::process_batch`]: a batch of queue deliveries, with
//!   bounded concurrency, as many jobs at once per space as its quota holds
//!   (longest chain first, see `slots`), ledger leases and notifications,
//!   returning what to do with each delivery.
//! - [`runner::run`]: a pulling loop over a [`crate::queue::JobSource`].
//! - [`deadline::Deadline`]: the Lambda clock.

pub mod batch;
mod beat;
mod classify;
pub mod deadline;
pub mod labels;
mod poll;
pub mod restage;
pub mod runner;
mod slots;
mod verify;

pub use batch::{BatchItem, BatchReport, Clock, Disposition, Engine, ItemResult};
pub(crate) use classify::is_quota_text;
pub use classify::staging_failure;
pub use deadline::{Deadline, Margins};
pub use labels::{JOB_LABEL, RUN_LABEL};
pub use restage::{NoProgress, ProgressSink, restage_one};
