//! Slack: the run's thread (root message, batched per-app replies, a summary
//! with Retry/Skip buttons, the run's course with Resume/Abort buttons) and
//! the `/slack/actions` handler behind the buttons.

pub mod actions;
pub mod api;
mod controls;
pub mod latest;
pub mod messages;
pub mod news;
pub mod notifier;

pub use actions::{ActionResponse, SlackActions};
pub use api::{Posted, SlackApi, SlackApiError, SlackMessage};
pub use notifier::{FlushReport, OutboxConfig, SlackNotifier};
