//! When windows are open, as instants, and when the next restage may start.
//!
//! Each window's occurrences become instants (clock changes resolved as the
//! module docs of [`crate::window`] describe), overlapping ones are merged,
//! and the cutoff is taken off each merged stretch's end. Every search is
//! bounded by [`HORIZON_DAYS`].

use std::time::Duration;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::AmbiguousOffset;
use jiff::{SignedDuration, Span, Timestamp};

use super::spec::{Kind, Window, Windows};
use super::zone::Zone;

/// Days ahead searched for an opening. Validation makes every window longer
/// than the cutoff, so a weekly window opens within 8 days even when a clock
/// change empties one occurrence; 15 leaves room for a zone that changes its
/// clock twice in one week.
pub(super) const HORIZON_DAYS: i64 = 15;

/// A stretch of time during which windows are open, `[open, close)`.
#[derive(Debug, Clone)]
pub(super) struct Open<'w> {
    pub(super) open: Timestamp,
    pub(super) close: Timestamp,
    /// The zones of the windows that open and close the stretch, for showing
    /// those instants as their operators think of them.
    pub(super) open_zone: &'w Zone,
    pub(super) close_zone: &'w Zone,
}

/// When the next restage may start.
#[derive(Debug, Clone)]
pub(super) enum NextStart<'w> {
    /// No window: at any time.
    Always,
    /// Now, and until `last` (the open stretch's close minus the cutoff).
    Now { last: Timestamp, zone: &'w Zone },
    /// Not now; first at `at`.
    At { at: Timestamp, zone: &'w Zone },
    /// No opening within the horizon, which ends at `horizon`.
    NotBefore { horizon: Timestamp },
}

impl Windows {
    pub(super) fn next_start(&self, now: Timestamp, cutoff: Duration) -> NextStart<'_> {
        let Kind::During(windows) = &self.0 else {
            return NextStart::Always;
        };
        // A cutoff beyond jiff's range leaves no time to start in.
        let cutoff = SignedDuration::try_from(cutoff).unwrap_or(SignedDuration::MAX);
        for stretch in open_stretches(windows, now) {
            let Ok(last) = stretch.close.checked_sub(cutoff) else {
                continue;
            };
            if last <= stretch.open || last <= now {
                continue;
            }
            if stretch.open <= now {
                return NextStart::Now {
                    last,
                    zone: stretch.close_zone,
                };
            }
            return NextStart::At {
                at: stretch.open,
                zone: stretch.open_zone,
            };
        }
        let horizon = now
            .checked_add(SignedDuration::from_hours(24 * HORIZON_DAYS))
            .unwrap_or(Timestamp::MAX);
        NextStart::NotBefore { horizon }
    }
}

/// Every window's occurrences from the day before `now` (one crossing
/// midnight may still be open) to the horizon, merged and in order.
fn open_stretches(windows: &[Window], now: Timestamp) -> Vec<Open<'_>> {
    let mut spans: Vec<Open<'_>> = windows
        .iter()
        .flat_map(|w| {
            let today = now.to_zoned(w.zone.tz().clone()).date();
            (-1..=HORIZON_DAYS).filter_map(move |n| {
                let day = today.checked_add(Span::new().days(n)).ok()?;
                occurrence(w, day)
            })
        })
        .collect();
    spans.sort_by_key(|s| s.open);
    let mut merged: Vec<Open<'_>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.open <= last.close => {
                if span.close > last.close {
                    last.close = span.close;
                    last.close_zone = span.close_zone;
                }
            }
            _ => merged.push(span),
        }
    }
    merged
}

/// The window's occurrence starting on `day`, if it opens that day and is
/// not emptied by a clock change.
fn occurrence(w: &Window, day: Date) -> Option<Open<'_>> {
    if !w.days.contains(day.weekday()) {
        return None;
    }
    let (end_days, end_minute) = w.end_day_and_minute();
    let end_day = day.checked_add(Span::new().days(end_days)).ok()?;
    let open = first_at_or_after(&w.zone, civil(day, w.start)?)?;
    let close = last_before(&w.zone, civil(end_day, end_minute)?)?;
    (open < close).then_some(Open {
        open,
        close,
        open_zone: &w.zone,
        close_zone: &w.zone,
    })
}

fn civil(day: Date, minute: u16) -> Option<DateTime> {
    let time = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
    Some(day.to_datetime(time))
}

/// The first instant the zone's clock shows `dt` or later.
fn first_at_or_after(zone: &Zone, dt: DateTime) -> Option<Timestamp> {
    let ambiguous = zone.tz().to_ambiguous_timestamp(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            ambiguous.earlier().ok()
        }
        AmbiguousOffset::Gap { .. } => gap_end(zone, ambiguous.earlier().ok()?),
    }
}

/// The instant after which the zone's clock no longer shows a time before
/// `dt` (the end of a `[.., dt)` stretch of wall time).
fn last_before(zone: &Zone, dt: DateTime) -> Option<Timestamp> {
    let ambiguous = zone.tz().to_ambiguous_timestamp(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            ambiguous.later().ok()
        }
        AmbiguousOffset::Gap { .. } => gap_end(zone, ambiguous.earlier().ok()?),
    }
}

/// The clock change that skips a wall time. `before_gap` is that wall time
/// read with the offset after the change, an instant before the change.
fn gap_end(zone: &Zone, before_gap: Timestamp) -> Option<Timestamp> {
    zone.tz()
        .following(before_gap)
        .next()
        .map(|transition| transition.timestamp())
}
