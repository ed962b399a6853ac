//! The text of `RESTAGER_WINDOW` and the `restager.io/window` annotation,
//! parsed into [`Windows`] and written back in canonical form.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::days::Days;
use super::error::{WindowError, shown};
use super::zone::Zone;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// When restages may start: at any time, or only inside one of the windows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Windows(pub(super) Kind);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum Kind {
    /// Today's behaviour: no window.
    #[default]
    Always,
    /// Never empty.
    During(Vec<Window>),
}

/// One `DAYS HH:MM-HH:MM ZONE` window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) days: Days,
    /// Minutes after midnight, 0..1440.
    pub(super) start: u16,
    /// Minutes after midnight, 0..=1440 (`24:00`). At or before `start`
    /// means the window ends on the next day.
    pub(super) end: u16,
    pub(super) zone: Zone,
}

impl Window {
    /// Its length on a day without a clock change.
    pub(super) fn nominal_length(&self) -> Duration {
        let minutes = if self.end > self.start {
            self.end - self.start
        } else {
            self.end + MINUTES_PER_DAY - self.start
        };
        Duration::from_secs(u64::from(minutes) * 60)
    }

    /// Days after its start day that it ends on, and the minute it ends at.
    pub(super) fn end_day_and_minute(&self) -> (i64, u16) {
        let crosses = i64::from(self.end <= self.start);
        let end_of_day = i64::from(self.end / MINUTES_PER_DAY);
        (crosses + end_of_day, self.end % MINUTES_PER_DAY)
    }

    fn parse(text: &str) -> Result<Window, WindowError> {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let [days @ .., times, zone] = tokens.as_slice() else {
            return Err(WindowError::Shape {
                window: shown(text),
            });
        };
        if days.is_empty() {
            return Err(WindowError::Shape {
                window: shown(text),
            });
        }
        // Joined so `Sat, Sun` reads like `Sat,Sun`.
        let days = Days::parse(&days.concat(), text)?;
        let bad_times = || WindowError::Times {
            window: shown(text),
            times: shown(times),
        };
        let (start, end) = times.split_once('-').ok_or_else(bad_times)?;
        let start = clock(start).filter(|m| *m < MINUTES_PER_DAY);
        let (Some(start), Some(end)) = (start, clock(end)) else {
            return Err(bad_times());
        };
        let zone = Zone::lookup(zone).ok_or_else(|| WindowError::Zone {
            window: shown(text),
            zone: shown(zone),
        })?;
        Ok(Window {
            days,
            start,
            end,
            zone,
        })
    }
}

/// `HH:MM` in minutes after midnight; `24:00` is 1440.
fn clock(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(MINUTES_PER_DAY),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

impl Windows {
    /// Restages may start at any time.
    pub fn always() -> Windows {
        Windows(Kind::Always)
    }

    pub fn is_always(&self) -> bool {
        matches!(self.0, Kind::Always)
    }

    /// `always`, or windows separated by `;` (blank ones, such as after a
    /// trailing `;`, are skipped). Day names and `always` are
    /// case-insensitive; zone names are looked up as the database spells
    /// them or in any case.
    pub fn parse(text: &str) -> Result<Windows, WindowError> {
        let parts: Vec<&str> = text
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            return Err(WindowError::Empty);
        }
        if parts.iter().any(|p| p.eq_ignore_ascii_case("always")) {
            if parts.len() > 1 {
                return Err(WindowError::AlwaysCombined {
                    value: shown(text.trim()),
                });
            }
            return Ok(Windows::always());
        }
        let windows = parts
            .into_iter()
            .map(Window::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Windows(Kind::During(windows)))
    }

    /// A window no longer than `cutoff` could never start a restage (nothing
    /// may start later than its end minus the cutoff), so it is refused when
    /// the setting or annotation is read rather than waited on for ever.
    pub fn check_cutoff(&self, cutoff: Duration) -> Result<(), WindowError> {
        let Kind::During(windows) = &self.0 else {
            return Ok(());
        };
        match windows.iter().find(|w| w.nominal_length() <= cutoff) {
            Some(short) => Err(WindowError::ShorterThanCutoff {
                window: shown(&short.to_string()),
                length: short.nominal_length(),
                cutoff,
            }),
            None => Ok(()),
        }
    }
}

impl FromStr for Windows {
    type Err = WindowError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Windows::parse(s)
    }
}

fn write_clock(f: &mut fmt::Formatter<'_>, minutes: u16) -> fmt::Result {
    write!(f, "{:02}:{:02}", minutes / 60, minutes % 60)
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.days)?;
        write_clock(f, self.start)?;
        f.write_str("-")?;
        write_clock(f, self.end)?;
        write!(f, " {}", self.zone)
    }
}

/// The canonical text, which [`Windows::parse`] reads back unchanged.
impl fmt::Display for Windows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Always => f.write_str("always"),
            Kind::During(windows) => {
                for (n, window) in windows.iter().enumerate() {
                    if n > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{window}")?;
                }
                Ok(())
            }
        }
    }
}
