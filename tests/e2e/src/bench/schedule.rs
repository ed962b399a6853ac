//! Replaying a restage schedule without any client overhead, to split a
//! measured makespan into what the scheduling policy costs and what the
//! client (polling, request latency) costs.
//!
//! The engine's policy (engine/batch.rs, engine/permits.rs): every job of a
//! batch first takes its space's lock (FIFO per space), then waits for one
//! of C permits; a freed permit goes to the waiting space with the most jobs
//! left (`MostJobsLeft`). When a job ends it gives back its permit, then its
//! space lock, so the space's next job joins the permit queue. `Fifo` is the
//! plain first-come-first-served alternative, for comparison.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

/// One job to replay: its space and how long it keeps a permit.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    pub space: &'a str,
    pub secs: f64,
}

/// How the next job to start is chosen when a permit frees up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Spaces queue for permits in the order their next job became ready
    /// (first come, first served).
    Fifo,
    /// Among spaces with a job ready, the one with the most jobs left
    /// (the engine's policy: it knows job counts, not durations).
    MostJobsLeft,
}

/// Makespan of `jobs` (in submission order) with `permits` at once, one job
/// at a time per space.
pub fn makespan(jobs: &[Job<'_>], permits: usize, policy: Policy) -> f64 {
    let permits = permits.max(1);
    // Per space: its jobs in submission order.
    let mut per_space: HashMap<&str, VecDeque<usize>> = HashMap::new();
    let mut first_seen: Vec<&str> = Vec::new();
    for (i, j) in jobs.iter().enumerate() {
        let q = per_space.entry(j.space).or_default();
        if q.is_empty() && !first_seen.contains(&j.space) {
            first_seen.push(j.space);
        }
        q.push_back(i);
    }
    // Spaces whose head job holds the lock and waits for a permit.
    let mut ready: VecDeque<&str> = first_seen.into_iter().collect();
    let mut running: BinaryHeap<Reverse<(Ordered, usize)>> = BinaryHeap::new();
    let mut now = 0.0;
    let mut end: f64 = 0.0;
    loop {
        while running.len() < permits {
            let pick = match policy {
                Policy::Fifo => ready.pop_front(),
                Policy::MostJobsLeft => {
                    let best = ready
                        .iter()
                        .enumerate()
                        .max_by_key(|(pos, s)| {
                            (per_space.get(*s).map_or(0, VecDeque::len), Reverse(*pos))
                        })
                        .map(|(pos, _)| pos);
                    best.and_then(|pos| ready.remove(pos))
                }
            };
            let Some(space) = pick else { break };
            let Some(job) = per_space.get_mut(space).and_then(VecDeque::pop_front) else {
                continue;
            };
            running.push(Reverse((Ordered(now + jobs[job].secs), job)));
        }
        let Some(Reverse((Ordered(t), job))) = running.pop() else {
            break;
        };
        now = t;
        end = end.max(t);
        let space = jobs[job].space;
        if per_space.get(space).is_some_and(|q| !q.is_empty()) {
            ready.push_back(space);
        }
    }
    end
}

/// f64 ordered totally, for the event heap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ordered(f64);

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs<'a>(spec: &[(&'a str, f64)]) -> Vec<Job<'a>> {
        spec.iter()
            .map(|&(space, secs)| Job { space, secs })
            .collect()
    }

    #[test]
    fn independent_spaces_pack_like_list_scheduling() {
        let j = jobs(&[("a", 10.0), ("b", 10.0), ("c", 10.0), ("d", 10.0)]);
        assert_eq!(makespan(&j, 2, Policy::Fifo), 20.0);
        assert_eq!(makespan(&j, 4, Policy::Fifo), 10.0);
    }

    #[test]
    fn one_space_runs_serially() {
        let j = jobs(&[("a", 10.0), ("a", 10.0), ("a", 10.0)]);
        assert_eq!(makespan(&j, 3, Policy::Fifo), 30.0);
    }

    #[test]
    fn busy_spaces_first_shortens_the_tail() {
        // Space "a" has three jobs; FIFO starts it as late as the singles.
        let j = jobs(&[
            ("b", 10.0),
            ("c", 10.0),
            ("a", 10.0),
            ("a", 10.0),
            ("a", 10.0),
        ]);
        assert_eq!(makespan(&j, 2, Policy::Fifo), 40.0);
        assert_eq!(makespan(&j, 2, Policy::MostJobsLeft), 30.0);
    }
}
