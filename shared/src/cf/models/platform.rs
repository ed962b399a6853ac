//! What the foundation has installed: buildpacks and stacks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buildpack {
    #[serde(default)]
    pub guid: Option<String>,
    pub name: String,
    #[serde(default)]
    pub stack: Option<String>,
    /// Carries the version: `ruby_buildpack-cflinuxfs4-v1.10.3.zip`.
    #[serde(default)]
    pub filename: Option<String>,
    pub state: BuildpackState,
    #[serde(default, deserialize_with = "null_default")]
    pub position: u32,
    #[serde(default = "yes", deserialize_with = "null_yes")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub locked: bool,
    #[serde(default)]
    pub lifecycle: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Changes when the bits are re-uploaded.
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

pub(super) fn yes() -> bool {
    true
}

pub(super) fn null_yes<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

impl Buildpack {
    /// The version in `filename`; the buildpack object has no version field.
    pub fn version(&self) -> Option<Version> {
        self.filename.as_deref().and_then(version_from_filename)
    }
}

/// Parses the version out of an uploaded buildpack's file name, e.g.
/// `python_buildpack-cflinuxfs3-v1.7.43.zip` → 1.7.43. The version is the
/// last `-`-separated segment that starts with `v` or a digit and parses.
pub fn version_from_filename(filename: &str) -> Option<Version> {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let stem = [".zip", ".tgz", ".tar.gz"]
        .iter()
        .find_map(|ext| base.strip_suffix(ext))
        .unwrap_or(base);
    stem.rsplit(['-', '_']).find_map(|segment| {
        let digits = segment
            .strip_prefix('v')
            .or_else(|| segment.strip_prefix('V'))
            .unwrap_or(segment);
        if !digits.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        // Drop build metadata such as `+1234` before parsing.
        let core = digits.split(['+']).next().unwrap_or(digits);
        Version::parse(core).ok()
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    #[serde(default)]
    pub guid: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub state: StackState,
    #[serde(default)]
    pub state_reason: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub default: bool,
}

/// One audit event (app/presenters/v3/event_presenter.rb). restager reads
/// `audit.app.process.crash`, whose `data` is Diego's crash report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub guid: String,
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_default")]
    pub data: CrashData,
    /// What the event is about; `nil` when the event has no target
    /// (app/presenters/v3/event_presenter.rb), its guid the app's for crashes.
    #[serde(default)]
    pub target: Option<EventTarget>,
}

impl AuditEvent {
    pub fn target_guid(&self) -> Option<&str> {
        self.target.as_ref()?.guid.as_deref()
    }
}

/// `target` of an event (event_presenter.rb: guid, type, name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventTarget {
    #[serde(default)]
    pub guid: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `data` of `audit.app.process.crash` (app/repositories/process_event_repository.rb).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrashData {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub exit_status: Option<i64>,
    #[serde(default)]
    pub exit_description: Option<String>,
    /// The process version (guid) that crashed.
    #[serde(default)]
    pub version: Option<String>,
}

impl AuditEvent {
    /// `instance 0: APP/PROC/WEB: Exited with status 1`.
    pub fn crash_evidence(&self) -> String {
        let d = &self.data;
        let index = d
            .index
            .map_or_else(|| "an instance".to_string(), |i| format!("instance {i}"));
        let what = d
            .exit_description
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(d.reason.as_deref())
            .unwrap_or("crashed");
        match d.exit_status {
            Some(code) if !what.contains(&format!("status {code}")) => {
                format!("{index}: {what} (exit status {code})")
            }
            _ => format!("{index}: {what}"),
        }
    }
}
