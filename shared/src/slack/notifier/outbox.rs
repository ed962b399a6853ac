//! The outbox behind [`SlackNotifier`](super::SlackNotifier): its entries
//! (in order per run and lane), the delivery loop that picks the next one
//! each channel's pace and Slack's `Retry-After` allow, and what a delivery
//! attempt's result does to its entry. What a delivery sends is
//! `operators` (the run's thread) and `owners` (owners' channels).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::OutboxConfig;
use crate::domain::RunId;
use crate::ledger::{Ledger, RunRecord, RunView};
use crate::notify::NotifyError;
use crate::slack::api::{SlackApi, SlackApiError, SlackMessage};
use crate::slack::messages::ResultLine;

pub(super) enum Item {
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
    pub(super) fn weight(&self) -> usize {
        match self {
            Item::Results(lines) => lines.len().max(1),
            _ => 1,
        }
    }

    pub(super) fn snapshot(&self) -> Work {
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
pub(super) enum Work {
    Root(Box<RunRecord>),
    Results(Vec<ResultLine>),
    Summary(Box<RunView>),
    News(Box<SlackMessage>),
    OwnerUpdate,
}

/// Where an entry goes: the operators' channel (`SLACK_CHANNEL`, the run's
/// thread) or an owners' channel. Entries of one run and lane go in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Lane {
    Operators,
    Owners(String),
}

pub(super) struct Entry {
    pub(super) id: u64,
    pub(super) run_id: RunId,
    pub(super) lane: Lane,
    pub(super) item: Item,
    pub(super) created: Instant,
    pub(super) not_before: Instant,
    pub(super) attempts: u32,
    /// Out of attempts: waits for the next flush (or `set_aside_retry`).
    pub(super) parked: bool,
}

impl State {
    /// Nothing left that this flush can send: every entry is out of attempts
    /// or waits behind an older entry of its run and lane that is.
    pub(super) fn stalled(&self) -> bool {
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
pub(super) struct State {
    pub(super) entries: VecDeque<Entry>,
    pub(super) next_id: u64,
    pub(super) threads: HashMap<RunId, String>,
    /// The run's message in each owners' channel.
    pub(super) owner_threads: HashMap<(RunId, String), String>,
    /// Owners' channels Slack refused for a run: nothing more goes there.
    pub(super) refused: HashSet<(RunId, String)>,
    /// The last call on each channel, for pacing.
    pub(super) last_call: HashMap<String, Instant>,
    pub(super) paused_until: Option<Instant>,
    pub(super) flushing: u32,
    pub(super) delivered: u64,
    /// The entry being delivered right now.
    pub(super) delivering: Option<u64>,
}

pub(super) struct Shared {
    pub(super) api: SlackApi,
    pub(super) channel: String,
    pub(super) ledger: Arc<dyn Ledger>,
    pub(super) config: OutboxConfig,
    pub(super) state: Mutex<State>,
    pub(super) wake: Notify,
    /// Bumped after every delivery attempt so `flush` can re-check.
    pub(super) progress: watch::Sender<u64>,
}

pub(super) enum Pick {
    Deliver(u64, RunId, Lane, Work),
    WaitUntil(Instant),
    Idle,
}

/// How a delivery attempt went.
pub(super) enum Step {
    /// The entry's message is sent (for results: the lines it carried).
    Sent { lines: usize },
    /// A call was made on the entry's behalf (its run's root) but its own
    /// message is still to send.
    Progressed,
    /// Nothing to do after all (the root already exists).
    Nothing,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum DeliveryError {
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
    pub(super) fn is_permanent(&self) -> bool {
        matches!(self, DeliveryError::Api(e) if e.is_permanent())
    }
}

/// `Posted` means a call was just spent posting the root, so the caller's
/// own message waits for its turn.
pub(super) enum Thread {
    Known(String),
    Posted,
}

impl Shared {
    pub(super) fn push(&self, run_id: &RunId, lane: Lane, item: Item) -> Result<(), NotifyError> {
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

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across an await or a panic-prone call; a
        // poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) async fn run(self: Arc<Self>) {
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
    pub(super) fn pick(&self, now: Instant) -> Pick {
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

    pub(super) fn settle(
        &self,
        id: u64,
        run_id: &RunId,
        lane: &Lane,
        result: Result<Step, DeliveryError>,
    ) {
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
