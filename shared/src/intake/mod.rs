//! Turning verified request bytes into a domain [`Notice`](crate::domain::Notice),
//! or into a reasoned decision to ignore them.
//!
//! Everything here is pure: the webhook router verifies signatures first
//! (see [`crate::signature`]), then calls these parsers, and maps
//! [`IntakeError`] to `400 Bad Request`.
//!
//! - [`github`]: GitHub `release` and `ping` deliveries from repositories you own or mirror.
//! - [`notice`]: the project's own notice body (`shared/schema/notice.schema.json`).

mod error;
pub mod github;
mod json;
mod names;
pub mod notice;
mod repos;
mod time;

pub use error::IntakeError;
pub(crate) use error::shown;
pub use names::{MAX_NAME_LEN, MAX_VERSION_LEN};
