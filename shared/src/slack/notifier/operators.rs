//! Delivering the operators' lane: the run's root message in
//! `SLACK_CHANNEL` (posted once across processes, its `ts` in the ledger),
//! results and news threaded under it, and the summary it is edited into.

use chrono::Utc;

use super::outbox::{DeliveryError, Shared, Step, Thread, Work};
use crate::domain::RunId;
use crate::ledger::RunRecord;
use crate::slack::messages::{pack_replies, root_message, summary_message};

impl Shared {
    pub(super) async fn deliver(&self, run_id: &RunId, work: Work) -> Result<Step, DeliveryError> {
        match work {
            Work::Root(record) => Ok(match self.thread(run_id, Some(&record)).await? {
                Thread::Known(_) => Step::Nothing,
                Thread::Posted => Step::Sent { lines: 0 },
            }),
            Work::Results(lines) => {
                let ts = match self.thread(run_id, None).await? {
                    Thread::Known(ts) => ts,
                    Thread::Posted => return Ok(Step::Progressed),
                };
                let Some(reply) = pack_replies(&lines).into_iter().next() else {
                    return Ok(Step::Nothing);
                };
                self.api
                    .post_message(&self.channel, &reply.message, Some(&ts))
                    .await?;
                Ok(Step::Sent { lines: reply.lines })
            }
            Work::News(message) => {
                let ts = match self.thread(run_id, None).await? {
                    Thread::Known(ts) => ts,
                    Thread::Posted => return Ok(Step::Progressed),
                };
                self.api
                    .post_message(&self.channel, &message, Some(&ts))
                    .await?;
                Ok(Step::Sent { lines: 0 })
            }
            Work::Summary(view) => {
                let ts = match self.thread(run_id, Some(&view.record)).await? {
                    Thread::Known(ts) => ts,
                    Thread::Posted => return Ok(Step::Progressed),
                };
                let message = summary_message(&view, Utc::now());
                self.api
                    .update_message(&self.channel, &ts, &message)
                    .await?;
                Ok(Step::Sent { lines: 0 })
            }
            // Only owners' lanes carry these.
            Work::OwnerUpdate => Ok(Step::Nothing),
        }
    }

    /// The run's root message ts, posting the root if no process has.
    async fn thread(
        &self,
        run_id: &RunId,
        record: Option<&RunRecord>,
    ) -> Result<Thread, DeliveryError> {
        if let Some(ts) = self.lock().threads.get(run_id) {
            return Ok(Thread::Known(ts.clone()));
        }
        let view = self.ledger.get_run(run_id).await?;
        if let Some(ts) = view.as_ref().and_then(|v| v.slack_thread.clone()) {
            self.lock().threads.insert(run_id.clone(), ts.clone());
            return Ok(Thread::Known(ts));
        }
        let record = match (record, &view) {
            (Some(r), _) => r,
            (None, Some(v)) => &v.record,
            (None, None) => return Err(DeliveryError::RunUnknown),
        };
        let claim = format!("slack-root:{run_id}");
        if !self
            .ledger
            .remember(&claim, self.config.root_claim_ttl)
            .await?
        {
            return Err(DeliveryError::RootClaimed);
        }
        let posted = match self
            .api
            .post_message(
                &self.channel,
                &root_message(record, view.as_ref().and_then(|v| v.rollout.as_ref())),
                None,
            )
            .await
        {
            Ok(p) => p,
            Err(e) => {
                // Let the next attempt (ours or another process's) post it.
                if let Err(forget) = self.ledger.forget(&claim).await {
                    tracing::warn!(run = %run_id, error = %forget, "could not release the Slack root claim; it expires on its own");
                }
                return Err(e.into());
            }
        };
        let ts = match self.ledger.set_slack_thread(run_id, &posted.ts).await {
            Ok(true) => posted.ts,
            Ok(false) => {
                // Our claim expired and someone else posted too: follow theirs.
                let theirs = self
                    .ledger
                    .get_run(run_id)
                    .await?
                    .and_then(|v| v.slack_thread);
                tracing::warn!(run = %run_id, "a second Slack root message was posted for this run; threading under the first");
                theirs.unwrap_or(posted.ts)
            }
            Err(e) => {
                tracing::warn!(run = %run_id, error = %e, "Slack root posted but its ts could not be stored in the ledger; other processes may post another");
                posted.ts
            }
        };
        self.lock().threads.insert(run_id.clone(), ts);
        Ok(Thread::Posted)
    }
}
