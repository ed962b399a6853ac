//! When restages may start: `RESTAGER_WINDOW`, `RESTAGER_WINDOW_CUTOFF` and
//! `RESTAGER_MIN_RELEASE_AGE`, read by the planner (webhook, sweep) to
//! announce and the worker to start builds.

use std::time::Duration;

use super::{ConfigError, Env};
use crate::window::{WindowError, Windows, effective};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSettings {
    /// When new builds may start, unless a space or org annotation says otherwise.
    pub windows: Windows,
    /// No new build starts later than a window's end minus this.
    pub cutoff: Duration,
    /// A release is acted on only once it is this old (zero: at once).
    pub min_release_age: Duration,
}

impl Default for WindowSettings {
    fn default() -> Self {
        Self {
            windows: Windows::always(),
            cutoff: Duration::from_secs(30 * 60),
            min_release_age: Duration::ZERO,
        }
    }
}

impl WindowSettings {
    pub const WINDOW: &'static str = "RESTAGER_WINDOW";
    pub const CUTOFF: &'static str = "RESTAGER_WINDOW_CUTOFF";
    pub const MIN_RELEASE_AGE: &'static str = "RESTAGER_MIN_RELEASE_AGE";

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let windows = match env.raw(Self::WINDOW) {
            None => d.windows,
            Some(raw) => Windows::parse(&raw).map_err(|reason| ConfigError::InvalidWindow {
                name: Self::WINDOW,
                value: shorten(&raw),
                reason,
            })?,
        };
        let cutoff = duration(
            env,
            Self::CUTOFF,
            d.cutoff,
            "a duration such as 0s, 30m or 1h (no new restage starts later than a window's end minus this)",
        )?;
        // Checked together: a window no longer than the cutoff would wait for ever.
        windows
            .check_cutoff(cutoff)
            .map_err(|reason| ConfigError::InvalidWindow {
                name: Self::CUTOFF,
                value: env
                    .raw(Self::CUTOFF)
                    .unwrap_or_else(|| humantime::format_duration(cutoff).to_string()),
                reason,
            })?;
        let min_release_age = duration(
            env,
            Self::MIN_RELEASE_AGE,
            d.min_release_age,
            "a duration such as 0s (act at once), 72h or 3days",
        )?;
        Ok(Self {
            windows,
            cutoff,
            min_release_age,
        })
    }

    /// The windows for an app in a space and org with these
    /// `restager.io/window` annotations (see [`effective`]).
    pub fn for_space(
        &self,
        space_annotation: Option<&str>,
        org_annotation: Option<&str>,
    ) -> Result<Windows, WindowError> {
        effective(space_annotation, org_annotation, &self.windows, self.cutoff)
    }
}

/// A human duration where zero is allowed (it means "none").
fn duration(
    env: &Env,
    name: &'static str,
    default: Duration,
    expected: &'static str,
) -> Result<Duration, ConfigError> {
    match env.raw(name) {
        None => Ok(default),
        Some(raw) => humantime::parse_duration(&raw).map_err(|_| ConfigError::Invalid {
            name,
            value: shorten(&raw),
            expected,
        }),
    }
}

fn shorten(v: &str) -> String {
    v.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(pairs: &[(&'static str, &'static str)]) -> Result<WindowSettings, ConfigError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        WindowSettings::from_env(&Env(&map))
    }

    #[test]
    fn defaults_are_todays_behaviour() {
        let s = read(&[]).expect("defaults");
        assert_eq!(s, WindowSettings::default());
        assert!(s.windows.is_always());
        assert_eq!(s.cutoff, Duration::from_secs(1800));
        assert_eq!(s.min_release_age, Duration::ZERO);
    }

    #[test]
    fn reads_windows_cutoff_and_release_age() {
        let s = read(&[
            (
                "RESTAGER_WINDOW",
                "Sat,Sun 02:00-06:00 Europe/Berlin; Mon-Fri 22:00-04:00 UTC",
            ),
            ("RESTAGER_WINDOW_CUTOFF", "45m"),
            ("RESTAGER_MIN_RELEASE_AGE", "3days"),
        ])
        .expect("valid");
        assert_eq!(
            s.windows.to_string(),
            "Sat,Sun 02:00-06:00 Europe/Berlin; Mon-Fri 22:00-04:00 UTC"
        );
        assert_eq!(s.cutoff, Duration::from_secs(45 * 60));
        assert_eq!(s.min_release_age, Duration::from_secs(3 * 86400));
        let days = read(&[("RESTAGER_MIN_RELEASE_AGE", "3d")]).expect("3d");
        assert_eq!(days.min_release_age, Duration::from_secs(3 * 86400));
        let zero = read(&[("RESTAGER_WINDOW_CUTOFF", "0s")]).expect("zero cutoff");
        assert_eq!(zero.cutoff, Duration::ZERO);
        assert_eq!(
            s.for_space(Some("always"), None).map(|w| w.is_always()),
            Ok(true)
        );
        assert_eq!(s.for_space(None, None), Ok(s.windows.clone()));
    }

    #[test]
    fn bad_values_stop_start_up_naming_the_variable_and_the_syntax() {
        let table: &[(&[(&'static str, &'static str)], &str)] = &[
            (
                &[("RESTAGER_WINDOW", "weekends")],
                "RESTAGER_WINDOW=`weekends` is not valid: `weekends` is not a window: expected \
                 `DAYS HH:MM-HH:MM ZONE`, such as `Sat,Sun 02:00-06:00 Europe/Berlin` or \
                 `Mon-Fri 22:00-04:00 UTC`",
            ),
            (
                &[("RESTAGER_WINDOW", "Sat 02:00-06:00 CEST")],
                "RESTAGER_WINDOW=`Sat 02:00-06:00 CEST` is not valid: `CEST` in \
                 `Sat 02:00-06:00 CEST` is not a time zone: expected an IANA name such as \
                 `Europe/Berlin`, `America/New_York` or `UTC`",
            ),
            (
                &[("RESTAGER_WINDOW_CUTOFF", "soon")],
                "RESTAGER_WINDOW_CUTOFF=`soon` is not valid: expected a duration such as 0s, 30m or \
                 1h (no new restage starts later than a window's end minus this)",
            ),
            (
                &[("RESTAGER_MIN_RELEASE_AGE", "-1d")],
                "RESTAGER_MIN_RELEASE_AGE=`-1d` is not valid: expected a duration such as 0s (act at \
                 once), 72h or 3days",
            ),
            (
                &[("RESTAGER_WINDOW", "Sat 02:00-02:30 UTC")],
                "RESTAGER_WINDOW_CUTOFF=`30m` is not valid: `Sat 02:00-02:30 UTC` is open 30m, not \
                 longer than the cutoff of 30m: no restage could ever start in it; lengthen the \
                 window or lower RESTAGER_WINDOW_CUTOFF",
            ),
            (
                &[
                    ("RESTAGER_WINDOW", "Sat 02:00-06:00 UTC"),
                    ("RESTAGER_WINDOW_CUTOFF", "4h"),
                ],
                "RESTAGER_WINDOW_CUTOFF=`4h` is not valid: `Sat 02:00-06:00 UTC` is open 4h, not \
                 longer than the cutoff of 4h: no restage could ever start in it; lengthen the \
                 window or lower RESTAGER_WINDOW_CUTOFF",
            ),
        ];
        for (pairs, message) in table {
            let err = read(pairs).expect_err(message);
            assert_eq!(err.to_string(), *message, "{pairs:?}");
        }
        let err = read(&[("RESTAGER_WINDOW", "Sat 25:00-06:00 UTC")]).expect_err("bad time");
        assert_eq!(err.name(), "RESTAGER_WINDOW");
    }
}
