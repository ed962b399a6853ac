//! Cloud Foundry v3 API + UAA client.
//!
//! [`CfClient`] authenticates with a client-credentials grant (token cached
//! and shared across clones), retries only what is safe to retry, follows
//! pagination, and offers typed endpoints for discovery and the restage
//! engine plus generic `get`/`post`/`patch`/`list_all` building blocks.

mod auth;
mod bulk;
mod capabilities;
mod client;
mod counters;
mod endpoints;
mod error;
pub mod models;
mod record;
mod request;

pub use bulk::Batch;
pub use capabilities::{Capabilities, since};
pub use client::{CfClient, CfClientOptions, Listed};
pub use counters::RequestCounts;
pub use endpoints::{AppListing, AppQuery, DeploymentRequest};
pub use error::{ApiErrorEntry, CfError, codes};
pub use models::*;
pub use record::{Record, Unreadable};
