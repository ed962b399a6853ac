//! Who restages next: at most `C` restages at once in this process, at most
//! a space's allowance at once in one space, and a freed slot to the job
//! that shortens the run most.
//!
//! - **The space's allowance** is how many rolling restages its quota holds
//!   at once (discovery reads the space's and org's quota and usage, see
//!   `discovery::quotas`, and the job carries the number); 1 without that
//!   reading, as restager always did, and never more than
//!   `RESTAGER_MAX_PER_SPACE`. A quota refusal in a space lowers its
//!   allowance for the rest of the run ([`Slots::lower`]): Cloud
//!   Controller's usage moved since discovery read it.
//! - **Longest chain first.** Jobs of a space wait for its allowance, so a
//!   busy space started late becomes a serial tail while other slots idle.
//!   A freed slot therefore goes to the space with the most expected work
//!   waiting per allowed restage, and within a space to its longest job
//!   (longest processing time first; replaying a 1,000-app run over 250
//!   spaces at C = 50 this ends about 1 % above the ideal bound, where
//!   busiest-space-by-count ended 5 % above and first come, first served
//!   16 %). Expected work comes from the job's hints (its last staging and
//!   rollout); a job without them counts as the average of those with
//!   them, so with no hints at all this is the busiest space by job count.
//!   Among equals it is first come, first served.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

/// The pool of restage slots; build one per process.
pub(crate) struct Slots {
    state: Arc<Mutex<State>>,
}

/// One job's claim: which space, what it may share, how long it should take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Want<'a> {
    pub run: &'a str,
    pub space: &'a str,
    /// Restages at once the job's space allows (already capped; at least 1).
    pub allowance: usize,
    /// Expected staging plus rollout; `None` when the app has no history.
    pub work: Option<Duration>,
}

/// A held slot; given back when dropped.
pub(crate) struct Slot {
    state: Arc<Mutex<State>>,
    space: String,
}

struct State {
    available: usize,
    spaces: HashMap<String, Space>,
    /// Lowered allowances, by (run, space), kept for the process's life.
    lowered: HashMap<(String, String), usize>,
    arrivals: u64,
    /// Expected work of the hinted jobs seen, to weigh those without hints.
    known: (u64, u64),
}

#[derive(Default)]
struct Space {
    running: usize,
    waiting: BinaryHeap<Waiter>,
    /// Sum of the waiting jobs' weights.
    weight: u64,
}

struct Waiter {
    weight: u64,
    arrival: u64,
    allowance: usize,
    run: String,
    grant: oneshot::Sender<()>,
}

impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Ordering {
        // Max-heap: the longest job first, then the earlier arrival.
        self.weight
            .cmp(&other.weight)
            .then_with(|| other.arrival.cmp(&self.arrival))
    }
}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Waiter {}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Nothing panics while holding it; a poisoned lock still holds valid counts.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    fn allowance(&self, run: &str, space: &str, asked: usize) -> usize {
        let lowered = self
            .lowered
            .get(&(run.to_string(), space.to_string()))
            .copied()
            .unwrap_or(usize::MAX);
        asked.min(lowered).max(1)
    }

    /// A weight for ordering, in milliseconds.
    fn weight(&mut self, work: Option<Duration>) -> u64 {
        match work {
            Some(w) => {
                let ms = u64::try_from(w.as_millis()).unwrap_or(u64::MAX).max(1);
                self.known.0 = self.known.0.saturating_add(ms);
                self.known.1 += 1;
                ms
            }
            None if self.known.1 > 0 => self.known.0 / self.known.1,
            None => 1,
        }
    }

    /// Hands free slots to the best waiters (see the module docs).
    fn dispatch(&mut self) {
        /// How a space ranks for the next slot, compared as a tuple.
        type Rank = (u128, u64, std::cmp::Reverse<u64>);
        while self.available > 0 {
            let mut best: Option<(&str, Rank)> = None;
            for (name, space) in self.spaces.iter_mut() {
                // Drop waiters whose job was cancelled while waiting.
                if space.waiting.iter().any(|w| w.grant.is_closed()) {
                    space.waiting.retain(|w| !w.grant.is_closed());
                    space.weight = space.waiting.iter().map(|w| w.weight).sum();
                }
                let Some(head) = space.waiting.peek() else {
                    continue;
                };
                let lowered = self
                    .lowered
                    .get(&(head.run.clone(), name.clone()))
                    .copied()
                    .unwrap_or(usize::MAX);
                let allowance = head.allowance.min(lowered).max(1);
                if space.running >= allowance {
                    continue;
                }
                // Waiting work per allowed restage, scaled to stay integral.
                let chain = u128::from(space.weight) * 1024 / allowance as u128;
                let key = (chain, head.weight, std::cmp::Reverse(head.arrival));
                if best.as_ref().is_none_or(|(_, k)| key > *k) {
                    best = Some((name.as_str(), key));
                }
            }
            let Some((name, _)) = best else {
                return;
            };
            let name = name.to_string();
            let Some(space) = self.spaces.get_mut(&name) else {
                return;
            };
            let Some(waiter) = space.waiting.pop() else {
                return;
            };
            space.weight = space.weight.saturating_sub(waiter.weight);
            if waiter.grant.send(()).is_ok() {
                space.running += 1;
                self.available -= 1;
            }
        }
    }

    fn release(&mut self, space: &str) {
        self.available += 1;
        if let Some(s) = self.spaces.get_mut(space) {
            s.running = s.running.saturating_sub(1);
            if s.running == 0 && s.waiting.is_empty() {
                self.spaces.remove(space);
            }
        }
        self.dispatch();
    }
}

/// A queued claim; if it is dropped after its grant arrived but before it
/// was taken, the slot goes back instead of leaking.
struct Pending {
    grant: oneshot::Receiver<()>,
    state: Arc<Mutex<State>>,
    space: String,
    taken: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.taken && self.grant.try_recv().is_ok() {
            lock(&self.state).release(&self.space);
        }
    }
}

impl Slots {
    /// At most `n` restages at once (at least 1).
    pub(crate) fn new(n: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                available: n.max(1),
                spaces: HashMap::new(),
                lowered: HashMap::new(),
                arrivals: 0,
                known: (0, 0),
            })),
        }
    }

    /// Waits until `want` may restage (see the module docs for the order).
    pub(crate) async fn acquire(&self, want: Want<'_>) -> Slot {
        let mut pending = {
            let mut s = lock(&self.state);
            let (grant, receiver) = oneshot::channel();
            s.arrivals += 1;
            let waiter = Waiter {
                weight: s.weight(want.work),
                arrival: s.arrivals,
                allowance: want.allowance.max(1),
                run: want.run.to_string(),
                grant,
            };
            let space = s.spaces.entry(want.space.to_string()).or_default();
            space.weight = space.weight.saturating_add(waiter.weight);
            space.waiting.push(waiter);
            s.dispatch();
            Pending {
                grant: receiver,
                state: Arc::clone(&self.state),
                space: want.space.to_string(),
                taken: false,
            }
        };
        // The sender only goes away unsent when the pool itself is dropped,
        // which cannot happen while `self` is borrowed.
        let _ = (&mut pending.grant).await;
        pending.taken = true;
        Slot {
            state: Arc::clone(&self.state),
            space: pending.space.clone(),
        }
    }

    /// Cloud Controller refused a restage of `space` on quota while `run`
    /// had restages there: from now on one fewer than were running (at
    /// least 1) for the rest of the run. Call it while the refused job
    /// still holds its slot.
    pub(crate) fn lower(&self, run: &str, space: &str) {
        let mut s = lock(&self.state);
        let running = s.spaces.get(space).map_or(1, |sp| sp.running);
        let now = s.allowance(run, space, usize::MAX).min(running);
        let lowered = now.saturating_sub(1).max(1);
        s.lowered
            .insert((run.to_string(), space.to_string()), lowered);
        tracing::info!(
            run,
            space,
            allowance = lowered,
            "quota refused a restage; fewer at once in this space for the rest of the run"
        );
    }

    /// The allowance `space` has in `run` given what its jobs asked for.
    #[cfg(test)]
    fn allowance(&self, run: &str, space: &str, asked: usize) -> usize {
        lock(&self.state).allowance(run, space, asked)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.state).release(&self.space);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::*;

    // The runtime is single-threaded (`#[tokio::test]`): spawned tasks all
    // claim their slots before any of them finishes its 5 ms, whatever the
    // machine's load.

    fn want<'a>(space: &'a str, allowance: usize, work_s: Option<u64>) -> Want<'a> {
        Want {
            run: "run",
            space,
            allowance,
            work: work_s.map(Duration::from_secs),
        }
    }

    /// Holds the only slot, queues `claims` in order, frees the slot and
    /// says in which order they were granted (each gives its slot back at
    /// once). Grants happen inside the release, so polling each claim once
    /// after it tells, without waiting on any clock.
    async fn run_order(claims: &[(&'static str, &'static str, usize, Option<u64>)]) -> Vec<String> {
        let slots = Slots::new(1);
        let held = slots.acquire(want("held", 1, None)).await;
        let mut queued: Vec<_> = claims
            .iter()
            .map(|&(name, space, allowance, work)| {
                (name, Box::pin(slots.acquire(want(space, allowance, work))))
            })
            .collect();
        for (name, claim) in &mut queued {
            assert!(futures::poll!(claim.as_mut()).is_pending(), "{name} waits");
        }
        drop(held);
        let mut ran = Vec::new();
        while !queued.is_empty() {
            let mut granted = None;
            for (i, (_, claim)) in queued.iter_mut().enumerate() {
                if let std::task::Poll::Ready(slot) = futures::poll!(claim.as_mut()) {
                    granted = Some((i, slot));
                    break;
                }
            }
            let (i, slot) = granted.expect("a freed slot is granted at once");
            ran.push(queued.remove(i).0.to_string());
            drop(slot);
        }
        ran
    }

    #[tokio::test]
    async fn never_more_than_n_at_once_nor_more_than_a_space_allows() {
        let slots = Arc::new(Slots::new(3));
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let in_a = Arc::new(AtomicUsize::new(0));
        let peak_a = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0u64..24)
            .map(|i| {
                let (slots, active, peak) = (slots.clone(), active.clone(), peak.clone());
                let (in_a, peak_a) = (in_a.clone(), peak_a.clone());
                tokio::spawn(async move {
                    let space = if i % 2 == 0 { "a" } else { "b" };
                    let _s = slots.acquire(want(space, 2, Some(i % 5))).await;
                    let now = active.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    if space == "a" {
                        let a = in_a.fetch_add(1, SeqCst) + 1;
                        peak_a.fetch_max(a, SeqCst);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    if space == "a" {
                        in_a.fetch_sub(1, SeqCst);
                    }
                    active.fetch_sub(1, SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(peak.load(SeqCst), 3);
        assert_eq!(peak_a.load(SeqCst), 2, "space a allows two");
        // Every slot came back.
        let all: Vec<Slot> =
            futures::future::join_all(["x", "y", "z"].map(|s| slots.acquire(want(s, 1, None))))
                .await;
        assert_eq!(all.len(), 3);
    }

    #[tokio::test]
    async fn without_hints_the_busiest_space_goes_first_then_first_come() {
        let ran = run_order(&[
            ("small", "s", 1, None),
            ("busy-1", "b", 1, None),
            ("busy-2", "b", 1, None),
            ("busy-3", "b", 1, None),
            ("medium-1", "m", 1, None),
            ("medium-2", "m", 1, None),
        ])
        .await;
        // One slot: b has 3 waiting; then b and m tie at 2 and b's next job
        // came first; then m has 2; then everyone has 1: first come first.
        assert_eq!(
            ran,
            [
                "busy-1", "busy-2", "medium-1", "small", "busy-3", "medium-2"
            ]
        );
    }

    #[tokio::test]
    async fn the_longest_chain_goes_first_and_within_a_space_the_longest_job() {
        let ran = run_order(&[
            ("short-space", "s", 1, Some(100)),
            ("long-a-short", "l", 1, Some(30)),
            ("long-a-long", "l", 1, Some(200)),
            ("pair-1", "p", 2, Some(150)),
            ("pair-2", "p", 2, Some(150)),
        ])
        .await;
        // Waiting work per allowed restage: l 230, p 300 / 2 = 150, s 100:
        // l first, with its longest job; then p 150, s 100, l 30; then
        // s 100, p 150 / 2 = 75, l 30; then p, then l.
        assert_eq!(
            ran,
            [
                "long-a-long",
                "pair-1",
                "short-space",
                "pair-2",
                "long-a-short"
            ]
        );
    }

    #[tokio::test]
    async fn a_job_without_hints_weighs_as_much_as_the_average() {
        let ran = run_order(&[
            ("known-100", "a", 1, Some(100)),
            ("known-300", "b", 1, Some(300)),
            ("unknown", "c", 1, None),
        ])
        .await;
        // The unknown job counts as 200: after b's 300, before a's 100.
        assert_eq!(ran, ["known-300", "unknown", "known-100"]);
    }

    #[tokio::test]
    async fn a_quota_refusal_lowers_the_space_for_the_rest_of_the_run() {
        let slots = Slots::new(4);
        let first = slots.acquire(want("a", 2, None)).await;
        let second = slots.acquire(want("a", 2, None)).await;
        assert_eq!(slots.allowance("run", "a", 2), 2);
        // The second was refused with two running: one at a time from now on.
        slots.lower("run", "a");
        assert_eq!(slots.allowance("run", "a", 2), 1);
        drop(second);
        let mut third = Box::pin(slots.acquire(want("a", 2, None)));
        assert!(
            futures::poll!(third.as_mut()).is_pending(),
            "one is still running in a"
        );
        drop(first);
        let again = third.await;
        // Other spaces and other runs keep theirs; never below 1.
        assert_eq!(slots.allowance("run", "b", 2), 2);
        assert_eq!(slots.allowance("other-run", "a", 2), 2);
        slots.lower("run", "a");
        assert_eq!(slots.allowance("run", "a", 2), 1);
        drop(again);
    }

    #[tokio::test]
    async fn an_abandoned_waiter_does_not_keep_its_slot_nor_its_weight() {
        let slots = Slots::new(1);
        let held = slots.acquire(want("a", 1, None)).await;
        // A long job waits, then its invocation is cancelled.
        let mut abandoned = Box::pin(slots.acquire(want("b", 1, Some(500))));
        assert!(futures::poll!(abandoned.as_mut()).is_pending());
        let mut next = Box::pin(slots.acquire(want("c", 1, Some(1))));
        assert!(futures::poll!(next.as_mut()).is_pending());
        drop(abandoned);
        drop(held);
        // The short job gets the slot: the abandoned one neither holds it
        // nor outweighs it any more.
        assert!(futures::poll!(next.as_mut()).is_ready());
    }

    #[tokio::test]
    async fn a_grant_to_a_waiter_dropped_before_it_ran_comes_back() {
        let slots = Slots::new(1);
        let held = slots.acquire(want("a", 1, None)).await;
        let mut waiter = Box::pin(slots.acquire(want("b", 1, None)));
        // Poll once so it queues, then grant it without letting it run.
        assert!(futures::poll!(waiter.as_mut()).is_pending());
        drop(held);
        drop(waiter);
        let mut next = Box::pin(slots.acquire(want("c", 1, None)));
        assert!(
            futures::poll!(next.as_mut()).is_ready(),
            "the granted slot was given back"
        );
    }
}
