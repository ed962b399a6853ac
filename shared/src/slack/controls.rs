//! The Resume and Abort buttons of a halt or pause message: the same run
//! controls as `restager resume|abort` and `serve`'s admin routes, on behalf
//! of the Slack user who clicked (recorded in the run's history).

use std::sync::Arc;

use super::actions::{ActionError, Done, SlackActions};
use crate::cf::CfClient;
use crate::domain::RunId;
use crate::notify::Notifier;
use crate::rollout::{self, Command, Ports, RolloutError};

/// What a control click acts through besides the ledger and queue.
pub(crate) struct RunControls {
    cf: CfClient,
    notifier: Arc<dyn Notifier>,
    max_in_flight: u32,
}

impl SlackActions {
    /// Lets the Resume and Abort buttons act.
    pub fn with_run_controls(
        mut self,
        cf: CfClient,
        notifier: Arc<dyn Notifier>,
        max_in_flight: u32,
    ) -> Self {
        self.controls = Some(RunControls {
            cf,
            notifier,
            max_in_flight,
        });
        self
    }

    pub(super) async fn control(
        &self,
        run_id: &RunId,
        command: Command,
        user: &str,
    ) -> Result<Done, ActionError> {
        let Some(controls) = &self.controls else {
            return Ok(Done::unchanged(format!(
                "This restager cannot {command} runs from Slack; use `restager {command} {run_id}`."
            )));
        };
        let ports = Ports {
            cf: &controls.cf,
            ledger: self.ledger(),
            queue: self.queue(),
            notifier: controls.notifier.as_ref(),
            max_in_flight: controls.max_in_flight,
        };
        match rollout::apply(ports, run_id, command, user, chrono::Utc::now()).await {
            Ok(report) => Ok(Done {
                text: report.message,
                changed: true,
            }),
            Err(RolloutError::Ledger(e)) => Err(ActionError::Ledger(e)),
            Err(RolloutError::Queue { source, .. }) => {
                Err(ActionError::ControlQueue(source.to_string()))
            }
            Err(other) => Ok(Done::unchanged(format!("Nothing done: {other}."))),
        }
    }
}
