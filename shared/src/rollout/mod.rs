//! Safe rollout: a run goes wave by wave, stops itself when its error
//! budget runs out, and can be paused, resumed and aborted by hand.
//!
//! The state lives in the ledger's [`Rollout`] record, changed only by
//! swapping it from the version read, so of two deciders (two workers
//! finishing a wave's last jobs, two ticks, a tick and a Slack click) exactly
//! one acts. Nothing here sleeps: the gate is asked again by
//! - the worker that records a wave's last final outcome ([`advance`]),
//! - the periodic tick ([`tick`]: the schedule's Lambda on AWS, a timer in
//!   `restager serve`), which also lets a soak end and releases held jobs,
//! - a resume ([`control`]).
//!
//! - [`gate`]: whether the next wave may go, and releasing it;
//! - [`budget`]: halting a run whose failures exceed its budget;
//! - [`control`]: pause, resume, abort;
//! - [`soak`]: a finished wave's restaged apps are checked for crashes
//!   before the next wave goes, and a crashed one is rolled back;
//! - [`held`]: jobs held until their maintenance window opens (or their
//!   release is old enough) queued once, when it does.
//!
//! [`Rollout`]: crate::ledger::Rollout

pub mod budget;
pub mod control;
pub mod gate;
pub mod held;
mod soak;
pub mod tick;
pub mod view;

pub use budget::after_failure;
pub use control::{Command, ControlReport, apply};
pub use gate::{Advance, advance};
pub use tick::{TickReport, tick};

use crate::cf::{CfClient, CfError};
use crate::domain::RunId;
use crate::ledger::{Ledger, LedgerError, RunView};
use crate::notify::Notifier;
use crate::queue::{JobQueue, QueueError};

/// Who acts when the run's own rules act.
pub const RESTAGER: &str = "restager";

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(
        "run {run_id}: could not queue its jobs ({source}); they stay held, the next tick or a retry of the command queues them"
    )]
    Queue {
        run_id: RunId,
        #[source]
        source: QueueError,
    },
    #[error("run {0} is not in the ledger: check the run id (`restager status` lists runs)")]
    UnknownRun(RunId),
    #[error(
        "run {0} was recorded before restager had waves and controls: it cannot be paused, resumed or aborted"
    )]
    NoRollout(RunId),
    /// The command does not apply to the run as it is (resuming a running run…).
    #[error("{0}")]
    Refused(String),
    #[error("run {0}: other changes kept racing this one; try again")]
    Contended(RunId),
    #[error("Cloud Controller: {0}")]
    Cf(#[from] CfError),
}

/// The ports rollout decisions act through.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub cf: &'a CfClient,
    pub ledger: &'a dyn Ledger,
    pub queue: &'a dyn JobQueue,
    pub notifier: &'a dyn Notifier,
    /// `max_in_flight` of a rollback deployment made after a soak crash.
    pub max_in_flight: u32,
}

impl Ports<'_> {
    /// The run as the ledger has it now; a run id it does not know is the
    /// operator's mistake, reported as such.
    async fn known_run(&self, run_id: &RunId) -> Result<RunView, RolloutError> {
        self.ledger
            .get_run(run_id)
            .await?
            .ok_or_else(|| RolloutError::UnknownRun(run_id.clone()))
    }
}

/// Tries of a read-decide-swap that met a concurrent change.
const SWAP_TRIES: usize = 5;
