//! The business vocabulary: notices, versions, jobs, outcomes. No I/O here.

mod ids;
mod job;
mod notice;
mod outcome;
mod version;

pub use ids::{JobId, RunId};
pub use job::{AppRef, JOB_SCHEMA_VERSION, JobDecodeError, RestageJob, ScheduleHints};
pub use notice::{Action, Notice, NoticeKind};
pub use outcome::{Outcome, OutcomeKind};
pub use version::{Version, VersionError};

/// Jobs for this crate's unit tests, which cannot use `test-support` (it
/// depends on this crate).
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{Action, AppRef, Notice, RestageJob, RunId, Version};

    /// App `guid` named `name`; the space and the org use one word for guid and name.
    pub(crate) fn app(guid: String, name: String, space: &str, org: &str) -> AppRef {
        AppRef {
            guid,
            name,
            space_guid: space.into(),
            space_name: space.into(),
            org_guid: org.into(),
            org_name: org.into(),
        }
    }

    /// A restage of `app` onto `droplet` for cflinuxfs4 `version`; jobs of one
    /// version share a run.
    pub(crate) fn stack_job(version: &str, app: AppRef, droplet: String) -> RestageJob {
        let notice = Notice::Stack {
            stack: "cflinuxfs4".into(),
            version: Version::parse(version).expect("test version"),
        };
        let run = RunId::for_release(&notice.release_key());
        RestageJob::new(&run, notice, Action::Restage, app, droplet, None, None)
    }
}
