//! The character rules for names and versions in notices. They are mirrored
//! by the patterns in `shared/schema/notice.schema.json`; a test checks the two
//! agree, so change both together.

use super::IntakeError;
use super::error::shown;
use crate::domain::Version;

/// Longest accepted buildpack, stack or stemcell name.
pub const MAX_NAME_LEN: usize = 255;
/// Longest accepted version string.
pub const MAX_VERSION_LEN: usize = 64;
/// Longest accepted version component; longer ones overflow a `u64`.
const MAX_COMPONENT_DIGITS: usize = 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// Cloud Controller's rule for buildpack names: word characters and `-`.
    Buildpack,
    /// Stacks (`cflinuxfs4`) and stemcells (`ubuntu-jammy`) may also contain `.`.
    Dotted,
}

impl NameRule {
    fn allows(self, c: u8) -> bool {
        c.is_ascii_alphanumeric()
            || c == b'_'
            || c == b'-'
            || (self == NameRule::Dotted && c == b'.')
    }

    fn describe(self) -> &'static str {
        match self {
            NameRule::Buildpack => {
                "use 1 to 255 ASCII letters, digits, `_` or `-`, e.g. ruby_buildpack"
            }
            NameRule::Dotted => {
                "use 1 to 255 ASCII letters, digits, `.`, `_` or `-`, e.g. cflinuxfs4"
            }
        }
    }
}

pub(crate) fn check_name(
    field: &'static str,
    value: &str,
    rule: NameRule,
) -> Result<(), IntakeError> {
    if value.is_empty() {
        return Err(IntakeError::EmptyField { field });
    }
    if value.len() > MAX_NAME_LEN || !value.bytes().all(|c| rule.allows(c)) {
        return Err(IntakeError::InvalidName {
            field,
            value: shown(value),
            rule: rule.describe(),
        });
    }
    Ok(())
}

/// A notice version: `v?N(.N)*` with at most 18 digits per component and 64
/// characters overall. Stricter than [`Version::parse`] (no whitespace, no
/// trailing dot) so the schema's regular expression can say exactly the same.
pub(crate) fn notice_version(field: &'static str, value: &str) -> Result<Version, IntakeError> {
    let invalid = || IntakeError::InvalidVersion {
        field,
        value: shown(value),
    };
    let digits = value.strip_prefix('v').unwrap_or(value);
    let well_formed = value.len() <= MAX_VERSION_LEN
        && digits.split('.').all(|part| {
            !part.is_empty()
                && part.len() <= MAX_COMPONENT_DIGITS
                && part.bytes().all(|b| b.is_ascii_digit())
        });
    if !well_formed {
        return Err(invalid());
    }
    Version::parse(value).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for good in ["1.10.29", "v1.10.29", "1.622", "0", "999999999999999999"] {
            assert!(notice_version("version", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "v",
            "V1.0",
            "1.",
            ".1",
            "1..2",
            "1.2-rc1",
            " 1.0",
            "1.0 ",
            "1.x",
            "9999999999999999999",
            "١.٢",
        ] {
            assert!(notice_version("version", bad).is_err(), "{bad:?}");
        }
        let long = vec!["1"; 33].join(".");
        assert!(long.len() > MAX_VERSION_LEN);
        assert!(notice_version("version", &long).is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("buildpack", "ruby_buildpack", NameRule::Buildpack).is_ok());
        assert!(check_name("buildpack", "My-Buildpack_2", NameRule::Buildpack).is_ok());
        assert!(check_name("buildpack", "ruby.buildpack", NameRule::Buildpack).is_err());
        assert!(check_name("stack", "cflinuxfs4", NameRule::Dotted).is_ok());
        assert!(check_name("stemcell", "ubuntu-jammy", NameRule::Dotted).is_ok());
        assert_eq!(
            check_name("stack", "", NameRule::Dotted),
            Err(IntakeError::EmptyField { field: "stack" })
        );
        for bad in ["ruby buildpack", "ruby/bp", "rüby", "a\nb"] {
            assert!(
                check_name("buildpack", bad, NameRule::Buildpack).is_err(),
                "{bad:?}"
            );
        }
        assert!(check_name("stack", &"a".repeat(256), NameRule::Dotted).is_err());
        assert!(check_name("stack", &"a".repeat(255), NameRule::Dotted).is_ok());
    }
}
