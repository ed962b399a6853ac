//! How a run is rolled out: in which waves, with what error budget, and
//! how long each finished wave is watched before the next goes.

use std::fmt;
use std::time::Duration;

use super::{ConfigError, Env};

/// `RESTAGER_WAVES`'s accepted syntax, for error messages.
pub const WAVES_SYNTAX: &str = "waves separated by `;`, each a comma-separated list of space patterns \
     (`space`, `org/space`, `*` globs, case-insensitive), e.g. `*/dev*,*/test*;*/staging*;*`";

/// The space label that puts a space's apps in a wave of its own choosing.
pub const WAVE_LABEL: &str = "restager.io/wave";

/// One space pattern: `space` (in any org) or `org/space`, `*` matching any
/// run of characters, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpacePattern {
    org: Option<String>,
    space: String,
}

impl SpacePattern {
    fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim().to_lowercase();
        let (org, space) = match raw.split_once('/') {
            Some((org, space)) => (Some(org.trim().to_string()), space.trim().to_string()),
            None => (None, raw.clone()),
        };
        let bad = |s: &str| s.is_empty() || s.contains('/') || s.contains(char::is_whitespace);
        if bad(&space) || org.as_deref().is_some_and(bad) {
            return None;
        }
        Some(Self { org, space })
    }

    pub fn matches(&self, org: &str, space: &str) -> bool {
        glob(&self.space, &space.to_lowercase())
            && self
                .org
                .as_deref()
                .is_none_or(|o| glob(o, &org.to_lowercase()))
    }
}

impl fmt::Display for SpacePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.org {
            Some(org) => write!(f, "{org}/{}", self.space),
            None => f.write_str(&self.space),
        }
    }
}

/// `*` matches any run of characters (none included); everything else
/// itself. Iterative with one backtrack point, so no input is slow.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The configured waves, in order; empty means one wave of everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaveSpec {
    waves: Vec<Vec<SpacePattern>>,
}

impl WaveSpec {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self::default());
        }
        let mut waves = Vec::new();
        for (n, wave) in raw.split(';').enumerate() {
            let mut patterns = Vec::new();
            for part in wave.split(',').filter(|p| !p.trim().is_empty()) {
                patterns.push(SpacePattern::parse(part).ok_or_else(|| {
                    format!("wave {}: `{}` is not a space pattern", n + 1, part.trim())
                })?);
            }
            if patterns.is_empty() {
                return Err(format!("wave {} has no space pattern", n + 1));
            }
            waves.push(patterns);
        }
        Ok(Self { waves })
    }

    /// How many waves the patterns make (at least 1).
    pub fn len(&self) -> usize {
        self.waves.len().max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.waves.is_empty()
    }

    /// The wave number (1-based) of a space: the first wave with a
    /// matching pattern, else the last.
    pub fn wave_of(&self, org: &str, space: &str) -> u32 {
        let found = self
            .waves
            .iter()
            .position(|w| w.iter().any(|p| p.matches(org, space)))
            .unwrap_or(self.len().saturating_sub(1));
        u32::try_from(found + 1).unwrap_or(u32::MAX)
    }

    /// A wave's patterns as written, `None` past the configured ones.
    pub fn describe(&self, wave: u32) -> Option<String> {
        let w = self.waves.get((wave as usize).checked_sub(1)?)?;
        Some(
            w.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
    }
}

/// `RESTAGER_MAX_FAILURES`: how many failures a run may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureBudget {
    Count(usize),
    /// A share of the run's jobs, rounded up, at least 1.
    Percent(u32),
}

impl FailureBudget {
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        match raw.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= 100)
                .map(Self::Percent),
            None => raw.parse::<usize>().ok().map(Self::Count),
        }
    }

    /// The failures a run of `jobs` jobs may have before it halts.
    pub fn allowed(&self, jobs: usize) -> usize {
        match *self {
            FailureBudget::Count(n) => n,
            FailureBudget::Percent(p) => (jobs * p as usize).div_ceil(100).max(1),
        }
    }
}

impl fmt::Display for FailureBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureBudget::Count(n) => write!(f, "{n}"),
            FailureBudget::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Waves, error budget and soak, as every planner applies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutSettings {
    pub waves: WaveSpec,
    pub max_failures: FailureBudget,
    /// Wait after a wave's last restage before the next wave starts.
    pub soak: Duration,
}

impl Default for RolloutSettings {
    fn default() -> Self {
        Self {
            waves: WaveSpec::default(),
            max_failures: FailureBudget::Percent(10),
            soak: Duration::from_secs(600),
        }
    }
}

impl RolloutSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let waves = match env.raw("RESTAGER_WAVES") {
            Some(raw) => WaveSpec::parse(&raw).map_err(|why| ConfigError::Invalid {
                name: "RESTAGER_WAVES",
                value: format!("{} ({why})", raw.chars().take(64).collect::<String>()),
                expected: WAVES_SYNTAX,
            })?,
            None => d.waves,
        };
        let max_failures = match env.raw("RESTAGER_MAX_FAILURES") {
            Some(raw) => FailureBudget::parse(&raw).ok_or_else(|| ConfigError::Invalid {
                name: "RESTAGER_MAX_FAILURES",
                value: raw.chars().take(64).collect(),
                expected: "a count (`3`) or a share of the run's jobs (`10%`, at most 100%)",
            })?,
            None => d.max_failures,
        };
        Ok(Self {
            waves,
            max_failures,
            soak: env.duration("RESTAGER_WAVE_SOAK", d.soak)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_case_insensitively() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("*", "prod", true),
            ("dev*", "dev-eu", true),
            ("dev*", "prod", false),
            ("*dev*", "my-dev-1", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("staging", "staging", true),
            ("staging", "staging2", false),
        ] {
            assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn spaces_join_the_first_matching_wave_or_the_last() {
        let spec = WaveSpec::parse("*/dev*,*/test*;*/staging*;*").expect("parses");
        assert_eq!(spec.len(), 3);
        assert_eq!(spec.wave_of("acme", "DEV-eu"), 1);
        assert_eq!(spec.wave_of("acme", "test"), 1);
        assert_eq!(spec.wave_of("acme", "staging"), 2);
        assert_eq!(spec.wave_of("acme", "prod"), 3);
        let two = WaveSpec::parse("acme/dev;beta").expect("parses");
        assert_eq!(two.wave_of("acme", "dev"), 1);
        assert_eq!(two.wave_of("other", "dev"), 2, "no match: the last wave");
        assert_eq!(two.describe(1).as_deref(), Some("acme/dev"));
        assert_eq!(WaveSpec::default().wave_of("a", "b"), 1);
    }

    #[test]
    fn bad_waves_and_budgets_are_refused() {
        assert!(WaveSpec::parse("dev;;prod").is_err());
        assert!(WaveSpec::parse("a/b/c").is_err());
        assert!(WaveSpec::parse("dev space").is_err());
        assert_eq!(FailureBudget::parse("3"), Some(FailureBudget::Count(3)));
        assert_eq!(
            FailureBudget::parse("10%"),
            Some(FailureBudget::Percent(10))
        );
        assert_eq!(FailureBudget::parse("101%"), None);
        assert_eq!(FailureBudget::parse("-1"), None);
        assert_eq!(FailureBudget::parse("lots"), None);
    }

    #[test]
    fn a_share_rounds_up_and_is_at_least_one() {
        let ten = FailureBudget::Percent(10);
        assert_eq!(ten.allowed(5), 1);
        assert_eq!(ten.allowed(30), 3);
        assert_eq!(ten.allowed(31), 4);
        assert_eq!(FailureBudget::Percent(0).allowed(50), 1);
        assert_eq!(FailureBudget::Count(0).allowed(50), 0);
    }

    #[test]
    fn settings_name_the_variable() {
        let vars = std::collections::HashMap::from([("RESTAGER_MAX_FAILURES", "many")]);
        let err = RolloutSettings::from_env(&Env(&vars)).expect_err("refused");
        assert_eq!(err.name(), "RESTAGER_MAX_FAILURES");
        let vars = std::collections::HashMap::from([("RESTAGER_WAVES", "dev;;prod")]);
        let err = RolloutSettings::from_env(&Env(&vars)).expect_err("refused");
        assert!(
            err.to_string().contains("wave 2 has no space pattern"),
            "{err}"
        );
    }
}
