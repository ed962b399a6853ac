//! The notifier the webhook tests observe. The breakable queue and ledger
//! are `test_support::fakes` (the real memory ledger behind a switch).

use std::sync::Mutex;

use async_trait::async_trait;
use restager_shared::domain::{Outcome, RestageJob, RunId};
use restager_shared::ledger::{RunRecord, RunView};
use restager_shared::notify::{Notifier, NotifyError};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records which runs were announced.
#[derive(Default)]
pub struct RecordingNotifier {
    started: Mutex<Vec<RunId>>,
}

impl RecordingNotifier {
    pub fn started(&self) -> Vec<RunId> {
        lock(&self.started).clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn run_started(&self, run: &RunRecord) -> Result<(), NotifyError> {
        lock(&self.started).push(run.run_id.clone());
        Ok(())
    }

    async fn app_finished(&self, _: &RestageJob, _: &Outcome) -> Result<(), NotifyError> {
        Ok(())
    }

    async fn run_completed(&self, _: &RunView) -> Result<(), NotifyError> {
        Ok(())
    }
}
