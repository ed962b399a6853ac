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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::api::SlackMessage;
use super::api::{SlackApi, SlackApiError};
use super::messages::{ResultLine, pack_replies, result_line, root_message, summary_message};
use super::news::news_message;
use super::owners::{advance_message, owner_channels};
use crate::domain::{Outcome, RestageJob, RunId};
use crate::ledger::{Ledger, RunRecord, RunView};
pub use crate::notify::FlushReport;
use crate::notify::RolloutNews;
use crate::notify::{Notifier, NotifyError, Upcoming};
use crate::retry::{Backoff, Jitter};

mod owners;

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

impl Shared {
    fn push(&self, run_id: &RunId, lane: Lane, item: Item) -> Result<(), NotifyError> {
        {
            let mut st = self.lock();
            let held: usize = st.entries.iter().map(|e| e.item.weight()).sum();
            if held + item.weight() > self.config.max_pending {
                tracing::warn!(run = %run_id, held, "Slack outbox is full; message dropped");
                return Err(NotifyError::Unavailable(format!(
                    "Slack outbox holds {held} undelivered items; is Slack reachable? (results stay in the ledger)"
                )));
            }
            let now = Instant::now();
            // Where a new entry goes: last, except that a result reported
            // after the run's summary was queued (another worker completed
            // the run first) goes before that summary, which stays the
            // run's last word.
            let mut at = st.entries.len();
            if let Item::Results(new_lines) = &item {
                // Only the lane's own entries: an owners' lane has no summary.
                let mine: Vec<usize> = (0..st.entries.len())
                    .filter(|&i| &st.entries[i].run_id == run_id && st.entries[i].lane == lane)
                    .collect();
                let mut candidates = mine.iter().rev();
                let mut last = candidates.next().copied();
                if let Some(i) = last
                    && matches!(st.entries[i].item, Item::Summary(_))
                {
                    at = i;
                    last = candidates.next().copied();
                }
                // Join the lane's waiting reply rather than posting another.
                if let Some(Entry {
                    item: Item::Results(lines),
                    ..
                }) = last.and_then(|i| st.entries.get_mut(i))
                {
                    lines.extend(new_lines.iter().cloned());
                    drop(st);
                    self.wake.notify_one();
                    return Ok(());
                }
            }
            if matches!(item, Item::OwnerUpdate) {
                // One waiting update shows every result recorded before it
                // is sent (it renders from the ledger then).
                let delivering = st.delivering;
                let waiting = st.entries.iter().any(|e| {
                    &e.run_id == run_id
                        && e.lane == lane
                        && matches!(e.item, Item::OwnerUpdate)
                        && Some(e.id) != delivering
                });
                if waiting {
                    return Ok(());
                }
            }
            let id = st.next_id;
            st.next_id += 1;
            st.entries.insert(
                at,
                Entry {
                    id,
                    run_id: run_id.clone(),
                    lane,
                    item,
                    created: now,
                    not_before: now,
                    attempts: 0,
                    parked: false,
                },
            );
        }
        self.wake.notify_one();
        Ok(())
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

enum Item {
    Root(Box<RunRecord>),
    Results(Vec<ResultLine>),
    Summary(Box<RunView>),
    /// A threaded message about the run's course, built when it happened.
    News(Box<SlackMessage>),
    /// Post or update the run's message in an owners' channel, rendered
    /// from the ledger when sent.
    OwnerUpdate,
}

impl Item {
    fn weight(&self) -> usize {
        match self {
            Item::Results(lines) => lines.len().max(1),
            _ => 1,
        }
    }

    fn snapshot(&self) -> Work {
        match self {
            Item::Root(r) => Work::Root(r.clone()),
            Item::Results(lines) => Work::Results(lines.clone()),
            Item::Summary(v) => Work::Summary(v.clone()),
            Item::News(m) => Work::News(m.clone()),
            Item::OwnerUpdate => Work::OwnerUpdate,
        }
    }
}

/// A copy of an entry's content, delivered without holding the lock.
enum Work {
    Root(Box<RunRecord>),
    Results(Vec<ResultLine>),
    Summary(Box<RunView>),
    News(Box<SlackMessage>),
    OwnerUpdate,
}

/// Where an entry goes: the operators' channel (`SLACK_CHANNEL`, the run's
/// thread) or an owners' channel. Entries of one run and lane go in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Lane {
    Operators,
    Owners(String),
}

struct Entry {
    id: u64,
    run_id: RunId,
    lane: Lane,
    item: Item,
    created: Instant,
    not_before: Instant,
    attempts: u32,
    /// Out of attempts: waits for the next flush (or `set_aside_retry`).
    parked: bool,
}

impl State {
    /// Nothing left that this flush can send: every entry is out of attempts
    /// or waits behind an older entry of its run and lane that is.
    fn stalled(&self) -> bool {
        let mut stuck: HashSet<(&RunId, &Lane)> = HashSet::new();
        for e in &self.entries {
            if e.parked {
                stuck.insert((&e.run_id, &e.lane));
            } else if !stuck.contains(&(&e.run_id, &e.lane)) {
                return false;
            }
        }
        true
    }
}

#[derive(Default)]
struct State {
    entries: VecDeque<Entry>,
    next_id: u64,
    threads: HashMap<RunId, String>,
    /// The run's message in each owners' channel.
    owner_threads: HashMap<(RunId, String), String>,
    /// Owners' channels Slack refused for a run: nothing more goes there.
    refused: HashSet<(RunId, String)>,
    /// The last call on each channel, for pacing.
    last_call: HashMap<String, Instant>,
    paused_until: Option<Instant>,
    flushing: u32,
    delivered: u64,
    /// The entry being delivered right now.
    delivering: Option<u64>,
}

struct Shared {
    api: SlackApi,
    channel: String,
    ledger: Arc<dyn Ledger>,
    config: OutboxConfig,
    state: Mutex<State>,
    wake: Notify,
    /// Bumped after every delivery attempt so `flush` can re-check.
    progress: watch::Sender<u64>,
}

enum Pick {
    Deliver(u64, RunId, Lane, Work),
    WaitUntil(Instant),
    Idle,
}

/// How a delivery attempt went.
enum Step {
    /// The entry's message is sent (for results: the lines it carried).
    Sent { lines: usize },
    /// A call was made on the entry's behalf (its run's root) but its own
    /// message is still to send.
    Progressed,
    /// Nothing to do after all (the root already exists).
    Nothing,
}

#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Api(#[from] SlackApiError),
    #[error("ledger: {0}")]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error("the run's root message is being posted by another process")]
    RootClaimed,
    #[error("the run is not in the ledger, so its root message cannot be posted")]
    RunUnknown,
    /// Slack refused the owners' channel for this run (recorded and
    /// reported once): the lane's entries are dropped.
    #[error("Slack refused the owners' channel {channel} for this run ({error})")]
    ChannelRefused { channel: String, error: String },
    #[error("the run's rollout record kept changing while the owners' message was recorded")]
    Contended,
}

impl DeliveryError {
    fn is_permanent(&self) -> bool {
        matches!(self, DeliveryError::Api(e) if e.is_permanent())
    }
}

/// `Posted` means a call was just spent posting the root, so the caller's
/// own message waits for its turn.
enum Thread {
    Known(String),
    Posted,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across an await or a panic-prone call; a
        // poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(self: Arc<Self>) {
        loop {
            let pick = self.pick(Instant::now());
            match pick {
                Pick::Deliver(id, run_id, lane, work) => {
                    self.lock().delivering = Some(id);
                    let result = match &lane {
                        Lane::Operators => self.deliver(&run_id, work).await,
                        Lane::Owners(channel) => self.deliver_owners(&run_id, channel, work).await,
                    };
                    self.settle(id, &run_id, &lane, result);
                    self.progress.send_modify(|n| *n += 1);
                }
                Pick::WaitUntil(at) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                Pick::Idle => self.wake.notified().await,
            }
        }
    }

    /// The channel a lane posts in.
    fn channel_of<'a>(&'a self, lane: &'a Lane) -> &'a str {
        match lane {
            Lane::Operators => &self.channel,
            Lane::Owners(channel) => channel,
        }
    }

    /// The next entry to send: the first ready one whose run and lane have
    /// nothing older waiting, at most one call per `min_interval` on each
    /// channel and none while Slack asked us to wait.
    fn pick(&self, now: Instant) -> Pick {
        let st = self.lock();
        let paused = st.paused_until.unwrap_or(now).max(now);
        let mut seen: HashSet<(&RunId, &Lane)> = HashSet::new();
        let mut earliest: Option<Instant> = None;
        for e in &st.entries {
            if !seen.insert((&e.run_id, &e.lane)) {
                continue;
            }
            let paced = st
                .last_call
                .get(self.channel_of(&e.lane))
                .map_or(paused, |last| paused.max(*last + self.config.min_interval));
            let mut ready_at = e.not_before;
            if matches!(e.item, Item::Results(_)) && st.flushing == 0 && !e.parked {
                ready_at = ready_at.max(e.created + self.config.batch_window);
            }
            let ready_at = ready_at.max(paced);
            if ready_at <= now {
                return Pick::Deliver(e.id, e.run_id.clone(), e.lane.clone(), e.item.snapshot());
            }
            earliest = Some(earliest.map_or(ready_at, |t: Instant| t.min(ready_at)));
        }
        match earliest {
            Some(at) => Pick::WaitUntil(at),
            None => Pick::Idle,
        }
    }

    async fn deliver(&self, run_id: &RunId, work: Work) -> Result<Step, DeliveryError> {
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

    fn settle(&self, id: u64, run_id: &RunId, lane: &Lane, result: Result<Step, DeliveryError>) {
        let now = Instant::now();
        let channel = self.channel_of(lane).to_string();
        let mut st = self.lock();
        st.delivering = None;
        let Some(pos) = st.entries.iter().position(|e| e.id == id) else {
            return;
        };
        match result {
            Ok(step) => {
                if !matches!(step, Step::Nothing) {
                    st.last_call.insert(channel, now);
                    st.delivered += 1;
                }
                let done = match (&mut st.entries[pos].item, step) {
                    (_, Step::Progressed) => false,
                    (Item::Results(lines), Step::Sent { lines: sent }) => {
                        lines.drain(..sent.min(lines.len()));
                        lines.is_empty()
                    }
                    _ => true,
                };
                if done {
                    st.entries.remove(pos);
                } else {
                    let e = &mut st.entries[pos];
                    e.attempts = 0;
                    e.not_before = now;
                }
            }
            Err(DeliveryError::Api(SlackApiError::RateLimited { retry_after, .. })) => {
                // Applies to every channel (Slack's limits are the
                // workspace's), and does not use up attempts.
                st.last_call.insert(channel, now);
                st.paused_until = Some(now + retry_after);
                tracing::info!(run = %run_id, ?retry_after, "Slack rate limit; waiting as asked");
            }
            Err(DeliveryError::ChannelRefused { channel, error }) => {
                st.last_call.insert(channel.clone(), now);
                st.entries
                    .retain(|e| !(&e.run_id == run_id && &e.lane == lane));
                tracing::warn!(run = %run_id, %channel, %error, "Slack refused the owners' channel; nothing more goes there for this run (the operators' thread has it all)");
                st.refused.insert((run_id.clone(), channel));
            }
            Err(e) if e.is_permanent() => {
                st.last_call.insert(channel, now);
                st.entries.remove(pos);
                tracing::warn!(run = %run_id, error = %e, "Slack refused a run message; dropped (the ledger still has the results)");
            }
            Err(e) => {
                if matches!(e, DeliveryError::Api(_)) {
                    st.last_call.insert(channel, now);
                }
                let max_attempts = self.config.max_attempts;
                let delay = self.config.backoff().delay(st.entries[pos].attempts + 1);
                let entry = &mut st.entries[pos];
                entry.attempts += 1;
                if entry.attempts >= max_attempts {
                    entry.parked = true;
                    entry.not_before = now + self.config.set_aside_retry;
                    tracing::warn!(run = %run_id, attempts = entry.attempts, error = %e, "Slack message not delivered; kept for the next flush");
                } else {
                    entry.not_before = now + delay;
                    tracing::debug!(run = %run_id, error = %e, ?delay, "Slack message failed; retrying");
                }
            }
        }
    }
}
