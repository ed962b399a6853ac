//! Deployments: the rolling restage's rollout and its status.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::*;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentDetails {
    /// Only present while the deployment updater hit an error (e.g. quota).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub last_successful_healthcheck: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub last_status_change: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub value: DeploymentStatusValue,
    pub reason: DeploymentStatusReason,
    #[serde(default, deserialize_with = "null_details")]
    pub details: DeploymentDetails,
    /// Canary deployments only, from CC 3.189 (FINDINGS.md §3, Deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
}

/// `status.canary`: which step a canary is at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryStatus {
    #[serde(default)]
    pub steps: CanarySteps,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanarySteps {
    /// 1-based; null on canaries created before CC set it (3.173–3.188).
    #[serde(default)]
    pub current: Option<u32>,
    #[serde(default)]
    pub total: Option<u32>,
}

pub(super) fn null_details<'de, D: Deserializer<'de>>(d: D) -> Result<DeploymentDetails, D::Error> {
    Ok(Option::<DeploymentDetails>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentOptions {
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    #[serde(default)]
    pub web_instances: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub guid: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub guid: String,
    pub status: DeploymentStatus,
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub options: Option<DeploymentOptions>,
    #[serde(default)]
    pub droplet: Option<GuidRef>,
    #[serde(default)]
    pub previous_droplet: Option<GuidRef>,
    #[serde(default, deserialize_with = "null_vec")]
    pub new_processes: Vec<ProcessRef>,
    #[serde(default, deserialize_with = "null_default")]
    pub relationships: AppRelationship,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Deployment {
    pub fn is_active(&self) -> bool {
        self.status.value == DeploymentStatusValue::Active
    }

    pub fn is_finalized(&self) -> bool {
        self.status.value == DeploymentStatusValue::Finalized
    }

    /// FINALIZED/DEPLOYED: the only successful end.
    pub fn is_deployed(&self) -> bool {
        self.is_finalized() && self.status.reason == DeploymentStatusReason::Deployed
    }

    pub fn is_canary(&self) -> bool {
        self.strategy.as_deref() == Some("canary")
    }

    /// The canary step CC says it is at, where it says (3.189+).
    pub fn canary_step(&self) -> Option<u32> {
        self.status.canary.as_ref().and_then(|c| c.steps.current)
    }

    pub fn droplet_guid(&self) -> Option<&str> {
        self.droplet.as_ref().and_then(GuidRef::guid)
    }

    /// `None` when there was no previous droplet (`{"guid": null}`).
    pub fn previous_droplet_guid(&self) -> Option<&str> {
        self.previous_droplet.as_ref().and_then(GuidRef::guid)
    }

    pub fn app_guid(&self) -> Option<&str> {
        self.relationships.app.guid()
    }

    /// The updater's last error (e.g. "memory quota_exceeded"), worth surfacing
    /// even while the deployment is still ACTIVE.
    pub fn error(&self) -> Option<&str> {
        self.status
            .details
            .error
            .as_deref()
            .filter(|e| !e.trim().is_empty())
    }
}
