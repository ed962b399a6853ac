//! When Cloud Controller's deployment updater ticks, as this process has seen it.
//!
//! A rolling deployment moves (and finalizes) only when the updater runs:
//! one loop per foundation, started every `deployment_updater.
//! update_frequency_in_seconds` (cloud_controller_ng
//! `lib/cloud_controller/deployment_updater/scheduler.rb` sleeps the period
//! minus the loop's own duration; capi-release's default is 5 s). Polling a
//! deployment between two ticks can only see what the last tick did, so the
//! cheapest poll that sees a deployment's end comes just after a tick.
//!
//! CC does not say when it ticks, and its timestamps are whole seconds. But
//! every poll that sees a deployment finalized, after a poll that saw it
//! still going, brackets one tick: it became visible after the earlier
//! request was sent and before the later answer arrived. All deployments
//! share the one updater, so these brackets, taken modulo the period,
//! narrow down where in the period the ticks land. The estimate is an arc
//! of the period; it widens slowly with time (the loop drifts by its sleep's
//! overshoot, and by whole periods when a loop overruns), and a bracket
//! that contradicts it starts it afresh, so a wrong period configured, or a
//! foundation whose updater is not periodic, only ever leaves the poller on
//! its ordinary plan ([`crate::engine::poll`]).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Brackets in a row that agree before the estimate is used.
const AGREEING: u32 = 3;
/// Only an arc at most this share of the period is worth aiming at.
const USABLE_SHARE: f64 = 0.15;
/// The arc widens by this share of the time since it last narrowed.
const DRIFT_SHARE: f64 = 0.001;
/// A poll aims this share of the period after the arc's end.
const MARGIN_SHARE: f64 = 0.02;

/// A round trip's weight in the running mean of round trips.
const ROUND_TRIP_WEIGHT: f64 = 0.1;

/// The process's estimate of where the updater's ticks fall.
#[derive(Debug, Default)]
pub(crate) struct Beat(Mutex<Seen>);

#[derive(Debug, Default)]
struct Seen {
    arc: Option<Arc>,
    /// Running mean of a poll's round trip, seconds: an aimed poll reaches
    /// Cloud Controller about half of one after it is sent.
    round_trip: Option<f64>,
}

/// Ticks become visible within `[start, start + width]` modulo the period;
/// times are seconds since `origin`.
#[derive(Debug, Clone, Copy)]
struct Arc {
    origin: Instant,
    period: f64,
    start: f64,
    width: f64,
    agreeing: u32,
    narrowed_at: f64,
}

/// Where to aim polls: just after each tick becomes visible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ticks {
    /// One moment just after a tick; the others are whole periods away.
    after_one: Instant,
    pub period: Duration,
    /// How long after a tick became visible a poll sent at that moment
    /// reaches Cloud Controller, on average: half the arc (the tick may be
    /// anywhere in it), the margin, and half a round trip. What aiming costs
    /// in lateness, to weigh against the plain plan.
    pub lateness: Duration,
}

impl Ticks {
    #[cfg(test)]
    pub(crate) fn new(after_one: Instant, period: Duration, lateness: Duration) -> Self {
        Self {
            after_one,
            period,
            lateness,
        }
    }

    /// The first moment just after a tick that is not before `t`.
    pub(crate) fn first_after(&self, t: Instant) -> Instant {
        let p = self.period.as_secs_f64();
        if t <= self.after_one {
            let back = ((self.after_one - t).as_secs_f64() / p).floor();
            return self.after_one - self.period.mul_f64(back);
        }
        let ahead = ((t - self.after_one).as_secs_f64() / p).ceil();
        self.after_one + self.period.mul_f64(ahead)
    }
}

impl Beat {
    /// A tick (of an updater started every `period`) became visible after
    /// `asked` and before `answered`.
    pub(crate) fn bracket(&self, period: Duration, asked: Instant, answered: Instant) {
        let p = period.as_secs_f64();
        if p <= 0.0 || answered <= asked {
            return;
        }
        let mut seen = self.lock();
        let slot = &mut seen.arc;
        let fresh = |origin: Instant| Arc {
            origin,
            period: p,
            start: 0.0,
            width: (answered - asked).as_secs_f64(),
            agreeing: 1,
            narrowed_at: (answered - origin).as_secs_f64(),
        };
        let arc = match *slot {
            Some(a) if a.period == p && asked >= a.origin => a,
            _ => {
                *slot = Some(fresh(asked));
                return;
            }
        };
        let lo = (asked - arc.origin).as_secs_f64();
        let hi = (answered - arc.origin).as_secs_f64();
        if hi - lo >= p {
            return;
        }
        let widened = arc.widened(hi);
        *slot = Some(match widened.meet(lo, hi) {
            Some((start, width)) => Arc {
                start,
                width,
                agreeing: widened.agreeing + 1,
                narrowed_at: hi,
                ..widened
            },
            None => fresh(asked),
        });
    }

    /// A poll of a deployment took `took` from sent to answered.
    pub(crate) fn round_trip(&self, took: Duration) {
        let took = took.as_secs_f64();
        let mut seen = self.lock();
        seen.round_trip = Some(match seen.round_trip {
            Some(mean) => mean + ROUND_TRIP_WEIGHT * (took - mean),
            None => took,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // Plain numbers, each written whole; a panic elsewhere cannot tear them.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where to aim, if brackets agree on a narrow enough arc for an
    /// updater started every `period` (`None` for a zero period, which
    /// [`bracket`](Self::bracket) never records).
    pub(crate) fn ticks(&self, period: Duration, now: Instant) -> Option<Ticks> {
        let (arc, round_trip) = {
            let seen = self.lock();
            (seen.arc?, seen.round_trip.unwrap_or(0.0))
        };
        if arc.period != period.as_secs_f64() || arc.agreeing < AGREEING || now < arc.origin {
            return None;
        }
        let arc = arc.widened((now - arc.origin).as_secs_f64());
        if arc.width > USABLE_SHARE * arc.period {
            return None;
        }
        let margin = MARGIN_SHARE * arc.period;
        let after = (arc.start + arc.width + margin).rem_euclid(arc.period);
        Some(Ticks {
            after_one: arc.origin + Duration::from_secs_f64(after),
            period,
            lateness: Duration::from_secs_f64(arc.width / 2.0 + margin + round_trip / 2.0),
        })
    }
}

impl Arc {
    /// The arc as it stands at `at`, widened for drift on both sides.
    fn widened(self, at: f64) -> Self {
        let grow = DRIFT_SHARE * (at - self.narrowed_at).max(0.0);
        let width = (self.width + grow).min(self.period);
        Self {
            start: self.start - (width - self.width) / 2.0,
            width,
            ..self
        }
    }

    /// The part of the arc a tick seen in `(lo, hi)` leaves: `(start,
    /// width)`, or `None` if the bracket contradicts the arc. Where the
    /// bracket overlaps both ends of the arc, both are kept (as one arc
    /// spanning them: wider than the truth, never narrower).
    fn meet(&self, lo: f64, hi: f64) -> Option<(f64, f64)> {
        let p = self.period;
        // The bracket's offset from the arc's start, within one period.
        let d = (lo - self.start).rem_euclid(p);
        let len = hi - lo;
        let pieces = [(d, d + len), (d - p, d + len - p)]
            .into_iter()
            .map(|(a, b)| (a.max(0.0), b.min(self.width)))
            .filter(|(a, b)| a <= b)
            .collect::<Vec<_>>();
        let from = pieces.iter().map(|p| p.0).reduce(f64::min)?;
        let to = pieces.iter().map(|p| p.1).reduce(f64::max)?;
        Some((self.start + from, to - from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Duration = Duration::from_secs(5);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Ticks at 1.3 s + k·5 s after `t0`: a bracket around tick `k`.
    fn around(beat: &Beat, t0: Instant, k: u64, before: u64, after: u64) {
        let tick = t0 + ms(1300 + 5000 * k);
        beat.bracket(P, tick - ms(before), tick + ms(after));
    }

    /// Enough narrow brackets, around the first three ticks, to aim by.
    fn learned(beat: &Beat, t0: Instant) {
        for k in 0..3 {
            around(beat, t0, k, 100, 100);
        }
    }

    #[test]
    fn agreeing_brackets_pin_the_tick_down() {
        let beat = Beat::default();
        let t0 = Instant::now();
        around(&beat, t0, 0, 900, 300);
        assert_eq!(
            beat.ticks(P, t0 + ms(6000)),
            None,
            "one bracket is not enough"
        );
        around(&beat, t0, 3, 100, 1100);
        around(&beat, t0, 7, 400, 50);
        let ticks = beat.ticks(P, t0 + ms(40_000)).expect("narrow enough");
        // The arc is about 1.2–1.35 s into each period (widened a little for
        // drift): aim just past it.
        let aim = ticks.first_after(t0 + ms(40_000)) - t0;
        let offset = aim.as_secs_f64() % 5.0;
        assert!((1.35..1.7).contains(&offset), "{offset}");
        assert!(aim >= ms(40_000) && aim < ms(45_000), "{aim:?}");
        // The brackets leave 1.2–1.35 s: on average a tick is half of that
        // arc before its end, and the aim a margin of 0.1 s after it.
        let late = ticks.lateness.as_secs_f64();
        assert!((0.17..0.2).contains(&late), "{late}");
        // An aimed poll reaches CC half a round trip after it is sent.
        beat.round_trip(ms(400));
        beat.round_trip(ms(600));
        let ticks = beat.ticks(P, t0 + ms(40_000)).expect("still narrow");
        let slower = ticks.lateness.as_secs_f64() - late;
        assert!((slower - 0.21).abs() < 0.001, "{slower}");
    }

    #[test]
    fn a_contradicting_bracket_starts_afresh() {
        let beat = Beat::default();
        let t0 = Instant::now();
        for k in [0, 2, 3] {
            around(&beat, t0, k, 200, 200);
        }
        assert!(beat.ticks(P, t0 + ms(17_000)).is_some());
        // The updater moved (a loop overran): a tick 2.5 s off the arc.
        let moved = t0 + ms(1300 + 5000 * 4 + 2500);
        beat.bracket(P, moved - ms(100), moved + ms(100));
        assert_eq!(beat.ticks(P, t0 + ms(23_000)), None);
        for k in 1..3 {
            let tick = moved + k * P;
            beat.bracket(P, tick - ms(100), tick + ms(100));
        }
        let ticks = beat.ticks(P, t0 + ms(35_000)).expect("relearned");
        let offset = (ticks.first_after(t0 + ms(35_000)) - t0).as_secs_f64() % 5.0;
        assert!((3.8..4.1).contains(&offset), "{offset}");
    }

    #[test]
    fn wide_or_foreign_brackets_teach_nothing() {
        let beat = Beat::default();
        let t0 = Instant::now();
        for k in 0..3 {
            around(&beat, t0, k, 3000, 2500);
        }
        // A bracket as wide as the period says nothing of where the tick was.
        assert_eq!(beat.ticks(P, t0 + ms(17_000)), None);
        let beat = Beat::default();
        learned(&beat, t0);
        assert!(beat.ticks(P, t0 + ms(12_000)).is_some());
        // Asked about another period: nothing is known of it; a zero
        // period (aiming off) is never recorded nor answered.
        assert_eq!(beat.ticks(ms(30_000), t0 + ms(12_000)), None);
        beat.bracket(Duration::ZERO, t0, t0 + ms(100));
        assert_eq!(beat.ticks(Duration::ZERO, t0 + ms(12_000)), None);
        assert!(beat.ticks(P, t0 + ms(12_000)).is_some());
    }

    #[test]
    fn the_estimate_widens_until_it_is_no_longer_worth_aiming_at() {
        let beat = Beat::default();
        let t0 = Instant::now();
        learned(&beat, t0);
        assert!(beat.ticks(P, t0 + ms(12_000)).is_some());
        // 0.1 % of the time since: 0.99 s of drift allowed after 990 s,
        // wider than the 0.75 s worth aiming at.
        assert!(beat.ticks(P, t0 + ms(1_000_000)).is_none());
    }

    #[test]
    fn first_after_steps_in_whole_periods_both_ways() {
        let t0 = Instant::now() + ms(100_000);
        let ticks = Ticks::new(t0, P, Duration::ZERO);
        assert_eq!(ticks.first_after(t0), t0);
        assert_eq!(ticks.first_after(t0 + ms(1)), t0 + P);
        assert_eq!(ticks.first_after(t0 - ms(1)), t0);
        assert_eq!(ticks.first_after(t0 - ms(5001)), t0 - P);
        assert_eq!(ticks.first_after(t0 + ms(12_000)), t0 + 3 * P);
    }
}
