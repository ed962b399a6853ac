//! Whether a job may start a new build now, given its windows, the run's
//! cutoff and its minimum release age; if not, until when it is held and
//! why, in words for the people waiting.
//!
//! The one rule every place that starts or queues a job follows (the first
//! wave's fan-out, the wave gate, the tick, the worker), so a job is never
//! queued by one and refused by another.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::describe::stamp;
use super::schedule::{HORIZON_DAYS, NextStart};
use super::spec::Windows;
use super::zone::{to_chrono, to_timestamp};

/// A start this close is waited for on the queue (a delivery handed back
/// until then) rather than held in the ledger. A tick releases the holds
/// ending before the instant it read the run at; a hold recorded just
/// before its own end could land after that read and be passed over. No
/// hold ends sooner than this after it is recorded, so that cannot happen
/// unless a writer stalls for longer.
pub const HOLD_MARGIN: Duration = Duration::from_secs(60);

/// What to do with a job now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// A new build may start now.
    Now,
    /// It may start at `at`, less than [`HOLD_MARGIN`] away: keep it on the
    /// queue until then.
    Soon { at: DateTime<Utc> },
    /// Not before `until`: park it in the ledger, off the queue.
    Hold {
        until: DateTime<Utc>,
        /// `until` in the window's own zone (`Sat 5 Dec 02:00 CET
        /// (Europe/Berlin)`), UTC when no window decides it.
        when: String,
        /// The held outcome's reason, `held: …`.
        reason: String,
    },
}

/// When a job in `windows` may start, given the run's `cutoff` and that
/// nothing of it starts before `not_before` (the minimum release age).
pub fn start(
    windows: &Windows,
    cutoff: Duration,
    not_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Start {
    let from = not_before.map_or(now, |n| n.max(now));
    let aged = from > now;
    let (at, when, reason) = match windows.next_start(to_timestamp(from), cutoff) {
        NextStart::Always | NextStart::Now { .. } => {
            let when = from.format("%a %-d %b %H:%M UTC").to_string();
            let reason = format!(
                "held: the release is younger than RESTAGER_MIN_RELEASE_AGE; it is acted on from {when}"
            );
            (from, when, reason)
        }
        NextStart::At { at, zone } => {
            let when = stamp(at, zone);
            let after = if aged {
                " (the first once the release is RESTAGER_MIN_RELEASE_AGE old)"
            } else {
                ""
            };
            let reason = format!("held: waits for its maintenance window, {when}{after}");
            (to_chrono(at), when, reason)
        }
        NextStart::NotBefore { horizon } => {
            let at = to_chrono(horizon);
            let when = at.format("%a %-d %b %H:%M UTC").to_string();
            let reason = format!(
                "held: no maintenance window of it opens within {HORIZON_DAYS} days; asked again {when}"
            );
            (at, when, reason)
        }
    };
    if at <= now {
        return Start::Now;
    }
    let margin = TimeDelta::from_std(HOLD_MARGIN).unwrap_or(TimeDelta::MAX);
    if at - now < margin {
        return Start::Soon { at };
    }
    Start::Hold {
        until: at,
        when,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::tests::at;

    const CUTOFF: Duration = Duration::from_secs(30 * 60);

    #[test]
    fn held_until_the_window_opens_said_in_its_zone() {
        let w = Windows::parse("Mon-Sun 02:00-06:00 Europe/Berlin").expect("window");
        // Fri 4 Dec 2026, 10:00 in Berlin (CET, UTC+1).
        let now = at("2026-12-04T09:00:00Z");
        assert_eq!(
            start(&w, CUTOFF, None, now),
            Start::Hold {
                until: at("2026-12-05T01:00:00Z"),
                when: "Sat 5 Dec 02:00 CET (Europe/Berlin)".into(),
                reason:
                    "held: waits for its maintenance window, Sat 5 Dec 02:00 CET (Europe/Berlin)"
                        .into(),
            }
        );
        assert_eq!(
            start(&w, CUTOFF, None, at("2026-12-05T01:00:00Z")),
            Start::Now
        );
        // Past the cutoff: the next night.
        let Start::Hold { until, .. } = start(&w, CUTOFF, None, at("2026-12-05T04:31:00Z")) else {
            panic!("held");
        };
        assert_eq!(until, at("2026-12-06T01:00:00Z"));
        // Half a minute before the opening: waited for on the queue.
        assert_eq!(
            start(&w, CUTOFF, None, at("2026-12-05T00:59:30Z")),
            Start::Soon {
                at: at("2026-12-05T01:00:00Z")
            }
        );
        assert_eq!(
            start(&Windows::always(), CUTOFF, None, now),
            Start::Now,
            "no window, no age: at once"
        );
    }

    #[test]
    fn a_young_release_waits_for_its_age_then_for_the_window() {
        let now = at("2026-12-04T09:00:00Z");
        let of_age = at("2026-12-07T09:00:00Z");
        let Start::Hold { until, reason, .. } =
            start(&Windows::always(), CUTOFF, Some(of_age), now)
        else {
            panic!("held");
        };
        assert_eq!(until, of_age);
        assert_eq!(
            reason,
            "held: the release is younger than RESTAGER_MIN_RELEASE_AGE; it is acted on from Mon 7 Dec 09:00 UTC"
        );
        let w = Windows::parse("Sat,Sun 02:00-06:00 UTC").expect("window");
        let Start::Hold { until, reason, .. } = start(&w, CUTOFF, Some(of_age), now) else {
            panic!("held");
        };
        assert_eq!(
            until,
            at("2026-12-12T02:00:00Z"),
            "the first window once of age"
        );
        assert!(
            reason.ends_with("RESTAGER_MIN_RELEASE_AGE old)"),
            "{reason}"
        );
        // An age already reached holds nothing.
        assert_eq!(
            start(
                &Windows::always(),
                CUTOFF,
                Some(at("2026-12-01T00:00:00Z")),
                now
            ),
            Start::Now
        );
    }
}
