//! Reading typed values out of environment variables, with errors that name
//! the variable and say what a good value looks like.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use super::{ConfigError, Secret};

/// Where settings come from. The process environment in production, a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Source for HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|v| v.to_string())
    }
}

/// Typed accessors over a [`Source`]. Empty values count as unset.
pub struct Env<'a>(pub &'a dyn Source);

impl Env<'_> {
    pub fn raw(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str, hint: &'static str) -> Result<String, ConfigError> {
        self.raw(name).ok_or(ConfigError::Missing { name, hint })
    }

    pub fn secret(&self, name: &'static str, hint: &'static str) -> Result<Secret, ConfigError> {
        self.required(name, hint).map(Secret::new)
    }

    pub fn optional_secret(&self, name: &str) -> Option<Secret> {
        self.raw(name).map(Secret::new)
    }

    /// A comma-separated list; blanks are dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.raw(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn parsed<T: FromStr>(
        &self,
        name: &'static str,
        default: T,
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        match self.raw(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name,
                value: shorten(&v),
                expected,
            }),
        }
    }

    /// An integer of at least `min`.
    pub fn at_least<T>(&self, name: &'static str, default: T, min: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Copy,
    {
        let value = self.parsed(name, default, "a whole number")?;
        if value < min {
            return Err(ConfigError::Invalid {
                name,
                value: self.raw(name).unwrap_or_default(),
                expected: "a whole number of at least 1",
            });
        }
        Ok(value)
    }

    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::Invalid {
                name,
                value: shorten(&v),
                expected: "true or false",
            }),
        }
    }

    /// A duration in human form: `500ms`, `10s`, `15m`, `1h 30m`.
    pub fn duration(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        match self.raw(name) {
            None => Ok(default),
            Some(v) => match humantime::parse_duration(&v) {
                Ok(d) if !d.is_zero() => Ok(d),
                _ => Err(ConfigError::Invalid {
                    name,
                    value: shorten(&v),
                    expected: "a positive duration such as 500ms, 10s or 15m",
                }),
            },
        }
    }
}

impl Env<'_> {
    /// Like [`duration`](Self::duration), where `0s` means "off".
    pub fn duration_or_off(
        &self,
        name: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match self.raw(name) {
            None => Ok(default),
            Some(v) => humantime::parse_duration(&v).map_err(|_| ConfigError::Invalid {
                name,
                value: shorten(&v),
                expected: "a duration such as 0s (off), 30s or 2m",
            }),
        }
    }
}

fn shorten(v: &str) -> String {
    v.chars().take(64).collect()
}
