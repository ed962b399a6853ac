//! [`SlackNotifier`]: the Slack side of [`Notifier`], built on an outbox.
//!
//! Notifier calls only queue a message and return at once, so Slack being slow
//! or down never delays, fails or repeats a restage. A background task
//! delivers the outbox in order per run (root message, then threaded results,
//! then the summary edit), at most one call per `min_interval` on the channel
//! (Slack allows about one message a second per channel), waiting out
//! `Retry-After` on HTTP 429 and retrying transient failures with
//! exponential back-off. Results that arrive while a reply is waiting are
//! batched into that reply.
//!
//! Delivery guarantees, and what to call:
//! - Lambda freezes a function between invocations, background task
//!   included: call [`SlackNotifier::flush`] before returning from each
//!   invocation. It delivers what it can within its timeout.
//! - A message that still fails after `max_attempts` tries is logged at warn
//!   (with its run id, never the token) and kept for the next `flush`; a
//!   long-running process that never flushes tries it again after
//!   `set_aside_retry`. A message Slack refuses for good (bad token, unknown
//!   channel, rejected blocks) is logged at warn and dropped. The ledger
//!   keeps the truth either way; Slack is a view of it. The outbox lives in
//!   memory: if the process (or a frozen Lambda) is discarded before a
//!   successful flush, its undelivered messages are lost, never the results.
//! - Call `run_started` after the run is stored in the ledger: the root's
//!   `ts` is written there for other processes to thread under.
//! - Apps whose space names an owners' channel (`restager.io/slack-channel`)
//!   are also told there: one message per channel and run, posted once
//!   across processes (its `ts` kept in the run's rollout record) and
//!   updated in place, their results threaded under it (see `owners`).
//!   Each channel is its own lane, paced on its own; a 429 pauses every
//!   lane, as Slack's limits are the workspace's. A channel Slack refuses
//!   is recorded once, reported once in the operators' thread, and not
//!   tried again for the run; the operators' copy is never affected.
//! - The root message is posted once per run across processes: the ledger's
//!   `slack_thread` records it, and a short-lived ledger claim
//!   (`slack-root:<run>`) keeps two processes from posting it at once. Any
//!   process that needs the thread (a worker reporting a result) posts the
//!   root itself if nobody has.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::api::SlackApi;
use super::messages::result_line;
use super::news::news_message;
use super::owners::{advance_message, owner_channels};
use crate::domain::{Outcome, RestageJob, RunId};
use crate::ledger::{Ledger, RunRecord, RunView};
pub use crate::notify::FlushReport;
use crate::notify::RolloutNews;
use crate::notify::{Notifier, NotifyError, Upcoming};
use crate::retry::{Backoff, Jitter};

mod operators;
mod outbox;
mod owners;

use outbox::{Item, Lane, Shared, State};

/// Pacing and retry knobs. The defaults suit Slack; tests shrink them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Least time between two calls on the channel.
    pub min_interval: Duration,
    /// How long the first result of a reply waits for others to join it.
    pub batch_window: Duration,
    /// Tries per message per flush before it is set aside until the next flush.
    pub max_attempts: u32,
    /// A long-running process (no flushes) tries a set-aside message again
    /// this long after setting it aside.
    pub set_aside_retry: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a process may take to post a run's root before another may.
    pub root_claim_ttl: Duration,
    /// Result lines and messages held at most; beyond it new ones are dropped.
    pub max_pending: usize,
}

impl OutboxConfig {
    /// A failed message's wait: `backoff_base` doubling per attempt up to
    /// `backoff_max`, unjittered (the outbox already sends one call at a time).
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.backoff_base, self.backoff_max).with_jitter(Jitter::None)
    }
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(1),
            batch_window: Duration::from_millis(500),
            max_attempts: 5,
            set_aside_retry: Duration::from_secs(300),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            root_claim_ttl: Duration::from_secs(120),
            max_pending: 10_000,
        }
    }
}

/// Posts run progress to one Slack channel. Create it inside a Tokio runtime
/// (it spawns its delivery task); dropping it stops delivery.
pub struct SlackNotifier {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for SlackNotifier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SlackNotifier {
    pub fn new(
        api: SlackApi,
        channel: impl Into<String>,
        ledger: Arc<dyn Ledger>,
        config: OutboxConfig,
    ) -> Self {
        let (progress, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            api,
            channel: channel.into(),
            ledger,
            config,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            progress,
        });
        let task = tokio::spawn(Arc::clone(&shared).run());
        Self { shared, task }
    }

    /// Delivers the outbox for up to `timeout`. Messages set aside after
    /// failing get a fresh set of attempts. Returns when everything is sent,
    /// when all that is left has failed again, or at the timeout.
    pub async fn flush(&self, timeout: Duration) -> FlushReport {
        let deadline = Instant::now() + timeout;
        let mut progress = self.shared.progress.subscribe();
        let delivered_before = {
            let mut st = self.shared.lock();
            st.flushing += 1;
            let now = Instant::now();
            for e in st.entries.iter_mut() {
                e.parked = false;
                e.attempts = 0;
                e.not_before = now;
            }
            st.delivered
        };
        self.shared.wake.notify_one();
        loop {
            // Mark the current progress seen before looking, so a delivery
            // finishing in between still wakes the wait below.
            progress.borrow_and_update();
            if self.shared.lock().stalled() {
                break;
            }
            match tokio::time::timeout_at(deadline, progress.changed()).await {
                Ok(Ok(())) => continue,
                // Timed out, or the task is gone (cannot happen while `self` lives).
                _ => break,
            }
        }
        let mut st = self.shared.lock();
        st.flushing = st.flushing.saturating_sub(1);
        let pending = st.entries.len();
        if pending > 0 {
            let runs: HashSet<&str> = st.entries.iter().map(|e| e.run_id.as_str()).collect();
            let runs: Vec<&str> = runs.into_iter().collect();
            tracing::warn!(
                pending,
                runs = ?runs,
                "Slack messages not delivered by the end of this flush; kept for the next one"
            );
        }
        FlushReport {
            delivered: st.delivered - delivered_before,
            pending,
        }
    }

    /// Messages waiting in the outbox.
    pub fn pending(&self) -> usize {
        self.shared.lock().entries.len()
    }

    fn enqueue(&self, run_id: &RunId, item: Item) -> Result<(), NotifyError> {
        self.shared.push(run_id, Lane::Operators, item)
    }

    /// Tells an owners' channel, unless it is the operators' own (which
    /// has everything already) or Slack refused it for this run.
    fn enqueue_owners(&self, run_id: &RunId, channel: &str, item: Item) -> Result<(), NotifyError> {
        if channel == self.shared.channel {
            return Ok(());
        }
        let lane = Lane::Owners(channel.to_string());
        if self
            .shared
            .lock()
            .refused
            .contains(&(run_id.clone(), channel.to_string()))
        {
            return Ok(());
        }
        self.shared.push(run_id, lane, item)
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn run_started(&self, run: &RunRecord) -> Result<(), NotifyError> {
        if self.shared.lock().threads.contains_key(&run.run_id) {
            return Ok(());
        }
        self.enqueue(&run.run_id, Item::Root(Box::new(run.clone())))
    }

    async fn app_finished(&self, job: &RestageJob, outcome: &Outcome) -> Result<(), NotifyError> {
        let line = result_line(job, outcome);
        if let Some(channel) = &job.slack_channel {
            // The owners' copy; a full outbox there must not cost the operators theirs.
            let owners = self
                .enqueue_owners(&job.run_id, channel, Item::OwnerUpdate)
                .and_then(|()| {
                    self.enqueue_owners(&job.run_id, channel, Item::Results(vec![line.clone()]))
                });
            if let Err(e) = owners {
                tracing::warn!(run = %job.run_id, %channel, error = %e, "the owners' channel is not told this result");
            }
        }
        self.enqueue(&job.run_id, Item::Results(vec![line]))
    }

    async fn run_completed(&self, run: &RunView) -> Result<(), NotifyError> {
        let run_id = &run.record.run_id;
        for channel in owner_channels(&run.record, &self.shared.channel) {
            if let Err(e) = self.enqueue_owners(run_id, &channel, Item::OwnerUpdate) {
                tracing::warn!(run = %run_id, %channel, error = %e, "the owners' message is not brought up to date");
            }
        }
        self.enqueue(run_id, Item::Summary(Box::new(run.clone())))
    }

    async fn advance_notice(&self, run: &RunRecord, apps: &[Upcoming]) -> Result<(), NotifyError> {
        let channels: std::collections::BTreeSet<&str> = apps
            .iter()
            .filter_map(|a| a.slack_channel.as_deref())
            .collect();
        for channel in channels {
            if let Err(e) = self.enqueue_owners(&run.run_id, channel, Item::OwnerUpdate) {
                tracing::warn!(run = %run.run_id, %channel, error = %e, "the owners' channel is not given the advance notice");
            }
        }
        let message = advance_message(run, apps, &self.shared.channel);
        self.enqueue(&run.run_id, Item::News(Box::new(message)))
    }

    async fn rollout_changed(&self, run: &RunView, news: &RolloutNews) -> Result<(), NotifyError> {
        let message = news_message(run, news);
        self.enqueue(&run.record.run_id, Item::News(Box::new(message)))
    }

    async fn flush(&self, budget: Duration) -> FlushReport {
        SlackNotifier::flush(self, budget).await
    }

    fn pending(&self) -> usize {
        SlackNotifier::pending(self)
    }
}
