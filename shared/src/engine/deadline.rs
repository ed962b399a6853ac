//! The invocation's clock: when to stop starting new work and when to stop
//! waiting, so a Lambda returns (and its message is redelivered to resume the
//! restage) before it is killed.

use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::WorkerSettings;

/// How close to the deadline work may start or continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Margins {
    /// No new build or deployment is created with less than this left: it
    /// could not be watched long enough to be worth starting now.
    pub start: Duration,
    /// Waiting stops with this much left, to record the outcome, set the
    /// message's visibility and flush notifications.
    pub stop: Duration,
}

impl Margins {
    /// Production margins: start needs max(30 s, 2 × poll interval), waiting
    /// stops max(5 s, poll interval) before the deadline.
    pub fn for_settings(settings: &WorkerSettings) -> Self {
        Self {
            start: Duration::from_secs(30).max(settings.poll_interval * 2),
            stop: Duration::from_secs(5).max(settings.poll_interval),
        }
    }

    /// Explicit margins (tests with millisecond clocks).
    pub fn new(start: Duration, stop: Duration) -> Self {
        Self {
            start: start.max(stop),
            stop,
        }
    }
}

/// When this invocation (or this process) must be done, plus an optional
/// shutdown signal that ends waiting early (the local runner's Ctrl-C).
#[derive(Debug, Clone)]
pub struct Deadline {
    at: Instant,
    margins: Margins,
    stop: Option<watch::Receiver<bool>>,
}

/// A year: "no deadline" for a long-running process.
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

impl Deadline {
    pub fn at(at: Instant, margins: Margins) -> Self {
        Self {
            at,
            margins,
            stop: None,
        }
    }

    pub fn after(d: Duration, margins: Margins) -> Self {
        Self::at(Instant::now() + d, margins)
    }

    /// From a wall-clock deadline such as Lambda's `Context::deadline()`.
    /// A deadline already in the past leaves no time at all.
    pub fn from_system_time(at: SystemTime, margins: Margins) -> Self {
        let left = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Self::after(left, margins)
    }

    /// No deadline (the local runner); only the shutdown signal stops waiting.
    pub fn unbounded(margins: Margins) -> Self {
        Self::after(FAR, margins)
    }

    /// Waiting also stops once `stop` turns true.
    pub fn with_stop_signal(mut self, stop: watch::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
    }

    pub fn margins(&self) -> Margins {
        self.margins
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn is_bounded(&self) -> bool {
        self.remaining() < FAR / 2
    }

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| *s.borrow())
    }

    /// The shutdown signal fired (SIGTERM / Ctrl-C of the local runner), as
    /// opposed to time running out: work stopped now is handed back, and
    /// that is not an attempt at the job.
    pub fn is_shutting_down(&self) -> bool {
        self.stopping()
    }

    /// Whether a new build or deployment may be started now.
    pub fn can_start_work(&self) -> bool {
        !self.stopping() && self.remaining() > self.margins.start
    }

    /// Whether waiting must end now.
    pub fn must_stop(&self) -> bool {
        self.stopping() || self.remaining() <= self.margins.stop
    }

    /// Sleeps for `d`, cut short at the stop margin or by the shutdown
    /// signal. Returns `false` when it was cut short (time to stop).
    pub async fn sleep(&self, d: Duration) -> bool {
        let until_stop = self.remaining().saturating_sub(self.margins.stop);
        let nap = d.min(until_stop);
        let slept = match self.stop.clone() {
            None => {
                tokio::time::sleep(nap).await;
                true
            }
            Some(mut rx) => {
                tokio::select! {
                    _ = tokio::time::sleep(nap) => true,
                    _ = rx.wait_for(|stop| *stop) => false,
                }
            }
        };
        slept && nap == d && !self.must_stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn margins_gate_starting_and_waiting() {
        let m = Margins::new(Duration::from_millis(200), Duration::from_millis(50));
        let d = Deadline::after(Duration::from_millis(300), m);
        assert!(d.can_start_work() && !d.must_stop() && d.is_bounded());
        let late = Deadline::after(Duration::from_millis(100), m);
        assert!(!late.can_start_work() && !late.must_stop());
        assert!(
            !late.sleep(Duration::from_secs(5)).await,
            "cut short at the stop margin"
        );
        assert!(late.must_stop());
        assert!(!Deadline::unbounded(m).is_bounded());
    }

    #[tokio::test]
    async fn the_stop_signal_ends_waiting() {
        let (tx, rx) = watch::channel(false);
        let d =
            Deadline::unbounded(Margins::new(Duration::ZERO, Duration::ZERO)).with_stop_signal(rx);
        assert!(d.can_start_work());
        let sleeper = tokio::spawn({
            let d = d.clone();
            async move { d.sleep(Duration::from_secs(60)).await }
        });
        tx.send_replace(true);
        assert!(!sleeper.await.expect("joins"));
        assert!(d.must_stop() && !d.can_start_work());
    }

    #[test]
    fn production_margins_scale_with_the_poll_interval() {
        let s = WorkerSettings::default();
        let m = Margins::for_settings(&s);
        assert_eq!(m.start, Duration::from_secs(30));
        assert_eq!(m.stop, Duration::from_secs(10));
    }
}
