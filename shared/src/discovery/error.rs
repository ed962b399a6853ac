//! Why discovery or a fan-out could not finish. Each says whether a retry
//! later can help, which the webhook turns into 503 (retry) or 500 (fix us).

use crate::cf::CfError;
use crate::ledger::LedgerError;
use crate::queue::QueueError;

/// Discovery could not read the foundation.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cannot read the foundation from Cloud Foundry: {0}")]
    Cf(#[from] CfError),
}

impl DiscoveryError {
    /// False only when our own configuration is wrong (UAA refused the
    /// client): a retry cannot help until someone fixes the settings.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, DiscoveryError::Cf(CfError::Unauthorized { .. }))
    }
}

/// A run could not be recorded or queued. Whatever was done is safe to
/// repeat: the run record merges and job ids are the queue's dedup ids.
#[derive(Debug, thiserror::Error)]
pub enum FanOutError {
    #[error("cannot record the run in the ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("cannot queue the jobs: {0}")]
    Queue(#[from] QueueError),
}

impl FanOutError {
    /// True when retrying later can succeed (an outage, not a rejection).
    pub fn is_retryable(&self) -> bool {
        match self {
            FanOutError::Ledger(LedgerError::Unavailable(_)) => true,
            FanOutError::Ledger(LedgerError::Corrupt(_)) => false,
            FanOutError::Queue(QueueError::Unavailable(_) | QueueError::Storage(_)) => true,
            FanOutError::Queue(QueueError::Rejected { .. }) => false,
        }
    }
}
