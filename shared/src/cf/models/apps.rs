//! Apps, spaces and organizations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleData {
    /// What the developer asked for; often empty (auto-detect).
    #[serde(default, deserialize_with = "null_vec")]
    pub buildpacks: Vec<String>,
    #[serde(default)]
    pub stack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    #[serde(rename = "type")]
    pub kind: LifecycleType,
    #[serde(default, deserialize_with = "null_default")]
    pub data: LifecycleData,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRelationships {
    #[serde(default, deserialize_with = "null_default")]
    pub space: ToOne,
    /// `None` when the object has no such relationship (older CC), which is
    /// not the same as a relationship to no droplet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_droplet: Option<ToOne>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub guid: String,
    pub name: String,
    pub state: AppState,
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default, deserialize_with = "null_default")]
    pub relationships: AppRelationships,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl App {
    pub fn space_guid(&self) -> Option<&str> {
        self.relationships.space.guid()
    }

    /// The live droplet's guid, when the app object names one.
    pub fn current_droplet_guid(&self) -> Option<&str> {
        self.relationships.current_droplet.as_ref()?.guid()
    }

    pub fn current_droplet(&self) -> CurrentDroplet<'_> {
        match &self.relationships.current_droplet {
            None => CurrentDroplet::NotReported,
            Some(rel) => rel
                .guid()
                .map_or(CurrentDroplet::None, CurrentDroplet::Guid),
        }
    }

    pub fn lifecycle_type(&self) -> Option<&LifecycleType> {
        self.lifecycle.as_ref().map(|l| &l.kind)
    }

    /// The configured stack (what `stacks=` filters on), not the running droplet's.
    pub fn stack(&self) -> Option<&str> {
        self.lifecycle
            .as_ref()
            .and_then(|l| l.data.stack.as_deref())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceRelationships {
    #[serde(default, deserialize_with = "null_default")]
    pub organization: ToOne,
    /// The space quota; `data` null without one.
    #[serde(default, deserialize_with = "null_default")]
    pub quota: ToOne,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    pub guid: String,
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub relationships: SpaceRelationships,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
}

impl Space {
    pub fn organization_guid(&self) -> Option<&str> {
        self.relationships.organization.guid()
    }

    pub fn quota_guid(&self) -> Option<&str> {
        self.relationships.quota.guid()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub guid: String,
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub relationships: OrganizationRelationships,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationRelationships {
    /// The organization quota (every org has one).
    #[serde(default, deserialize_with = "null_default")]
    pub quota: ToOne,
}

impl Organization {
    pub fn quota_guid(&self) -> Option<&str> {
        self.relationships.quota.guid()
    }
}
