//! The Cloud Controller API version the simulator plays (`SimConfig::api_version`)
//! and the versions at which the shapes it models arrived.
//!
//! A version here is the first *released* API version that had the change:
//! the `config/version` a Cloud Controller reports is bumped right after a
//! release ships, so a commit belongs to the version in `config/version` just
//! before the first "bump to …" commit that contains it. That rule was
//! checked against the cloud_controller_ng commits cloudfoundry/capi-release
//! pins in its release tags (e.g. capi-release 1.189.0 ships CC 3.174.0 with
//! commit d543a666, the app `current_droplet` relationship). Commits below
//! are in cloudfoundry/cloud_controller_ng.

use std::cmp::Ordering;
use std::fmt;

/// `major.minor.patch` of a Cloud Controller v3 API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ApiVersion(pub u32, pub u32, pub u32);

impl ApiVersion {
    /// The newest version the simulator was checked against (cloud_controller_ng
    /// 3bbba906, config/version 3.228.0); used when `api_version` does not parse.
    pub(crate) const NEWEST: ApiVersion = ApiVersion(3, 228, 0);

    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().trim_start_matches('v').split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self(major, minor, patch))
    }

    /// Parse one of the [`since`] constants (they are written to parse).
    pub(crate) fn of(s: &str) -> Self {
        Self::parse(s).unwrap_or(Self::NEWEST)
    }

    pub(crate) fn at_least(self, since: &str) -> bool {
        self >= Self::of(since)
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0, self.1, self.2).cmp(&(other.0, other.1, other.2))
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// First Cloud Controller API versions with each behaviour the simulator
/// switches on `SimConfig::api_version` (see the module doc for how they were
/// found). Below a version the simulator answers as the older CC did.
pub mod since {
    /// Deployments lost their top-level `state` (a917640a, "Remove deployment
    /// state from API"): the simulator never sends it.
    pub const NO_DEPLOYMENT_STATE: &str = "3.92.0";
    /// `status.details.last_status_change` on deployments (c3ab5249).
    pub const DEPLOYMENT_LAST_STATUS_CHANGE: &str = "3.170.0";
    /// `links.clear_buildpack_cache` on apps (adb73ec2).
    pub const APP_CLEAR_BUILDPACK_CACHE_LINK: &str = "3.170.0";
    /// `POST /v3/deployments` accepts `options` (`max_in_flight`) and
    /// deployments show `options` (2329550f, "Max in flight"); before it the
    /// whole request is refused with `Unknown field(s): 'options'`.
    pub const DEPLOYMENT_OPTIONS: &str = "3.173.0";
    /// The `canary` deployment strategy (d66f46a6); before it
    /// `Strategy 'canary' is not a supported deployment strategy`.
    pub const CANARY: &str = "3.173.0";
    /// App objects carry `relationships.current_droplet` (d543a666).
    pub const APP_CURRENT_DROPLET: &str = "3.174.0";
    /// `GET /` drops the `cloud_controller_v2` link (`temporary_enable_v2`
    /// off by default, 2ae7c7e7).
    pub const NO_V2_ROOT_LINK: &str = "3.181.0";
    /// `options.canary.steps`, `status.canary` and the checked option keys
    /// (78d93d45, "Add Canary steps").
    pub const CANARY_STEPS: &str = "3.189.0";
    /// `options.web_instances` on deployments (9d4dee35).
    pub const DEPLOYMENT_WEB_INSTANCES: &str = "3.190.0";
    /// `options.memory_in_mb`, `disk_in_mb`, `log_rate_limit_in_bytes_per_second` (47446d34).
    pub const DEPLOYMENT_SCALING_OPTIONS: &str = "3.191.0";
    /// `instance_guid` in process stats (f50766e8).
    pub const STATS_INSTANCE_GUID: &str = "3.191.0";
    /// `status.details.error` on deployments (6ad58531, "Surface deployment updater errors").
    pub const DEPLOYMENT_ERROR: &str = "3.192.0";
    /// `lifecycle` on buildpacks and the `lifecycle` buildpack filter (30ab628f, system CNBs).
    pub const BUILDPACK_LIFECYCLE: &str = "3.194.0";
    /// `user` on processes (384b017c).
    pub const PROCESS_USER: &str = "3.197.0";
    /// Stack `state` (ACTIVE/DEPRECATED/RESTRICTED/DISABLED) and staging
    /// refused on DISABLED stacks (544cac6f, "Stack management").
    pub const STACK_STATE: &str = "3.210.0";
    /// Stack `state_reason` (3a402312).
    pub const STACK_STATE_REASON: &str = "3.211.0";
    /// `links.process_instances` on processes (7cf6d4ba).
    pub const PROCESS_INSTANCES_LINK: &str = "3.211.0";
    /// `suspended` on spaces (fa25fc33).
    pub const SPACE_SUSPENDED: &str = "3.224.0";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(ApiVersion::parse("3.160.0"), Some(ApiVersion(3, 160, 0)));
        assert_eq!(ApiVersion::parse("3.174"), Some(ApiVersion(3, 174, 0)));
        assert_eq!(ApiVersion::parse("x"), None);
        assert!(ApiVersion(3, 174, 0).at_least(since::APP_CURRENT_DROPLET));
        assert!(!ApiVersion(3, 173, 9).at_least(since::APP_CURRENT_DROPLET));
        assert!(ApiVersion(3, 228, 0) > ApiVersion(3, 99, 100));
    }
}
