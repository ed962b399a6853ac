//! What this Cloud Controller can do, from the API version on `GET /`.
//!
//! Foundations run Cloud Controllers years old, so every feature newer than
//! the oldest supported API is asked for here, and what is missing is said in
//! words an operator can act on instead of being silently skipped. The
//! version comes from `links.cloud_controller_v3.meta.version`, read once per
//! client together with the UAA link.

use crate::config::DeploySettings;
use crate::domain::Version;

/// API versions at which the features restager uses first shipped (the
/// first capi-release whose pinned cloud_controller_ng commit contains the
/// change; tests/support/corpus/cc/FINDINGS.md §1 has the commits).
pub mod since {
    /// `POST /v3/deployments` accepts `options` (`max_in_flight`); earlier
    /// releases refuse the whole request with `Unknown field(s): 'options'`.
    pub const DEPLOYMENT_OPTIONS: &str = "3.173.0";
    /// The `canary` deployment strategy.
    pub const CANARY: &str = "3.173.0";
    /// App objects carry `relationships.current_droplet`.
    pub const APP_CURRENT_DROPLET: &str = "3.174.0";
    /// `options.canary.steps` on canary deployments.
    pub const CANARY_STEPS: &str = "3.189.0";
    /// `status.details.error` on deployments: the updater says why it cannot
    /// go on (a quota, say) instead of staying silently ACTIVE.
    pub const DEPLOYMENT_ERROR_DETAILS: &str = "3.192.0";
}

/// The features of one Cloud Controller, by its API version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `None` when `GET /` did not say: then the newest behaviour is assumed,
    /// since a CC that omits the version is not one that predates it.
    pub version: Option<Version>,
}

impl Capabilities {
    pub fn of(version: Option<Version>) -> Self {
        Self { version }
    }

    fn at_least(&self, since: &str) -> bool {
        match (&self.version, Version::parse(since)) {
            (Some(v), Ok(min)) => *v >= min,
            _ => true,
        }
    }

    pub fn deployment_options(&self) -> bool {
        self.at_least(since::DEPLOYMENT_OPTIONS)
    }

    pub fn canary(&self) -> bool {
        self.at_least(since::CANARY)
    }

    pub fn canary_steps(&self) -> bool {
        self.at_least(since::CANARY_STEPS)
    }

    pub fn app_current_droplet(&self) -> bool {
        self.at_least(since::APP_CURRENT_DROPLET)
    }

    pub fn deployment_error_details(&self) -> bool {
        self.at_least(since::DEPLOYMENT_ERROR_DETAILS)
    }

    /// `Cloud Controller 3.160.0`, or a neutral name when the version is unknown.
    pub fn describe(&self) -> String {
        match &self.version {
            Some(v) => format!("Cloud Controller {v}"),
            None => "this Cloud Controller (API version not reported)".to_string(),
        }
    }

    /// Why `max_in_flight` was not sent, when it was not.
    pub fn max_in_flight_note(&self, wanted: u32) -> Option<String> {
        (!self.deployment_options()).then(|| {
            format!(
                "max_in_flight {wanted} not sent: {} predates deployment options (API {}); \
                 the foundation's default (one instance at a time) was used",
                self.describe(),
                since::DEPLOYMENT_OPTIONS
            )
        })
    }

    /// Where this Cloud Controller cannot roll out as `rollout` asks, and
    /// what restages do instead: for the plan and for each restage's
    /// outcome, so a canary that is not one is never silent.
    pub fn rollout_note(&self, rollout: &DeploySettings) -> Option<String> {
        if !rollout.is_canary() {
            return None;
        }
        if !self.canary() {
            return Some(format!(
                "RESTAGER_STRATEGY=canary: {} predates canary deployments (API {}), so restages use \
                 rolling deployments, without a canary pause to verify the first instances",
                self.describe(),
                since::CANARY
            ));
        }
        (!self.canary_steps() && !rollout.canary_steps.is_empty()).then(|| {
            format!(
                "RESTAGER_CANARY_STEPS={} not sent: {} predates canary steps (API {}), so each \
                 canary pauses once, after its first instance",
                rollout.steps_setting(),
                self.describe(),
                since::CANARY_STEPS
            )
        })
    }

    /// One line per feature this Cloud Controller lacks, for start-up logs.
    pub fn degraded(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.app_current_droplet() {
            out.push(format!(
                "{} lists apps without their current droplet (API {}): discovery asks for each candidate app's droplet separately, one request per app",
                self.describe(),
                since::APP_CURRENT_DROPLET
            ));
        }
        out.extend(self.deployment_notes(&DeploySettings::default()));
        out
    }

    /// What restages rolled out as `rollout` do differently on this Cloud
    /// Controller, for plans.
    pub fn deployment_notes(&self, rollout: &DeploySettings) -> Vec<String> {
        let mut out = Vec::new();
        let who = self.describe();
        if !self.deployment_error_details() {
            out.push(format!(
                "{who} does not report why a deployment is stuck (status.details.error, API {}): \
                 a deployment that cannot progress is canceled only after RESTAGER_DEPLOY_TIMEOUT",
                since::DEPLOYMENT_ERROR_DETAILS
            ));
        }
        if !self.deployment_options() {
            out.push(format!(
                "{who} refuses deployment options (API {}): RESTAGER_MAX_IN_FLIGHT is not sent, the foundation's default of one instance at a time applies",
                since::DEPLOYMENT_OPTIONS
            ));
        }
        out.extend(self.rollout_note(rollout));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(v: &str) -> Capabilities {
        Capabilities::of(Some(Version::parse(v).expect("version")))
    }

    #[test]
    fn features_follow_the_api_version() {
        let old = at("3.160.0");
        assert!(!old.deployment_options() && !old.app_current_droplet() && !old.canary());
        assert_eq!(old.degraded().len(), 3);
        assert_eq!(old.deployment_notes(&DeploySettings::default()).len(), 2);
        assert!(
            old.max_in_flight_note(2)
                .is_some_and(|n| n.contains("3.160.0") && n.contains("3.173.0"))
        );
        let mid = at("3.173.0");
        assert!(mid.deployment_options() && mid.canary() && !mid.app_current_droplet());
        assert!(!mid.canary_steps());
        assert!(!mid.deployment_error_details());
        assert!(at("3.192.0").deployment_error_details());
        let new = at("3.228.0");
        assert!(new.degraded().is_empty());
        assert_eq!(new.max_in_flight_note(1), None);
        let unknown = Capabilities::of(None);
        assert!(unknown.deployment_options() && unknown.degraded().is_empty());
    }

    #[test]
    fn a_canary_the_cc_cannot_do_is_said_not_skipped() {
        let canary = |steps: Vec<u32>| DeploySettings {
            strategy: crate::config::DeployStrategy::Canary,
            canary_steps: steps,
        };
        let old = at("3.160.0");
        let fallback = old.rollout_note(&canary(Vec::new())).expect("a note");
        assert!(
            fallback.contains("3.160.0")
                && fallback.contains("3.173.0")
                && fallback.contains("rolling"),
            "{fallback}"
        );
        assert_eq!(old.deployment_notes(&canary(Vec::new())).len(), 3);
        let mid = at("3.180.0");
        assert_eq!(
            mid.rollout_note(&canary(Vec::new())),
            None,
            "one pause is all that was asked"
        );
        let steps = mid.rollout_note(&canary(vec![10, 50])).expect("a note");
        assert!(
            steps.contains("RESTAGER_CANARY_STEPS=10,50") && steps.contains("3.189.0"),
            "{steps}"
        );
        assert_eq!(at("3.190.0").rollout_note(&canary(vec![10, 50])), None);
        assert_eq!(
            old.rollout_note(&DeploySettings::default()),
            None,
            "rolling needs no note"
        );
    }
}
