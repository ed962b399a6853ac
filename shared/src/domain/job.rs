//! The unit of work on the queue: one app, one run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Action, JobId, Notice, RunId, Version};

/// Current version of the job message body. Bump it when a field changes
/// meaning; the worker rejects (to the DLQ) versions it does not know.
pub const JOB_SCHEMA_VERSION: u32 = 1;

/// Where an app lives and what it is called, captured at discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRef {
    pub guid: String,
    pub name: String,
    pub space_guid: String,
    pub space_name: String,
    pub org_guid: String,
    pub org_name: String,
}

/// One restage (or restart) of one app. This is the SQS message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestageJob {
    /// Message schema version, see [`JOB_SCHEMA_VERSION`].
    pub v: u32,
    pub job_id: JobId,
    pub run_id: RunId,
    pub notice: Notice,
    pub action: Action,
    pub app: AppRef,
    /// The app's current droplet when the job was planned. If it has changed
    /// by the time we deploy, someone else pushed and we stand back.
    pub droplet_guid: String,
    /// The package behind `droplet_guid` (the droplet's `links.package`),
    /// when discovery read the droplet: the worker reads it beside its first
    /// checks rather than after them, one round trip to CC fewer on every
    /// restage's critical path. `None` (older messages, droplets without a
    /// package): read once the current droplet names it, as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_guid: Option<String>,
    /// The buildpack whose version matters (buildpack notices and sweeps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildpack: Option<String>,
    /// The version the new droplet should carry; `None` when any fresh
    /// staging will do (stack notices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<Version>,
    /// 0 for the first send; the run's rollout generation when a resumed
    /// run (or an opened window) queues the job again (see
    /// [`RestageJob::dedup_id`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub release: u32,
    /// When a new build of the app may start: its space's (or org's)
    /// `restager.io/window` annotation, else `RESTAGER_WINDOW`, as planned
    /// (the window syntax, canonical). `None` for any time, which is also
    /// what jobs planned before windows existed get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// The owners' Slack channel (`restager.io/slack-channel` on the space
    /// or org), told about this app besides the operators' channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    /// What discovery learned that helps the worker schedule and poll this
    /// job; empty in messages from before it existed, which restage as
    /// they always did.
    #[serde(default, skip_serializing_if = "ScheduleHints::is_empty")]
    pub schedule: ScheduleHints,
}

/// Discovery's reading of the app's history and its space's quota (see
/// `discovery::forecast` and `discovery::quotas`). Every field is optional:
/// what is missing falls back to the fixed poll interval and one restage
/// at a time in the space.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleHints {
    /// How long the app's live droplet took to stage (its build: created to
    /// STAGED), in milliseconds.
    pub staging_ms: Option<u64>,
    /// How long one rolling step (`max_in_flight` new instances started and
    /// healthy) took in the app's last finished deployment, in milliseconds.
    pub step_ms: Option<u64>,
    /// The app's web instances when it was planned.
    pub web_instances: Option<u32>,
    /// Rolling restages at once the space's and org's quota headroom holds
    /// (at least 1, at most `RESTAGER_MAX_PER_SPACE`) when it was planned.
    pub space_allowance: Option<u32>,
}

impl ScheduleHints {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// How long staging should take: as long as last time.
    pub fn staging(&self) -> Option<Duration> {
        self.staging_ms.map(Duration::from_millis)
    }

    /// How long a rolling deployment with `max_in_flight` should take: one
    /// step per `max_in_flight` instances, each as long as last time's steps.
    pub fn rollout(&self, max_in_flight: u32) -> Option<Duration> {
        let steps = self.web_instances?.div_ceil(max_in_flight.max(1)).max(1);
        Some(Duration::from_millis(self.step_ms?).saturating_mul(steps))
    }

    /// Staging plus rollout, for ordering work longest first; `None` unless
    /// both are known.
    pub fn work(&self, max_in_flight: u32) -> Option<Duration> {
        Some(self.staging()? + self.rollout(max_in_flight)?)
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, thiserror::Error)]
pub enum JobDecodeError {
    #[error("job message is not valid JSON for schema v{JOB_SCHEMA_VERSION}: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("job message has schema v{found}; this worker understands v{JOB_SCHEMA_VERSION}")]
    UnknownVersion { found: u32 },
}

impl RestageJob {
    pub fn new(
        run_id: &RunId,
        notice: Notice,
        action: Action,
        app: AppRef,
        droplet_guid: String,
        buildpack: Option<String>,
        target_version: Option<Version>,
    ) -> Self {
        Self {
            v: JOB_SCHEMA_VERSION,
            job_id: JobId::for_app(run_id, &app.guid),
            run_id: run_id.clone(),
            notice,
            action,
            app,
            droplet_guid,
            package_guid: None,
            buildpack,
            target_version,
            release: 0,
            window: None,
            slack_channel: None,
            schedule: ScheduleHints::default(),
        }
    }

    /// With the package behind its droplet, when discovery knows it.
    pub fn with_package(mut self, package_guid: Option<String>) -> Self {
        self.package_guid = package_guid;
        self
    }

    /// With the maintenance window and owners' channel its space has.
    pub fn for_owners(mut self, window: Option<String>, slack_channel: Option<String>) -> Self {
        self.window = window;
        self.slack_channel = slack_channel;
        self
    }

    /// The queue's deduplication id: the job id, plus the release for a
    /// job queued again (after a resume, when its window opened), which a
    /// FIFO queue would otherwise drop as a repeat within its five-minute
    /// window.
    pub fn dedup_id(&self) -> String {
        if self.release == 0 {
            self.job_id.to_string()
        } else {
            format!("{}.r{}", self.job_id, self.release)
        }
    }

    /// The FIFO queue's message group: the space, split into as many
    /// groups as the space's allowance (by job id, so a job keeps its
    /// group on every send). SQS hands out one message of a group at a
    /// time, so across all workers a space has at most its allowance of
    /// restages in flight, and one without hints exactly one, as before.
    pub fn message_group(&self) -> String {
        match self.schedule.space_allowance {
            Some(n) if n > 1 => {
                // FNV-1a: stable across processes and releases, unlike
                // the standard library's hasher.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in self.job_id.as_str().bytes() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
                format!("{}.{}", self.app.space_guid, h % u64::from(n))
            }
            _ => self.app.space_guid.clone(),
        }
    }

    /// This job queued again as `release`.
    pub fn released_as(mut self, release: u32) -> Self {
        self.release = release;
        self
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(raw: &str) -> Result<Self, JobDecodeError> {
        #[derive(Deserialize)]
        struct Probe {
            v: u32,
        }
        let probe: Probe = serde_json::from_str(raw)?;
        if probe.v != JOB_SCHEMA_VERSION {
            return Err(JobDecodeError::UnknownVersion { found: probe.v });
        }
        Ok(serde_json::from_str(raw)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> RestageJob {
        let notice = Notice::Buildpack {
            buildpack: "ruby_buildpack".into(),
            version: Version::parse("1.10.29").expect("version"),
            stack: None,
        };
        let run = RunId::for_release(&notice.release_key());
        RestageJob::new(
            &run,
            notice,
            Action::Restage,
            AppRef {
                guid: "app-1".into(),
                name: "shop".into(),
                space_guid: "space-1".into(),
                space_name: "prod".into(),
                org_guid: "org-1".into(),
                org_name: "acme".into(),
            },
            "droplet-1".into(),
            Some("ruby_buildpack".into()),
            Some(Version::parse("1.10.29").expect("version")),
        )
    }

    #[test]
    fn schedule_hints_are_optional_both_ways() {
        // A message from before the hints existed decodes with none.
        let old = job().to_json();
        assert!(!old.contains("schedule"), "{old}");
        assert!(
            RestageJob::from_json(&old)
                .expect("decodes")
                .schedule
                .is_empty()
        );
        let mut hinted = job();
        hinted.schedule = ScheduleHints {
            staging_ms: Some(120_000),
            step_ms: Some(31_000),
            web_instances: Some(3),
            space_allowance: Some(2),
        };
        let raw = hinted.to_json();
        assert_eq!(RestageJob::from_json(&raw).expect("decodes"), hinted);
        // Partial hints (an app without deployments) stay partial.
        let partial = raw.replace(",\"step_ms\":31000", "");
        let back = RestageJob::from_json(&partial).expect("decodes");
        assert_eq!(back.schedule.step_ms, None);
        assert_eq!(back.schedule.staging_ms, Some(120_000));
    }

    #[test]
    fn expected_phases_follow_instances_and_max_in_flight() {
        let h = ScheduleHints {
            staging_ms: Some(90_000),
            step_ms: Some(30_000),
            web_instances: Some(5),
            space_allowance: None,
        };
        assert_eq!(h.staging(), Some(Duration::from_secs(90)));
        // 5 instances: 5 steps of one, 3 of two, 1 of five (or more).
        assert_eq!(h.rollout(1), Some(Duration::from_secs(150)));
        assert_eq!(h.rollout(2), Some(Duration::from_secs(90)));
        assert_eq!(h.rollout(9), Some(Duration::from_secs(30)));
        assert_eq!(h.work(1), Some(Duration::from_secs(240)));
        // A scaled-to-zero app still rolls one step; unknown parts stay unknown.
        let zero = ScheduleHints {
            web_instances: Some(0),
            ..h.clone()
        };
        assert_eq!(zero.rollout(1), Some(Duration::from_secs(30)));
        let no_steps = ScheduleHints { step_ms: None, ..h };
        assert_eq!(no_steps.rollout(1), None);
        assert_eq!(no_steps.work(1), None);
        assert_eq!(ScheduleHints::default().staging(), None);
    }

    #[test]
    fn a_space_is_one_message_group_per_restage_it_allows() {
        let one = job();
        assert_eq!(one.message_group(), "space-1");
        let mut two = job();
        two.schedule.space_allowance = Some(2);
        let group = two.message_group();
        assert!(group == "space-1.0" || group == "space-1.1", "{group}");
        assert_eq!(two.message_group(), group, "the same group on every send");
        // Jobs of one space spread over both groups.
        let groups: std::collections::BTreeSet<String> = (0..20)
            .map(|i| {
                let mut j = two.clone();
                j.job_id = JobId::for_app(&j.run_id, &format!("app-{i}"));
                j.message_group()
            })
            .collect();
        assert_eq!(groups.len(), 2, "{groups:?}");
        let mut none = job();
        none.schedule.space_allowance = Some(1);
        assert_eq!(none.message_group(), "space-1");
    }

    #[test]
    fn round_trips_and_rejects_unknown_versions() {
        let j = job();
        assert_eq!(RestageJob::from_json(&j.to_json()).expect("decodes"), j);
        let future = j.to_json().replacen("\"v\":1", "\"v\":9", 1);
        assert!(matches!(
            RestageJob::from_json(&future),
            Err(JobDecodeError::UnknownVersion { found: 9 })
        ));
        assert!(matches!(
            RestageJob::from_json("{"),
            Err(JobDecodeError::Malformed(_))
        ));
    }
}
