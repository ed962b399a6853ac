//! Why a window could not be used. Every message quotes the offending part
//! and shows what is accepted instead, so an operator can fix the setting or
//! annotation from the message alone.

use std::fmt;
use std::time::Duration;

use super::WINDOW_ANNOTATION;
pub(super) use crate::intake::shown;

/// The whole syntax, for errors about the shape of the value as a whole.
pub const SYNTAX: &str = "`always`, or windows separated by `;`, each `DAYS HH:MM-HH:MM ZONE` \
     such as `Sat,Sun 02:00-06:00 Europe/Berlin` or `Mon-Fri 22:00-04:00 UTC`";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("no window is given: expected {SYNTAX}")]
    Empty,

    #[error(
        "`always` cannot be combined with other windows (in `{value}`): give `always` alone, or only windows separated by `;`"
    )]
    AlwaysCombined { value: String },

    #[error(
        "`{window}` is not a window: expected `DAYS HH:MM-HH:MM ZONE`, such as `Sat,Sun 02:00-06:00 Europe/Berlin` or `Mon-Fri 22:00-04:00 UTC`"
    )]
    Shape { window: String },

    #[error(
        "`{day}` in `{window}` is not a day: expected Mon, Tue, Wed, Thu, Fri, Sat or Sun, lists such as `Sat,Sun` and ranges such as `Mon-Fri` or `Fri-Mon`"
    )]
    Day { window: String, day: String },

    #[error(
        "`{range}` in `{window}` runs from a day to itself: write the day alone, or `Mon-Sun` for every day"
    )]
    SameDayRange { window: String, range: String },

    #[error(
        "`{times}` in `{window}` is not a time range: expected `HH:MM-HH:MM` on a 24-hour clock, such as `02:00-06:00` or `22:00-04:00` (an end at or before the start crosses midnight; `24:00` may end a window)"
    )]
    Times { window: String, times: String },

    #[error(
        "`{zone}` in `{window}` is not a time zone: expected an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`"
    )]
    Zone { window: String, zone: String },

    #[error(
        "`{window}` is open {}, not longer than the cutoff of {}: no restage could ever start in it; lengthen the window or lower RESTAGER_WINDOW_CUTOFF",
        humantime::format_duration(*length),
        humantime::format_duration(*cutoff)
    )]
    ShorterThanCutoff {
        window: String,
        length: Duration,
        cutoff: Duration,
    },

    /// A per-space or per-org override that does not parse; reported for the
    /// apps it covers, never failing a whole run.
    #[error("the {scope} annotation {WINDOW_ANNOTATION} is not valid: {source}")]
    Annotation {
        scope: AnnotationScope,
        source: Box<WindowError>,
    },
}

/// Where an annotated window was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationScope {
    Space,
    Org,
}

impl fmt::Display for AnnotationScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnnotationScope::Space => "space",
            AnnotationScope::Org => "org",
        })
    }
}
