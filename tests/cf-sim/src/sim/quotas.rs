//! Quotas, as an operator sets them (`cf create-quota` + `cf set-quota`,
//! `cf create-space-quota` + `cf set-space-quota`), what counts against
//! them now, and a human scaling an app (`cf scale`), which moves that
//! usage under a restager's feet.

use chrono::Utc;

use super::{ActionError, CfSim};
use crate::quota::{OrgQuota, QuotaLimits, QuotaUsage, SpaceQuota};
use crate::world::World;

impl World {
    fn org_guid_named(&self, org: &str) -> Result<String, ActionError> {
        self.orgs
            .iter()
            .find(|o| o.name == org)
            .map(|o| o.guid.clone())
            .ok_or_else(|| ActionError::Refused(format!("no org named {org}")))
    }

    fn space_guid_named(&self, org: &str, space: &str) -> Result<String, ActionError> {
        let org_guid = self.org_guid_named(org)?;
        self.spaces
            .iter()
            .find(|s| s.org_guid == org_guid && s.name == space)
            .map(|s| s.guid.clone())
            .ok_or_else(|| ActionError::Refused(format!("no space {org}/{space}")))
    }
}

impl CfSim {
    /// Gives `org` a quota of its own with `limits` (replacing its limits
    /// if it has one already); returns the quota's guid.
    pub fn set_org_quota(&self, org: &str, limits: QuotaLimits) -> Result<String, ActionError> {
        let mut w = self.shared.lock();
        let org_guid = w.org_guid_named(org)?;
        let name = format!("{org}-quota");
        let existing = w
            .org_quotas
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.guid.clone());
        let at = Utc::now();
        let guid = match existing {
            Some(g) => {
                if let Some(q) = w.org_quotas.get_mut(&g) {
                    q.limits = limits;
                    q.updated_at = at;
                }
                g
            }
            None => {
                let g = w.guid();
                w.org_quotas.insert(OrgQuota {
                    guid: g.clone(),
                    name,
                    limits,
                    created_at: at,
                    updated_at: at,
                });
                g
            }
        };
        if let Some(o) = w.orgs.get_mut(&org_guid) {
            o.quota_guid = guid.clone();
        }
        Ok(guid)
    }

    /// Applies a space quota with `limits` to `org`/`space` (one per space,
    /// replaced if it has one); returns its guid.
    pub fn set_space_quota(
        &self,
        org: &str,
        space: &str,
        limits: QuotaLimits,
    ) -> Result<String, ActionError> {
        let mut w = self.shared.lock();
        let space_guid = w.space_guid_named(org, space)?;
        let org_guid = w.org_guid_named(org)?;
        let at = Utc::now();
        let existing = w.spaces.get(&space_guid).and_then(|s| s.quota_guid.clone());
        let guid = match existing {
            Some(g) => {
                if let Some(q) = w.space_quotas.get_mut(&g) {
                    q.limits = limits;
                    q.updated_at = at;
                }
                g
            }
            None => {
                let g = w.guid();
                w.space_quotas.insert(SpaceQuota {
                    guid: g.clone(),
                    name: format!("{org}-{space}-quota"),
                    org_guid,
                    limits,
                    created_at: at,
                    updated_at: at,
                });
                g
            }
        };
        if let Some(s) = w.spaces.get_mut(&space_guid) {
            s.quota_guid = Some(guid.clone());
        }
        Ok(guid)
    }

    /// What counts against `org`/`space`'s space quota now.
    pub fn space_usage(&self, org: &str, space: &str) -> Result<QuotaUsage, ActionError> {
        let w = self.shared.lock();
        let guid = w.space_guid_named(org, space)?;
        Ok(w.space_usage(&guid))
    }

    /// What counts against `org`'s quota now.
    pub fn org_usage(&self, org: &str) -> Result<QuotaUsage, ActionError> {
        let w = self.shared.lock();
        let guid = w.org_guid_named(org)?;
        Ok(w.org_usage(&guid))
    }

    /// Scales the app's newest web process to `instances`, as a developer's
    /// `cf scale -i` would (without its quota check: the point is to move
    /// usage the way another team's push would).
    pub fn human_scale(&self, app_guid: &str, instances: u32) -> Result<(), ActionError> {
        let mut w = self.shared.lock();
        let web = w
            .web_processes(app_guid)
            .last()
            .map(|p| p.guid.clone())
            .ok_or_else(|| ActionError::UnknownApp(app_guid.to_owned()))?;
        let now = tokio::time::Instant::now();
        if let Some(p) = w.processes.get_mut(&web) {
            p.scale_to(instances, now);
            p.updated_at = Utc::now();
        }
        Ok(())
    }
}
