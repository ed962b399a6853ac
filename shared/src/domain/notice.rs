//! What was released, independent of how the news arrived (GitHub, a signed
//! notice, a scheduled sweep).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Version;

/// A release announcement. Serialized with the same shape as the body of
/// `POST /webhooks/notice` (see `shared/schema/notice.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Notice {
    #[serde(rename = "buildpack.released")]
    Buildpack {
        /// Admin buildpack name as CF knows it, e.g. `ruby_buildpack`.
        buildpack: String,
        version: Version,
        /// Only apps on this stack are affected when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stack: Option<String>,
    },
    #[serde(rename = "stack.released")]
    Stack { stack: String, version: Version },
    #[serde(rename = "stemcell.released")]
    Stemcell { stemcell: String, version: Version },
}

/// The kind of a notice, used to choose the configured action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Buildpack,
    Stack,
    Stemcell,
}

impl Notice {
    pub fn kind(&self) -> NoticeKind {
        match self {
            Notice::Buildpack { .. } => NoticeKind::Buildpack,
            Notice::Stack { .. } => NoticeKind::Stack,
            Notice::Stemcell { .. } => NoticeKind::Stemcell,
        }
    }

    pub fn version(&self) -> &Version {
        match self {
            Notice::Buildpack { version, .. }
            | Notice::Stack { version, .. }
            | Notice::Stemcell { version, .. } => version,
        }
    }

    /// A stable key naming this release; the same release announced twice
    /// (by GitHub and by a feed, or redelivered) has the same key.
    pub fn release_key(&self) -> String {
        match self {
            Notice::Buildpack {
                buildpack,
                version,
                stack,
            } => match stack {
                Some(stack) => format!("buildpack:{buildpack}:{version}:{stack}"),
                None => format!("buildpack:{buildpack}:{version}"),
            },
            Notice::Stack { stack, version } => format!("stack:{stack}:{version}"),
            Notice::Stemcell { stemcell, version } => format!("stemcell:{stemcell}:{version}"),
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Buildpack {
                buildpack,
                version,
                stack: Some(stack),
            } => write!(f, "{buildpack} {version} ({stack})"),
            Notice::Buildpack {
                buildpack, version, ..
            } => write!(f, "{buildpack} {version}"),
            Notice::Stack { stack, version } => write!(f, "stack {stack} {version}"),
            Notice::Stemcell { stemcell, version } => write!(f, "stemcell {stemcell} {version}"),
        }
    }
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoticeKind::Buildpack => "buildpack",
            NoticeKind::Stack => "stack",
            NoticeKind::Stemcell => "stemcell",
        })
    }
}

/// What to do to an affected app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Stage the live droplet's package again and roll it out.
    Restage,
    /// Roll the current droplet out again (picks up a new rootfs).
    Restart,
    /// Report only.
    None,
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "restage" => Ok(Action::Restage),
            "restart" => Ok(Action::Restart),
            "none" => Ok(Action::None),
            other => Err(format!(
                "`{other}` is not an action: use restage, restart or none"
            )),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Restage => "restage",
            Action::Restart => "restart",
            Action::None => "none",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_round_trips_in_the_documented_shape() {
        let raw = r#"{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"1.10.29","stack":"cflinuxfs4"}"#;
        let notice: Notice = serde_json::from_str(raw).expect("valid notice");
        assert_eq!(notice.kind(), NoticeKind::Buildpack);
        assert_eq!(
            notice.release_key(),
            "buildpack:ruby_buildpack:1.10.29:cflinuxfs4"
        );
        assert_eq!(serde_json::to_string(&notice).expect("serializes"), raw);
    }
}
