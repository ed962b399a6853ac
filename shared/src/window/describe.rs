//! The next opening in words, for advance notices and `restager plan` /
//! `outdated`: `Sat 5 Dec 02:00 CET (Europe/Berlin)`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jiff::Timestamp;

use super::schedule::{HORIZON_DAYS, NextStart};
use super::spec::Windows;
use super::zone::{Zone, to_timestamp};

impl Windows {
    /// When a restage may next start, as a reader of a notice wants it: in
    /// the window's own zone, with the zone's abbreviation and IANA name.
    /// Takes the cutoff so it never says "now" when a window is open but too
    /// close to its end for a new restage.
    pub fn next_opening_description(&self, now: DateTime<Utc>, cutoff: Duration) -> String {
        match self.next_start(to_timestamp(now), cutoff) {
            NextStart::Always => "now (no maintenance window)".to_string(),
            NextStart::Now { last, zone } => format!("now, until {}", stamp(last, zone)),
            NextStart::At { at, zone } => stamp(at, zone),
            NextStart::NotBefore { .. } => {
                format!("not within the next {HORIZON_DAYS} days")
            }
        }
    }
}

/// `Sat 5 Dec 02:00 CET (Europe/Berlin)`; the name is left out when the
/// abbreviation already is it (`UTC`).
fn stamp(at: Timestamp, zone: &Zone) -> String {
    let local = at.to_zoned(zone.tz().clone());
    let text = local.strftime("%a %-d %b %H:%M %Z").to_string();
    if text.ends_with(&format!(" {}", zone.name())) {
        text
    } else {
        format!("{text} ({})", zone.name())
    }
}
