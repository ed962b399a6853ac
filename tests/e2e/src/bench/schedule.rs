//! Replaying a restage schedule without any client overhead, to split a
//! measured makespan into what the scheduling policy costs and what the
//! client (polling, request latency) costs, and the policy's part into its
//! levers.
//!
//! The engine's policy (engine/slots.rs): at most C jobs at once, at most a
//! space's allowance at once in one space; a freed slot goes to the space
//! with the most expected work waiting per allowed restage, and within it
//! to its longest expected job (`LongestChain`; expected = the job's hints,
//! not the true duration the replay runs it for). `MostJobsLeft` is the
//! earlier policy (the space with the most jobs left, first come first
//! served within it), and `Fifo` first come, first served; with every
//! allowance 1 these are the engine as it was before quota awareness.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// One job to replay.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    pub space: &'a str,
    /// How long it keeps its slot.
    pub secs: f64,
    /// What the engine expected it to take (its hints), if anything.
    pub expected: Option<f64>,
    /// Restages at once its space allows (at least 1).
    pub allowance: usize,
}

/// How the next job to start is chosen when a slot frees up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The job that became ready first.
    Fifo,
    /// The space with the most jobs waiting; first come within it.
    MostJobsLeft,
    /// The space with the most expected work waiting per allowed restage;
    /// its longest expected job.
    LongestChain,
}

/// Makespan of `jobs` (in submission order) with `slots` at once.
pub fn makespan(jobs: &[Job<'_>], slots: usize, policy: Policy) -> f64 {
    let slots = slots.max(1);
    let known: Vec<f64> = jobs.iter().filter_map(|j| j.expected).collect();
    let unknown = if known.is_empty() {
        1.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    };
    let weight = |i: usize| jobs[i].expected.unwrap_or(unknown);
    // Per space: waiting jobs (in submission order), running count, allowance.
    let mut waiting: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut allowance: HashMap<&str, usize> = HashMap::new();
    for (i, j) in jobs.iter().enumerate() {
        if !waiting.contains_key(j.space) {
            order.push(j.space);
        }
        waiting.entry(j.space).or_default().push(i);
        let a = allowance.entry(j.space).or_insert(usize::MAX);
        *a = (*a).min(j.allowance.max(1));
    }
    if policy == Policy::LongestChain {
        for q in waiting.values_mut() {
            // Longest first; the stable sort keeps submission order among equals.
            q.sort_by(|&a, &b| weight(b).total_cmp(&weight(a)));
        }
    }
    let mut running: HashMap<&str, usize> = HashMap::new();
    let mut events: BinaryHeap<Reverse<(Ordered, usize)>> = BinaryHeap::new();
    let mut now = 0.0;
    let mut end: f64 = 0.0;
    loop {
        while events.len() < slots {
            let eligible = order.iter().copied().filter(|s| {
                waiting.get(s).is_some_and(|q| !q.is_empty())
                    && running.get(s).copied().unwrap_or(0) < allowance[s]
            });
            let pick = match policy {
                // The lowest index is the first job to have become ready:
                // all are submitted at once, each space in its own order.
                Policy::Fifo => eligible.min_by_key(|s| waiting[s][0]),
                Policy::MostJobsLeft => eligible.max_by(|a, b| {
                    waiting[a]
                        .len()
                        .cmp(&waiting[b].len())
                        .then(waiting[b][0].cmp(&waiting[a][0]))
                }),
                Policy::LongestChain => eligible.max_by(|a, b| {
                    let chain = |s: &str| {
                        waiting[s].iter().map(|&i| weight(i)).sum::<f64>() / allowance[s] as f64
                    };
                    chain(a)
                        .total_cmp(&chain(b))
                        .then(weight(waiting[a][0]).total_cmp(&weight(waiting[b][0])))
                        .then(waiting[b][0].cmp(&waiting[a][0]))
                }),
            };
            let Some(space) = pick else { break };
            let Some(q) = waiting.get_mut(space) else {
                break;
            };
            let job = q.remove(0);
            *running.entry(space).or_default() += 1;
            events.push(Reverse((Ordered(now + jobs[job].secs), job)));
        }
        let Some(Reverse((Ordered(t), job))) = events.pop() else {
            break;
        };
        now = t;
        end = end.max(t);
        if let Some(r) = running.get_mut(jobs[job].space) {
            *r -= 1;
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
            .map(|&(space, secs)| Job {
                space,
                secs,
                expected: Some(secs),
                allowance: 1,
            })
            .collect()
    }

    #[test]
    fn independent_spaces_pack_like_list_scheduling() {
        let j = jobs(&[("a", 10.0), ("b", 10.0), ("c", 10.0), ("d", 10.0)]);
        assert_eq!(makespan(&j, 2, Policy::Fifo), 20.0);
        assert_eq!(makespan(&j, 4, Policy::Fifo), 10.0);
    }

    #[test]
    fn one_space_runs_serially_unless_its_allowance_says_otherwise() {
        let mut j = jobs(&[("a", 10.0), ("a", 10.0), ("a", 10.0)]);
        assert_eq!(makespan(&j, 3, Policy::Fifo), 30.0);
        for job in &mut j {
            job.allowance = 2;
        }
        assert_eq!(makespan(&j, 3, Policy::Fifo), 20.0);
        assert_eq!(makespan(&j, 3, Policy::LongestChain), 20.0);
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
        assert_eq!(makespan(&j, 2, Policy::LongestChain), 30.0);
    }

    #[test]
    fn the_longest_chain_goes_first_by_work_not_by_count() {
        // By count, "a" (three short jobs) keeps going first and one of the
        // long singles starts last; by expected work it starts at 10 s.
        let j = jobs(&[
            ("a", 10.0),
            ("a", 10.0),
            ("a", 10.0),
            ("b", 25.0),
            ("c", 25.0),
        ]);
        assert_eq!(makespan(&j, 2, Policy::MostJobsLeft), 50.0);
        assert_eq!(makespan(&j, 2, Policy::LongestChain), 45.0);
        // It orders by what was expected, not by what happened.
        let mut wrong = j.clone();
        wrong[4].expected = Some(1.0);
        assert_eq!(makespan(&wrong, 2, Policy::LongestChain), 50.0);
    }
}
