//! Delivering an owners' lane: the run's message in the channel, posted
//! once across processes and updated in place after, and the apps'
//! results threaded under it. The message's `ts` (or Slack's refusal of
//! the channel) is kept in the run's rollout record, swapped from the
//! version read, so of two processes posting at once one message stands
//! and a refusal is reported by exactly one of them.

use chrono::Utc;

use super::outbox::{DeliveryError, Item, Lane, Shared, Step, Thread, Work};
use crate::domain::RunId;
use crate::ledger::{OwnerChannel, RunView};
use crate::slack::api::SlackApiError;
use crate::slack::messages::pack_replies;
use crate::slack::owners::{channel_refusal, owners_message, refused_message};

/// Tries of a read-swap of the rollout record that met a concurrent change.
const SWAP_TRIES: usize = 5;

impl Shared {
    pub(super) async fn deliver_owners(
        &self,
        run_id: &RunId,
        channel: &str,
        work: Work,
    ) -> Result<Step, DeliveryError> {
        match work {
            Work::OwnerUpdate => match self.owner_thread(run_id, channel).await? {
                // Just posted, from the ledger as it is now.
                Thread::Posted => Ok(Step::Sent { lines: 0 }),
                Thread::Known(ts) => {
                    let view = self
                        .ledger
                        .get_run(run_id)
                        .await?
                        .ok_or(DeliveryError::RunUnknown)?;
                    let message = owners_message(&view, channel, Utc::now());
                    let updated = self.api.update_message(channel, &ts, &message).await;
                    self.on_channel(run_id, channel, Some(&view), updated)
                        .await?;
                    Ok(Step::Sent { lines: 0 })
                }
            },
            Work::Results(lines) => {
                let ts = match self.owner_thread(run_id, channel).await? {
                    Thread::Known(ts) => ts,
                    Thread::Posted => return Ok(Step::Progressed),
                };
                let Some(reply) = pack_replies(&lines).into_iter().next() else {
                    return Ok(Step::Nothing);
                };
                let posted = self
                    .api
                    .post_message(channel, &reply.message, Some(&ts))
                    .await;
                self.on_channel(run_id, channel, None, posted).await?;
                Ok(Step::Sent { lines: reply.lines })
            }
            // Nothing else is put in an owners' lane.
            Work::Root(_) | Work::Summary(_) | Work::News(_) => Ok(Step::Nothing),
        }
    }

    /// The run's message in `channel`, posting it if no process has.
    async fn owner_thread(&self, run_id: &RunId, channel: &str) -> Result<Thread, DeliveryError> {
        let key = (run_id.clone(), channel.to_string());
        if let Some(ts) = self.lock().owner_threads.get(&key) {
            return Ok(Thread::Known(ts.clone()));
        }
        let view = self
            .ledger
            .get_run(run_id)
            .await?
            .ok_or(DeliveryError::RunUnknown)?;
        match view
            .rollout
            .as_ref()
            .and_then(|r| r.owner_channels.get(channel))
        {
            Some(OwnerChannel::Posted { ts }) => {
                self.lock().owner_threads.insert(key, ts.clone());
                return Ok(Thread::Known(ts.clone()));
            }
            Some(OwnerChannel::Refused { error }) => {
                return Err(DeliveryError::ChannelRefused {
                    channel: channel.to_string(),
                    error: error.clone(),
                });
            }
            None => {}
        }
        let claim = format!("slack-owner:{run_id}:{channel}");
        if !self
            .ledger
            .remember(&claim, self.config.root_claim_ttl)
            .await?
        {
            return Err(DeliveryError::RootClaimed);
        }
        let message = owners_message(&view, channel, Utc::now());
        let posted = match self.api.post_message(channel, &message, None).await {
            Ok(posted) => posted,
            Err(e) => {
                if channel_refusal(&e).is_none()
                    && let Err(forget) = self.ledger.forget(&claim).await
                {
                    tracing::warn!(run = %run_id, %channel, error = %forget, "could not release the owners' message claim; it expires on its own");
                }
                return Err(self.refused_or(run_id, channel, Some(&view), e).await);
            }
        };
        let ts = match self
            .store(
                run_id,
                channel,
                OwnerChannel::Posted {
                    ts: posted.ts.clone(),
                },
            )
            .await
        {
            Ok((OwnerChannel::Posted { ts }, ours)) => {
                if !ours {
                    tracing::warn!(run = %run_id, %channel, "a second owners' message was posted for this run; updating the first");
                }
                ts
            }
            Ok((OwnerChannel::Refused { .. }, _)) => posted.ts,
            Err(e) => {
                tracing::warn!(run = %run_id, %channel, error = %e, "owners' message posted but its ts could not be stored; other processes may post another");
                posted.ts
            }
        };
        self.lock().owner_threads.insert(key, ts);
        Ok(Thread::Posted)
    }

    /// A call's result on an owners' channel, a refusal of the channel
    /// recorded (the bot may be removed in the middle of a run).
    async fn on_channel<T>(
        &self,
        run_id: &RunId,
        channel: &str,
        view: Option<&RunView>,
        result: Result<T, SlackApiError>,
    ) -> Result<T, DeliveryError> {
        match result {
            Ok(value) => Ok(value),
            Err(e) => Err(self.refused_or(run_id, channel, view, e).await),
        }
    }

    /// A refusal of the channel is recorded and, by the process that
    /// records it, reported in the operators' thread; any other error is
    /// passed on as it is.
    async fn refused_or(
        &self,
        run_id: &RunId,
        channel: &str,
        view: Option<&RunView>,
        e: SlackApiError,
    ) -> DeliveryError {
        let Some(error) = channel_refusal(&e).map(str::to_string) else {
            return e.into();
        };
        let first = match self
            .store(
                run_id,
                channel,
                OwnerChannel::Refused {
                    error: error.clone(),
                },
            )
            .await
        {
            Ok((_, ours)) => ours,
            Err(store) => {
                // Told from here all the same: twice beats never.
                tracing::warn!(run = %run_id, %channel, error = %store, "could not record that Slack refused the owners' channel");
                true
            }
        };
        if first {
            let view = match view {
                Some(v) => Some(v.clone()),
                None => self.ledger.get_run(run_id).await.ok().flatten(),
            };
            let note = refused_message(view.as_ref(), channel, &error);
            if let Err(e) = self.push(run_id, Lane::Operators, Item::News(Box::new(note))) {
                tracing::warn!(run = %run_id, %channel, error = %e, "could not tell the operators that Slack refused the owners' channel");
            }
        }
        DeliveryError::ChannelRefused {
            channel: channel.to_string(),
            error,
        }
    }

    /// Records `value` for `channel` in the run's rollout record unless it
    /// has an entry already: the stored entry, and whether it is ours. A
    /// run without a rollout record (from before it) keeps it in memory.
    async fn store(
        &self,
        run_id: &RunId,
        channel: &str,
        value: OwnerChannel,
    ) -> Result<(OwnerChannel, bool), DeliveryError> {
        for _ in 0..SWAP_TRIES {
            let Some(rollout) = self.ledger.rollout(run_id).await? else {
                return Ok((value, true));
            };
            if let Some(existing) = rollout.owner_channels.get(channel) {
                return Ok((existing.clone(), false));
            }
            let mut next = rollout.bumped();
            next.owner_channels
                .insert(channel.to_string(), value.clone());
            if self
                .ledger
                .swap_rollout(run_id, rollout.version, &next)
                .await?
            {
                return Ok((value, true));
            }
        }
        Err(DeliveryError::Contended)
    }
}
