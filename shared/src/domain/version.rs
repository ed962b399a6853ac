//! Release versions, compared numerically component by component.
//!
//! Buildpack versions are compared as numbers because string order gets
//! `1.10.3 < 1.9.0` wrong, which would skip exactly the apps that need a patch.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A dotted numeric version such as `1.10.29` or `1.622`. A leading `v` is accepted.
#[derive(Debug, Clone)]
pub struct Version {
    parts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a version: expected dotted numbers like 1.10.29 (a leading v is allowed)"
)]
pub struct VersionError {
    pub input: String,
}

impl Version {
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let err = || VersionError {
            input: input.chars().take(64).collect(),
        };
        let trimmed = input.trim();
        let digits = trimmed
            .strip_prefix('v')
            .or_else(|| trimmed.strip_prefix('V'))
            .unwrap_or(trimmed);
        // Droplets report versions like "1.1.1." (see the CC docs example); a
        // trailing dot is tolerated there, nothing else is.
        let digits = digits.strip_suffix('.').unwrap_or(digits);
        if digits.is_empty() {
            return Err(err());
        }
        let parts = digits
            .split('.')
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                p.parse::<u64>().map_err(|_| err())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { parts })
    }

    pub fn parts(&self) -> &[u64] {
        &self.parts
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        // Missing components count as zero, so 1.2 == 1.2.0.
        let len = self.parts.len().max(other.parts.len());
        for i in 0..len {
            let a = self.parts.get(i).copied().unwrap_or(0);
            let b = other.parts.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        Ordering::Equal
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal versions must hash alike, so trailing zeros are ignored.
        let significant = self
            .parts
            .iter()
            .rposition(|p| *p != 0)
            .map_or(0, |i| i + 1);
        self.parts[..significant].hash(state);
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for p in &self.parts {
            if !first {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
            first = false;
        }
        Ok(())
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Version::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("valid version")
    }

    #[test]
    fn compares_numerically_not_as_strings() {
        assert!(v("1.10.3") > v("1.9.0"));
        assert!(v("v1.10.29") > v("1.10.3"));
        assert_eq!(v("1.2"), v("1.2.0"));
        assert!(v("1.622") > v("1.99"));
    }

    #[test]
    fn accepts_prefix_and_trailing_dot_and_displays_canonically() {
        assert_eq!(v("v1.10.29").to_string(), "1.10.29");
        assert_eq!(v("1.1.1.").to_string(), "1.1.1");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "v", "1..2", "1.2-rc1", "abc", "1.x", ".1"] {
            assert!(Version::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
