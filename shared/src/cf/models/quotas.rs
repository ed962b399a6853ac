//! Space and organization quotas: the limits that a space's rolling
//! restages share (SpaceQuotaPresenter, OrganizationQuotaPresenter in
//! cloud_controller_ng app/presenters/v3/). Unlimited is `null` (the
//! presenters turn CC's -1 into nil), which reads as `None` here.

use serde::{Deserialize, Serialize};

use super::*;

/// `apps`: the limits restages run into.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppLimits {
    /// Memory of all STARTED processes' instances (and running tasks).
    #[serde(default)]
    pub total_memory_in_mb: Option<u64>,
    /// Instances of all STARTED processes.
    #[serde(default)]
    pub total_instances: Option<u64>,
    #[serde(default)]
    pub per_process_memory_in_mb: Option<u64>,
}

/// A to-many relationship: `{"data": [{"guid": ...}, ...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToMany {
    #[serde(default, deserialize_with = "null_vec")]
    pub data: Vec<GuidRef>,
}

impl ToMany {
    pub fn guids(&self) -> impl Iterator<Item = &str> {
        self.data.iter().filter_map(GuidRef::guid)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceQuotaRelationships {
    #[serde(default, deserialize_with = "null_default")]
    pub organization: ToOne,
    /// Only the spaces the client can see.
    #[serde(default, deserialize_with = "null_default")]
    pub spaces: ToMany,
}

pub type SpaceQuota = Quota<SpaceQuotaRelationships>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationQuotaRelationships {
    /// Only the organizations the client can see.
    #[serde(default, deserialize_with = "null_default")]
    pub organizations: ToMany,
}

pub type OrganizationQuota = Quota<OrganizationQuotaRelationships>;

/// A space or an organization quota: CC presents both alike but for what
/// they apply to (`R`, their relationships).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "R: Deserialize<'de> + Default"))]
pub struct Quota<R> {
    pub guid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub apps: AppLimits,
    #[serde(default, deserialize_with = "null_default")]
    pub relationships: R,
}
