//! Processes and their instance stats.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub guid: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub instances: u32,
    #[serde(default)]
    pub memory_in_mb: Option<u64>,
    #[serde(default, deserialize_with = "null_default")]
    pub relationships: AppRelationship,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
}

/// One instance from `GET /v3/processes/:guid/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStats {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub index: u32,
    pub state: InstanceState,
    /// Readiness; older CC releases omit it, meaning RUNNING implies routable.
    #[serde(default)]
    pub routable: Option<bool>,
    /// Seconds; null for DOWN instances, and negative when the cell's clock
    /// runs ahead of Cloud Controller's.
    #[serde(default)]
    pub uptime: Option<i64>,
    #[serde(default)]
    pub details: Option<String>,
}

impl InstanceStats {
    /// RUNNING and, where CC reports readiness, routable.
    pub fn is_routable(&self) -> bool {
        self.state == InstanceState::Running && self.routable.unwrap_or(true)
    }
}

/// The `resources` of a process stats response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStats {
    #[serde(default, deserialize_with = "null_vec")]
    pub resources: Vec<InstanceStats>,
}

impl ProcessStats {
    pub fn running(&self) -> usize {
        self.resources
            .iter()
            .filter(|i| i.state == InstanceState::Running)
            .count()
    }

    pub fn routable(&self) -> usize {
        self.resources.iter().filter(|i| i.is_routable()).count()
    }

    /// Every instance CRASHED (and there is at least one).
    pub fn all_crashed(&self) -> bool {
        !self.resources.is_empty()
            && self
                .resources
                .iter()
                .all(|i| i.state == InstanceState::Crashed)
    }
}
