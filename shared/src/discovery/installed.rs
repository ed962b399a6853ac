//! Which buildpack versions the foundation has installed, per stack.
//!
//! `/v3/buildpacks` has no version field; the version is parsed from the
//! uploaded `filename` ([`Buildpack::version`]). A buildpack without a stack
//! serves every stack. Disabled buildpacks and ones still awaiting their
//! upload cannot stage anything, so they do not count as installed.

use std::fmt::Write as _;

use crate::cf::{Buildpack, BuildpackState, CfClient, CfError};
use crate::domain::Version;

/// The usable admin buildpacks of a foundation.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    stack: Option<String>,
    version: Version,
}

impl Installed {
    pub async fn fetch(cf: &CfClient) -> Result<Self, CfError> {
        Ok(Self::from_buildpacks(&cf.list_buildpacks().await?))
    }

    pub fn from_buildpacks(buildpacks: &[Buildpack]) -> Self {
        let entries = buildpacks
            .iter()
            .filter(|b| b.enabled && b.state == BuildpackState::Ready)
            // Cloud Native Buildpacks are not what classic droplets name.
            .filter(|b| b.lifecycle.as_deref().is_none_or(|l| l == "buildpack"))
            .filter_map(|b| {
                Some(Entry {
                    name: b.name.clone(),
                    stack: b.stack.clone().filter(|s| !s.is_empty()),
                    version: b.version()?,
                })
            })
            .collect();
        Self { entries }
    }

    /// The newest installed version of `name` usable on `stack`; `None` for
    /// the stack means "on any stack".
    pub fn version_for(&self, name: &str, stack: Option<&str>) -> Option<&Version> {
        self.entries
            .iter()
            .filter(|e| e.name == name)
            .filter(|e| match (stack, e.stack.as_deref()) {
                (Some(wanted), Some(has)) => wanted == has,
                _ => true,
            })
            .map(|e| &e.version)
            .max()
    }

    /// Names of every installed buildpack (each once, in first-seen order).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for e in &self.entries {
            if !names.contains(&e.name.as_str()) {
                names.push(&e.name);
            }
        }
        names
    }

    /// `1.10.29 on cflinuxfs4, 1.10.28 on cflinuxfs3`, or `none` — for
    /// messages that explain why nothing was queued.
    pub fn describe(&self, name: &str) -> String {
        let mut out = String::new();
        for e in self.entries.iter().filter(|e| e.name == name) {
            if !out.is_empty() {
                out.push_str(", ");
            }
            let _ = match &e.stack {
                Some(stack) => write!(out, "{} on {stack}", e.version),
                None => write!(out, "{} (any stack)", e.version),
            };
        }
        if out.is_empty() {
            out.push_str("none");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bp(name: &str, stack: Option<&str>, file: &str, enabled: bool, state: &str) -> Buildpack {
        serde_json::from_value(json!({
            "name": name, "stack": stack, "filename": file, "enabled": enabled, "state": state,
        }))
        .expect("buildpack json")
    }

    #[test]
    fn newest_usable_version_per_stack() {
        let installed = Installed::from_buildpacks(&[
            bp(
                "ruby_buildpack",
                Some("cflinuxfs4"),
                "ruby_buildpack-cflinuxfs4-v1.10.29.zip",
                true,
                "READY",
            ),
            bp(
                "ruby_buildpack",
                Some("cflinuxfs3"),
                "ruby_buildpack-cflinuxfs3-v1.10.9.zip",
                true,
                "READY",
            ),
            bp(
                "ruby_buildpack",
                Some("cflinuxfs5"),
                "ruby_buildpack-cflinuxfs5-v1.11.0.zip",
                false,
                "READY",
            ),
            bp(
                "go_buildpack",
                None,
                "go_buildpack-v1.10.48.zip",
                true,
                "AWAITING_UPLOAD",
            ),
        ]);
        let v = |s: &str| Version::parse(s).expect("version");
        assert_eq!(
            installed.version_for("ruby_buildpack", Some("cflinuxfs4")),
            Some(&v("1.10.29"))
        );
        assert_eq!(
            installed.version_for("ruby_buildpack", Some("cflinuxfs3")),
            Some(&v("1.10.9"))
        );
        assert_eq!(
            installed.version_for("ruby_buildpack", None),
            Some(&v("1.10.29"))
        );
        assert_eq!(
            installed.version_for("ruby_buildpack", Some("cflinuxfs5")),
            None
        );
        assert_eq!(installed.version_for("go_buildpack", None), None);
        assert_eq!(
            installed.describe("ruby_buildpack"),
            "1.10.29 on cflinuxfs4, 1.10.9 on cflinuxfs3"
        );
        assert_eq!(installed.describe("php_buildpack"), "none");
    }
}
