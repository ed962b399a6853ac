//! Space and organization quotas as Cloud Controller keeps and checks them
//! (cloud_controller_ng at 3bbba906):
//!
//! - every org has a quota (`QuotaDefinition`, the foundation's `default`
//!   unless another is applied); a space has a space quota or none
//!   (`SpaceQuotaDefinition`, app/models/runtime/space_quota_definition.rb).
//!   Unlimited is -1 in CC and `null` in the presenters; `None` here.
//! - used memory is every STARTED process's memory × instances plus running
//!   and pending tasks (`Space#memory_used`, `Organization#memory_used`,
//!   app/models/runtime/space.rb:344, organization.rb:230); used instances
//!   are the STARTED processes' instances (max_app_instances_policy.rb).
//!   A process is STARTED when its app is (the simulator has no tasks).
//!   Staging is **not** counted: a build only needs that much to remain
//!   (`has_remaining_memory`, quota_validating_staging_memory_calculator.rb),
//!   space first, then org.
//! - a process that starts or grows is validated against both quotas in
//!   ProcessModel's order (process_model.rb:246-252): space memory, org
//!   memory, org instances, space instances; every failing policy adds an
//!   error and Sequel joins them, e.g. `memory space_quota_exceeded`.

use chrono::{DateTime, Utc};

use crate::model::{AppState, impl_row};
use crate::world::World;

/// The foundation's default org quota, which every simulated org starts with.
pub(crate) const DEFAULT_ORG_QUOTA: &str = "a1f9b7c4-0000-4000-8000-000000000001";

/// A quota's app limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    pub memory_mb: Option<u64>,
    pub instances: Option<u64>,
}

pub(crate) struct SpaceQuota {
    pub guid: String,
    pub name: String,
    pub org_guid: String,
    pub limits: QuotaLimits,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl_row!(SpaceQuota);

pub(crate) struct OrgQuota {
    pub guid: String,
    pub name: String,
    pub limits: QuotaLimits,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl_row!(OrgQuota);

/// A limit a starting or growing process would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Breach {
    SpaceMemory,
    OrgMemory,
    OrgInstances,
    SpaceInstances,
}

impl Breach {
    /// The Sequel full message of the policy's error.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Breach::SpaceMemory => "memory space_quota_exceeded",
            Breach::OrgMemory => "memory quota_exceeded",
            Breach::OrgInstances => "app_instance_limit app_instance_limit_exceeded",
            Breach::SpaceInstances => "app_instance_limit space_app_instance_limit_exceeded",
        }
    }

    fn is_space(self) -> bool {
        matches!(self, Breach::SpaceMemory | Breach::SpaceInstances)
    }
}

/// `Sequel::ValidationFailed#message`: the errors joined with ", ".
pub(crate) fn joined(breaches: &[Breach]) -> String {
    breaches
        .iter()
        .map(|b| b.message())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `DeploymentCreate.enhanced_deployment_create_error` (deployment_create.rb):
/// the space's words when any space quota broke, else the org's.
pub(crate) fn deployment_refusal(breaches: &[Breach], space: &str, org: &str) -> String {
    let base = joined(breaches);
    if breaches.iter().any(|b| b.is_space()) {
        format!(
            "{base} for space {space}. This space's quota may not be large enough to support rolling deployments or your configured max-in-flight."
        )
    } else {
        format!(
            "{base} for organization {org}. This organization's quota may not be large enough to support rolling deployments or your configured max-in-flight."
        )
    }
}

/// Memory (MB) and instances counted against a quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    pub memory_mb: u64,
    pub instances: u64,
}

/// The org quotas a fresh world has: the foundation's default, with
/// `memory_mb` as its total memory (`SimConfig::org_memory_quota_mb`).
pub(crate) fn default_org_quota(memory_mb: Option<u64>) -> crate::model::Table<OrgQuota> {
    let mut quotas = crate::model::Table::default();
    let at = Utc::now();
    quotas.insert(OrgQuota {
        guid: DEFAULT_ORG_QUOTA.to_owned(),
        name: "default".to_owned(),
        limits: QuotaLimits {
            memory_mb,
            instances: None,
        },
        created_at: at,
        updated_at: at,
    });
    quotas
}

impl World {
    fn usage_where(&self, mut in_scope: impl FnMut(&str) -> bool) -> QuotaUsage {
        let mut used = QuotaUsage::default();
        for app in self.apps.iter() {
            if app.state != AppState::Started || !in_scope(&app.space_guid) {
                continue;
            }
            for p in self.live_processes(&app.guid) {
                let n = u64::from(p.instances());
                used.memory_mb += n * p.memory_mb;
                used.instances += n;
            }
        }
        used
    }

    pub(crate) fn space_usage(&self, space_guid: &str) -> QuotaUsage {
        self.usage_where(|s| s == space_guid)
    }

    pub(crate) fn org_usage(&self, org_guid: &str) -> QuotaUsage {
        self.usage_where(|s| self.spaces.get(s).is_some_and(|s| s.org_guid == org_guid))
    }

    pub(crate) fn space_limits(&self, space_guid: &str) -> QuotaLimits {
        self.spaces
            .get(space_guid)
            .and_then(|s| s.quota_guid.as_deref())
            .and_then(|q| self.space_quotas.get(q))
            .map(|q| q.limits)
            .unwrap_or_default()
    }

    pub(crate) fn org_limits(&self, org_guid: &str) -> QuotaLimits {
        self.orgs
            .get(org_guid)
            .and_then(|o| self.org_quotas.get(&o.quota_guid))
            .map(|q| q.limits)
            .unwrap_or_default()
    }

    /// Why staging `mb` for `app_guid` is refused (builds_controller.rb:74-77).
    pub(crate) fn staging_refusal(&self, app_guid: &str, mb: u64) -> Option<String> {
        let space = self.apps.get(app_guid)?.space_guid.clone();
        let org = self.spaces.get(&space)?.org_guid.clone();
        let remaining = |limit: Option<u64>, used: u64| limit.is_none_or(|l| l >= used + mb);
        if !remaining(
            self.space_limits(&space).memory_mb,
            self.space_usage(&space).memory_mb,
        ) {
            return Some(format!(
                "space's memory limit exceeded: staging requires {mb}M memory"
            ));
        }
        if !remaining(
            self.org_limits(&org).memory_mb,
            self.org_usage(&org).memory_mb,
        ) {
            return Some(format!(
                "organization's memory limit exceeded: staging requires {mb}M memory"
            ));
        }
        None
    }

    /// What `app_guid` starting `extra_instances` more instances of
    /// `memory_mb` each would break, in ProcessModel's validation order,
    /// once `freed` (scaled down earlier in the same transaction) is gone.
    pub(crate) fn process_breaches(
        &self,
        app_guid: &str,
        extra_instances: u64,
        memory_mb: u64,
        freed: QuotaUsage,
    ) -> Vec<Breach> {
        let Some(space) = self.apps.get(app_guid).map(|a| a.space_guid.clone()) else {
            return Vec::new();
        };
        let Some(org) = self.spaces.get(&space).map(|s| s.org_guid.clone()) else {
            return Vec::new();
        };
        if extra_instances == 0 {
            return Vec::new();
        }
        let less = |u: QuotaUsage| QuotaUsage {
            memory_mb: u.memory_mb.saturating_sub(freed.memory_mb),
            instances: u.instances.saturating_sub(freed.instances),
        };
        let (sl, su) = (self.space_limits(&space), less(self.space_usage(&space)));
        let (ol, ou) = (self.org_limits(&org), less(self.org_usage(&org)));
        let extra_mb = extra_instances * memory_mb;
        let over =
            |limit: Option<u64>, used: u64, extra: u64| limit.is_some_and(|l| used + extra > l);
        let mut out = Vec::new();
        if over(sl.memory_mb, su.memory_mb, extra_mb) {
            out.push(Breach::SpaceMemory);
        }
        if over(ol.memory_mb, ou.memory_mb, extra_mb) {
            out.push(Breach::OrgMemory);
        }
        if over(ol.instances, ou.instances, extra_instances) {
            out.push(Breach::OrgInstances);
        }
        if over(sl.instances, su.instances, extra_instances) {
            out.push(Breach::SpaceInstances);
        }
        out
    }
}
