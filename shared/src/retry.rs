//! The one retry policy: how long to wait before trying something again.
//!
//! Every back-off in restager is [`Backoff`]: `base · 2ⁿ⁻¹` before the n-th
//! retry, never more than `cap`, then jittered so that callers who failed
//! together do not come back together. Which jitter is a property of the
//! caller, not a second formula:
//!
//! | caller | base → cap | jitter | why |
//! |---|---|---|---|
//! | Cloud Controller requests (`cf::request`) | 250 ms → 8 s | [`Jitter::Equal`] | at least half the wait, so a retry never comes at once; a `Retry-After` wins ([`Backoff::after`]) |
//! | SQS batch resends (`queue::sqs`) | 200 ms → 6.4 s | [`Jitter::Full`] | parallel batches that failed together spread out |
//! | DynamoDB count conflicts (`ledger::dynamo::counting`) | 10 ms → 80 ms | [`Jitter::Equal`] | concurrent counters of one run step apart |
//! | redelivered jobs (`engine::batch`) | 30 s → 15 min | [`Jitter::None`] | the queue's visibility is the wait; it is reported and tested exactly |
//! | Slack messages (`slack::notifier`) | 500 ms → 30 s | [`Jitter::None`] | one outbox per channel, already paced one call at a time |
//!
//! Polling is not back-off but has the same need to spread: [`spread`] puts
//! a poll interval within ±20 % (`engine::restage`, `engine::poll`, whose
//! predicted waits also grow past their window but never beyond the poll
//! interval: a cadence, not a retry).

use std::time::Duration;

/// How a back-off delay is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// The delay as computed.
    None,
    /// Uniform in `[0, delay]` ("full jitter").
    Full,
    /// Uniform in `[delay / 2, delay]` ("equal jitter").
    Equal,
}

/// Exponential back-off with a cap and jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry (before jitter).
    pub base: Duration,
    /// The longest wait (before jitter).
    pub cap: Duration,
    pub jitter: Jitter,
}

/// Doublings past this change nothing but could overflow.
const MAX_DOUBLINGS: u32 = 20;

impl Backoff {
    /// `base` doubling up to `cap`, with full jitter.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            jitter: Jitter::Full,
        }
    }

    pub const fn with_jitter(self, jitter: Jitter) -> Self {
        Self { jitter, ..self }
    }

    /// The wait before retry `n` (1 for the first; 0 counts as 1):
    /// `base · 2ⁿ⁻¹`, at most `cap`, jittered.
    pub fn delay(&self, n: u32) -> Duration {
        let doublings = n.saturating_sub(1).min(MAX_DOUBLINGS);
        let exp = self.base.saturating_mul(1u32 << doublings).min(self.cap);
        match self.jitter {
            Jitter::None => exp,
            Jitter::Full => exp.mul_f64(fraction()),
            Jitter::Equal => {
                let half = exp / 2;
                half + half.mul_f64(fraction())
            }
        }
    }

    /// The wait before retry `n` when the server may have said how long to
    /// wait (`Retry-After`): its word, else [`delay`](Self::delay).
    pub fn after(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        retry_after.unwrap_or_else(|| self.delay(n))
    }
}

/// `d` within `±share` (0.2 = ±20 %), so many pollers do not poll in lockstep.
pub fn spread(d: Duration, share: f64) -> Duration {
    spread_by(d, share, fraction())
}

/// [`spread`] with its random fraction `draw` (in [0, 1)) given, for
/// callers that draw once for several waits or test exact values.
pub fn spread_by(d: Duration, share: f64, draw: f64) -> Duration {
    d.mul_f64(1.0 - share + 2.0 * share * draw)
}

/// A random fraction in [0, 1). Hash seeds are random per process and per
/// call, which is all jitter needs (no random-number crate).
pub fn fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = |n| {
            Backoff::new(Duration::from_secs(30), Duration::from_secs(900))
                .with_jitter(Jitter::None)
                .delay(n)
        };
        assert_eq!(b(1), Duration::from_secs(30));
        assert_eq!(b(2), Duration::from_secs(60));
        assert_eq!(b(4), Duration::from_secs(240));
        assert_eq!(b(9), Duration::from_secs(900));
        assert_eq!(b(0), Duration::from_secs(30));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let equal = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000))
            .with_jitter(Jitter::Equal);
        for _ in 0..20 {
            let first = equal.delay(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let late = equal.delay(30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn full_jitter_is_bounded_and_retry_after_wins() {
        let full = Backoff::new(Duration::from_millis(200), Duration::from_millis(6_400));
        for round in 0..=10 {
            assert!(full.delay(round) <= Duration::from_millis(6_400));
        }
        assert_eq!(
            full.after(3, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert!(full.after(1, None) <= Duration::from_millis(200));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for _ in 0..100 {
            let j = spread(Duration::from_millis(1000), 0.2);
            assert!(j >= Duration::from_millis(800) && j <= Duration::from_millis(1200));
        }
    }
}
