//! Maintenance windows (`RESTAGER_WINDOW`, the `restager.io/window`
//! annotation) and the minimum release age: pure answers to "when may a new
//! restage start?", for the worker that starts builds and the planner that
//! announces them.
//!
//! The syntax is `always` (the default: at any time), or windows separated
//! by `;`, each `DAYS HH:MM-HH:MM ZONE`:
//!
//! - DAYS: `Mon` … `Sun`, lists `Sat,Sun`, ranges `Mon-Fri` and ranges that
//!   wrap past Sunday `Fri-Mon`;
//! - `HH:MM-HH:MM` on a 24-hour clock; an end at or before the start crosses
//!   midnight and the window belongs to the day it starts (`Fri 22:00-04:00`
//!   is Friday night into Saturday); `24:00` may end a window, and a start
//!   equal to the end is a whole day;
//! - ZONE: an IANA name (`Europe/Berlin`, `America/New_York`, `UTC`), from
//!   the tz database bundled into the binary.
//!
//! No new build starts later than a window's end minus the cutoff
//! (`RESTAGER_WINDOW_CUTOFF`); restages in flight finish. Windows that
//! overlap or touch (`Sat 00:00-24:00; Sun 00:00-06:00 UTC`) count as one
//! stretch, so the cutoff applies only where the stretch really ends.
//!
//! # Clock changes
//!
//! Openings and closings follow what the wall clock shows:
//! - a window opens at the first instant the clock shows its start or
//!   later. When spring-forward skips the start (02:30 on 29 March 2026 in
//!   Berlin) it opens when the clock jumps (03:00 CEST); when fall-back
//!   repeats it (01:30 on 1 November 2026 in New York) it opens at the first
//!   01:30 only, so it never opens twice;
//! - it closes at the last instant the clock shows a time before its end. A
//!   skipped end closes it when the clock jumps; a repeated end closes it at
//!   the second one, so the repeated hour never ends it early.
//!
//! On those days a window is an hour shorter or longer, or empty
//! (`02:00-03:00` on spring-forward day in Berlin), and the search goes on to
//! its next day.

mod days;
mod describe;
mod error;
mod release_age;
mod schedule;
mod spec;
mod zone;

#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use error::{AnnotationScope, SYNTAX, WindowError};
pub use release_age::act_after;
pub use spec::Windows;

use schedule::NextStart;
use zone::{to_chrono, to_timestamp};

/// The space (or org) annotation overriding `RESTAGER_WINDOW`, same syntax.
pub const WINDOW_ANNOTATION: &str = "restager.io/window";

impl Windows {
    /// `now` when a new build may start now; else the earliest later instant
    /// when one may (inside a window, before its end minus `cutoff`).
    ///
    /// The search is bounded: should no window open within the next
    /// fifteen days (only a time zone changing its clock on every occurrence
    /// could do that, since windows longer than the cutoff are checked when
    /// read), the end of that search is returned. Callers start a build only
    /// when the answer is `now` and otherwise ask again at the answer, so
    /// that stays correct.
    pub fn start_allowed_at(&self, now: DateTime<Utc>, cutoff: Duration) -> DateTime<Utc> {
        match self.next_start(to_timestamp(now), cutoff) {
            NextStart::Always | NextStart::Now { .. } => now,
            NextStart::At { at, .. } => to_chrono(at),
            NextStart::NotBefore { horizon } => to_chrono(horizon),
        }
    }

    /// Whether a new build may start at `now`.
    pub fn allows_start(&self, now: DateTime<Utc>, cutoff: Duration) -> bool {
        self.start_allowed_at(now, cutoff) == now
    }
}

/// The windows that apply to an app: its space's annotation, else its org's,
/// else `default` (`RESTAGER_WINDOW`). An annotation that does not parse, or
/// that is too short for `cutoff`, is an error for the apps it covers (the
/// caller reports it for them and goes on with the rest of the run); it does
/// not fall back to a wider window the operator did not ask for.
pub fn effective(
    space_annotation: Option<&str>,
    org_annotation: Option<&str>,
    default: &Windows,
    cutoff: Duration,
) -> Result<Windows, WindowError> {
    let (text, scope) = match (space_annotation, org_annotation) {
        (Some(text), _) => (text, AnnotationScope::Space),
        (None, Some(text)) => (text, AnnotationScope::Org),
        (None, None) => return Ok(default.clone()),
    };
    let in_annotation = |source| WindowError::Annotation {
        scope,
        source: Box::new(source),
    };
    let windows = Windows::parse(text).map_err(in_annotation)?;
    windows.check_cutoff(cutoff).map_err(in_annotation)?;
    Ok(windows)
}
