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
