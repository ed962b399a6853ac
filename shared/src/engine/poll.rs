//! When to look at a build or a deployment next.
//!
//! Cloud Controller has no watch API, so a phase's end is seen at the first
//! poll after it: on a fixed beat that is half an interval late on average,
//! and a long phase costs one request per interval. With an expectation of
//! how long the phase takes (the app's own history, from the job's
//! [`ScheduleHints`]), the poller instead sleeps until shortly before the
//! phase is likely to end, polls at a short interval across the window where
//! it most likely ends (at most three tenths of the fixed interval apart),
//! and past that window widens its polls back to the fixed interval. Without
//! an expectation it polls on the fixed beat, as restager always did. Every
//! wait keeps its jitter, so workers never poll in lockstep.
//!
//! How wide the window is comes from [`Calibration`]: the errors of this
//! process's earlier expectations (observed ÷ expected, on a log scale),
//! which also correct a bias (a new buildpack version that stages slower
//! than the last one did for every app). Until enough restages have ended
//! it assumes a wide window (±25 %, widened to two spreads either side).
//!
//! The shape was chosen by simulating log-normal phase lengths against it:
//! starting the short polls two spreads early, at a fifth of a spread's
//! width, sees the end within about a quarter of the fixed interval at
//! spreads up to 15 % for fewer requests than the fixed beat for phases
//! longer than a few intervals.
//!
//! [`ScheduleHints`]: crate::domain::ScheduleHints

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::beat::{Beat, Ticks};
use crate::retry;

/// Polls on the fixed beat come every interval ±20 %.
const FIXED_SPREAD: f64 = 0.2;
/// The window of likely ends is this many spreads either side of the expectation.
const WINDOW_SPREADS: f64 = 2.0;
/// Short polls are this share of one spread's width of the expectation ...
const SHORT_SHARE_OF_SPREAD: f64 = 0.2;
/// ... but never closer than this share of the fixed interval, so a very
/// confident expectation cannot turn into a burst of requests ...
const SHORT_FLOOR_SHARE: f64 = 0.1;
/// ... nor farther apart than this share of it: an operator who shortens
/// the interval asks to see ends sooner, and gets that in the window too.
/// (Measured in the bench at a 3 s interval: 0.3 instead of 0.5 saw builds'
/// ends 0.26 s sooner for 9 more requests a restage, 42 against 80 on the
/// fixed beat; at 10 s the spread's share is the smaller, so nothing moves.)
const SHORT_CEILING_SHARE: f64 = 0.3;
/// Past the window each poll waits this much longer, up to the fixed interval.
const PAST_WINDOW_GROWTH: f64 = 1.5;
/// The sleep to the window is shortened by up to this share (jitter that
/// never makes the first look later than the window's start).
const FIRST_SLEEP_JITTER: f64 = 0.05;
/// A poll aimed just after an updater tick comes up to this share of the
/// updater's period later, so workers aiming at one tick do not arrive at once.
const AIMED_JITTER: f64 = 0.04;

/// How long a phase is expected to take and how sure that is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Expectation {
    pub expected: Duration,
    /// The standard deviation of ln(observed / expected).
    pub spread: f64,
}

impl Expectation {
    fn at(&self, spreads: f64) -> Duration {
        self.expected.mul_f64((spreads * self.spread).exp())
    }
}

/// The waits between polls of one phase.
#[derive(Debug, Clone)]
pub(crate) struct PollPlan {
    interval: Duration,
    expectation: Option<Expectation>,
    /// The next wait once past the window.
    past_window: Option<Duration>,
    /// Where the deployment updater ticks, for a rollout watched by its
    /// expectation: its polls in and past the window are aimed just after
    /// a tick, the only moments its state can have changed.
    ticks: Option<Ticks>,
}

impl PollPlan {
    /// `interval` is `RESTAGER_POLL_INTERVAL`; `expectation` `None` polls on
    /// that beat.
    pub(crate) fn new(interval: Duration, expectation: Option<Expectation>) -> Self {
        Self {
            interval,
            expectation: expectation.filter(|e| !e.expected.is_zero()),
            past_window: None,
            ticks: None,
        }
    }

    /// Aims the next polls just after the updater's `ticks` (a rollout's
    /// plan; taken afresh before each poll, as the estimate moves). Only a
    /// plan with an expectation is aimed: polls on the fixed beat keep
    /// bracketing ticks for [`Beat`] to learn from.
    pub(crate) fn aim(&mut self, ticks: Option<Ticks>) {
        self.ticks = ticks.filter(|_| self.expectation.is_some());
    }

    /// The wait before the next poll, `elapsed` after the phase started.
    pub(crate) fn next(&mut self, elapsed: Duration) -> Duration {
        self.next_at(elapsed, Instant::now(), retry::fraction())
    }

    /// [`next`](Self::next) at `now`, aimed at the updater's ticks where
    /// the plan has them: the wait becomes the time to the first moment
    /// just after a tick that is no sooner than the plain wait less one
    /// period (and than the short floor): an aimed plan polls at most once
    /// a tick, and no later than a plain wait that is longer than a period.
    ///
    /// The sleep to the window is always aimed. A poll in or past the
    /// window is aimed only where that sees the end no later, on average,
    /// than the plain wait would (half of it): an aimed poll reaches Cloud
    /// Controller the ticks' [`lateness`](Ticks::lateness) after a tick,
    /// plus half its jitter. Where the estimate is that sharp aiming sees
    /// ends sooner for fewer requests; where it is not (round trips long
    /// against the short polls blur every bracket and delay every aimed
    /// poll), the short polls stay as they are. Measured in the bench at a
    /// 3 s interval: with round trips of about 0.4 modelled s, aiming every
    /// short poll saw deployments' ends 0.06 s later; with about 0.2 s,
    /// 0.05 s sooner, for 13 % fewer requests.
    pub(crate) fn next_at(&mut self, elapsed: Duration, now: Instant, draw: f64) -> Duration {
        let before_window = self.is_before_window(elapsed);
        let plain = self.next_with(elapsed, draw);
        let Some(ticks) = self.ticks else {
            return plain;
        };
        let aimed_late = ticks.lateness + ticks.period.mul_f64(AIMED_JITTER / 2.0);
        if !before_window && aimed_late >= plain / 2 {
            return plain;
        }
        let earliest = if before_window {
            plain
        } else {
            plain
                .saturating_sub(ticks.period)
                .max(self.interval.mul_f64(SHORT_FLOOR_SHARE))
        };
        let aim = ticks.first_after(now + earliest);
        (aim - now) + ticks.period.mul_f64(AIMED_JITTER * draw)
    }

    fn is_before_window(&self, elapsed: Duration) -> bool {
        self.expectation
            .is_some_and(|e| elapsed + self.short(&e) < e.at(-WINDOW_SPREADS))
    }

    /// [`next`](Self::next) with the jitter's random fraction `draw` in [0, 1).
    pub(crate) fn next_with(&mut self, elapsed: Duration, draw: f64) -> Duration {
        let jittered = |d: Duration| retry::spread_by(d, FIXED_SPREAD, draw);
        let Some(e) = self.expectation else {
            return jittered(self.interval);
        };
        let short = self.short(&e);
        let opens = e.at(-WINDOW_SPREADS);
        if elapsed + short < opens {
            // One sleep to just before the window: no request would see an end here.
            return (opens - elapsed).mul_f64(1.0 - FIRST_SLEEP_JITTER * draw);
        }
        if elapsed < e.at(WINDOW_SPREADS) {
            return jittered(short);
        }
        // Later than expected: widen the polls towards the fixed beat.
        let wait = self.past_window.unwrap_or(short).min(self.interval);
        self.past_window = Some(wait.mul_f64(PAST_WINDOW_GROWTH).min(self.interval));
        jittered(wait)
    }

    fn short(&self, e: &Expectation) -> Duration {
        let floor = self.interval.mul_f64(SHORT_FLOOR_SHARE);
        let ceiling = self.interval.mul_f64(SHORT_CEILING_SHARE);
        e.expected
            .mul_f64(SHORT_SHARE_OF_SPREAD * e.spread)
            .clamp(floor, ceiling)
    }
}

/// Which phase an expectation is about; each has its own errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Staging,
    Rollout,
}

/// What this process has seen of its expectations' errors, per phase.
#[derive(Debug, Default)]
pub(crate) struct Calibration {
    staging: Mutex<Errors>,
    rollout: Mutex<Errors>,
    /// Where the deployment updater's ticks fall (one updater per foundation).
    pub(crate) beat: Beat,
}

/// Until observations outweigh it, the spread is this ...
const PRIOR_SPREAD: f64 = 0.25;
/// ... with the weight of this many observations (also pulling the bias to 0).
const PRIOR_WEIGHT: f64 = 4.0;
/// No expectation is trusted closer than this (the request latency and the
/// updater's tick blur every observation a little).
const MIN_SPREAD: f64 = 0.03;
/// Nor looser: a wider window costs more than polling on the beat.
const MAX_SPREAD: f64 = 1.0;
/// Ratios beyond this (×/÷ 20) are not errors of the same kind (an outage,
/// a stuck staging) and would blow the window up for everybody.
const MAX_LOG_RATIO: f64 = 3.0;

#[derive(Debug, Default, Clone, Copy)]
struct Errors {
    n: f64,
    sum: f64,
    sum_sq: f64,
}

impl Calibration {
    /// The expectation for a phase whose history says `raw`: corrected by
    /// the bias seen so far, with the spread seen so far.
    pub(crate) fn expect(&self, phase: Phase, raw: Duration) -> Expectation {
        let e = *lock(self.errors(phase));
        let weight = e.n + PRIOR_WEIGHT;
        let bias = e.sum / weight;
        // Squares around the (shrunk) bias, plus the prior's.
        let around = e.sum_sq - 2.0 * bias * e.sum + e.n * bias * bias;
        let variance = (PRIOR_WEIGHT * PRIOR_SPREAD * PRIOR_SPREAD + around.max(0.0)) / weight;
        Expectation {
            expected: raw.mul_f64(bias.exp()),
            spread: variance.sqrt().clamp(MIN_SPREAD, MAX_SPREAD),
        }
    }

    /// A phase whose history said `raw` took `observed`.
    pub(crate) fn observe(&self, phase: Phase, raw: Duration, observed: Duration) {
        if raw.is_zero() || observed.is_zero() {
            return;
        }
        let r = (observed.as_secs_f64() / raw.as_secs_f64()).ln();
        if !r.is_finite() || r.abs() > MAX_LOG_RATIO {
            return;
        }
        let mut e = lock(self.errors(phase));
        e.n += 1.0;
        e.sum += r;
        e.sum_sq += r * r;
    }

    fn errors(&self, phase: Phase) -> &Mutex<Errors> {
        match phase {
            Phase::Staging => &self.staging,
            Phase::Rollout => &self.rollout,
        }
    }
}

fn lock(m: &Mutex<Errors>) -> std::sync::MutexGuard<'_, Errors> {
    // Three numbers updated together; a panic elsewhere cannot tear them.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn without_an_expectation_it_polls_on_the_beat_with_jitter() {
        let mut plan = PollPlan::new(10 * S, None);
        assert_eq!(plan.next_with(Duration::ZERO, 0.5), 10 * S);
        assert!((secs(plan.next_with(95 * S, 0.0)) - 8.0).abs() < 0.01);
        assert!((secs(plan.next_with(95 * S, 0.999)) - 12.0).abs() < 0.01);
        // A zero expectation is no expectation.
        let zero = Expectation {
            expected: Duration::ZERO,
            spread: 0.1,
        };
        assert_eq!(
            PollPlan::new(10 * S, Some(zero)).next_with(Duration::ZERO, 0.5),
            10 * S
        );
    }

    #[test]
    fn it_sleeps_to_the_window_then_polls_short_then_backs_off() {
        let e = Expectation {
            expected: 120 * S,
            spread: 0.1,
        };
        let mut plan = PollPlan::new(10 * S, Some(e));
        // The window opens at 120·e^-0.2 ≈ 98.2 s: one sleep, never past it.
        let first = secs(plan.next_with(Duration::ZERO, 0.0));
        assert!((first - 98.25).abs() < 0.1, "{first}");
        assert!(secs(plan.next_with(Duration::ZERO, 0.999)) <= first);
        // In the window: a fifth of a spread's width (2.4 s), ±20 %.
        let short = secs(plan.next_with(100 * S, 0.5));
        assert!((short - 2.4).abs() < 0.01, "{short}");
        let late = e.at(WINDOW_SPREADS);
        // Past it (146.6 s): 2.4, 3.6, 5.4, 8.1, then the 10 s ceiling.
        let waits: Vec<f64> = (0..6)
            .map(|_| secs(plan.next_with(late + S, 0.5)))
            .collect();
        assert_eq!(waits.len(), 6);
        for (got, want) in waits.iter().zip([2.4, 3.6, 5.4, 8.1, 10.0, 10.0]) {
            assert!((got - want).abs() < 0.01, "{waits:?}");
        }
    }

    #[test]
    fn short_polls_stay_between_a_tenth_and_three_tenths_of_the_beat() {
        let sure = Expectation {
            expected: 60 * S,
            spread: MIN_SPREAD,
        };
        let mut plan = PollPlan::new(10 * S, Some(sure));
        assert_eq!(plan.next_with(60 * S, 0.5), S);
        let unsure = Expectation {
            expected: 600 * S,
            spread: MAX_SPREAD,
        };
        let mut plan = PollPlan::new(10 * S, Some(unsure));
        assert_eq!(plan.next_with(600 * S, 0.5), 3 * S);
        // A shorter beat shortens them: 2.4 s of spread, at most 0.9 s.
        let e = Expectation {
            expected: 120 * S,
            spread: 0.1,
        };
        let mut plan = PollPlan::new(3 * S, Some(e));
        assert_eq!(plan.next_with(120 * S, 0.5), 900 * Duration::from_millis(1));
    }

    #[test]
    fn a_window_opening_within_one_short_poll_is_polled_short() {
        let e = Expectation {
            expected: 10 * S,
            spread: 0.1,
        };
        let mut plan = PollPlan::new(10 * S, Some(e));
        // Opens at 8.2 s; the short poll is the 1 s floor.
        assert_eq!(
            secs(plan.next_with(7800 * Duration::from_millis(1), 0.5)),
            1.0
        );
    }

    #[test]
    fn an_aimed_rollout_polls_just_after_the_updaters_ticks() {
        let e = Expectation {
            expected: 300 * S,
            spread: 0.1,
        };
        let now = Instant::now();
        let ms = Duration::from_millis;
        // A tick is just ahead of us at now + 1.5 s, then every 5 s.
        // A tick is seen on average 0.1 s before the aimed moment.
        let ticks = Ticks::new(now + ms(1500), 5 * S, ms(100));
        let mut plan = PollPlan::new(10 * S, Some(e));
        plan.aim(Some(ticks));
        // Before the window (opens at 245.6 s): the first tick after it opens.
        assert_eq!(plan.next_at(Duration::ZERO, now, 0.0), ms(246_500));
        // In the window: the next tick past the 1 s floor, not the 3 s
        // short poll; jitter adds at most 4 % of the period.
        assert_eq!(plan.next_at(300 * S, now, 0.0), ms(1500));
        assert_eq!(
            plan.next_at(300 * S, now + ms(1600), 0.0),
            ms(4900),
            "a tick just polled is not polled again"
        );
        let jittered = plan.next_at(300 * S, now, 0.999);
        assert!(jittered > ms(1500) && jittered < ms(1700), "{jittered:?}");
        // Past the window: at most one tick a poll, and never later than a
        // plain wait longer than a period.
        let late = e.at(WINDOW_SPREADS) + S;
        for _ in 0..6 {
            let mut plain = plan.clone();
            plain.ticks = None;
            let want = plain.next_with(late, 0.0);
            let got = plan.next_at(late, now, 0.0);
            assert!(got <= want.max(6 * S), "{got:?} vs {want:?}");
            assert!(got >= ms(1500), "{got:?}");
        }
        // Short polls are aimed where that sees the end sooner on average
        // (0.1 s plus half the jitter against half of a 0.9 s poll) ...
        let close = Expectation {
            expected: 120 * S,
            spread: 0.1,
        };
        let mut plan = PollPlan::new(3 * S, Some(close));
        plan.aim(Some(ticks));
        assert_eq!(plan.next_at(120 * S, now, 0.5), ms(1600));
        // ... and left as they are where the estimate is too blurred for it.
        let blurred = Ticks::new(now + ms(1500), 5 * S, ms(700));
        plan.aim(Some(blurred));
        let plain = plan.clone().next_with(120 * S, 0.5);
        assert_eq!(plan.next_at(120 * S, now, 0.5), plain);
        // The sleep to the window is aimed however blurred: it only moves
        // the first look to a tick.
        assert_eq!(
            plan.next_at(Duration::ZERO, now, 0.0).as_millis() % 5000,
            1500
        );
        // A plan on the fixed beat is never aimed: it keeps bracketing ticks.
        let mut fixed = PollPlan::new(3 * S, None);
        fixed.aim(Some(ticks));
        assert_eq!(fixed.next_at(Duration::ZERO, now, 0.5), 3 * S);
    }

    #[test]
    fn calibration_starts_wide_and_learns_spread_and_bias() {
        let c = Calibration::default();
        let raw = 100 * S;
        let e = c.expect(Phase::Staging, raw);
        assert_eq!(e.expected, raw);
        assert!((e.spread - PRIOR_SPREAD).abs() < 1e-9);
        // Every staging takes 20 % longer than its history said, ±5 %.
        for i in 0..200 {
            let wobble = if i % 2 == 0 { 1.05 } else { 0.95 };
            c.observe(Phase::Staging, raw, raw.mul_f64(1.2 * wobble));
        }
        let e = c.expect(Phase::Staging, raw);
        assert!((secs(e.expected) - 120.0).abs() < 2.0, "{e:?}");
        assert!(e.spread < 0.08, "{e:?}");
        // The other phase learned nothing.
        assert_eq!(c.expect(Phase::Rollout, raw).expected, raw);
    }

    #[test]
    fn calibration_ignores_wild_and_empty_observations() {
        let c = Calibration::default();
        c.observe(Phase::Rollout, 10 * S, 1000 * S);
        c.observe(Phase::Rollout, Duration::ZERO, 10 * S);
        c.observe(Phase::Rollout, 10 * S, Duration::ZERO);
        let e = c.expect(Phase::Rollout, 10 * S);
        assert_eq!(e.expected, 10 * S);
        assert!((e.spread - PRIOR_SPREAD).abs() < 1e-9);
    }
}
