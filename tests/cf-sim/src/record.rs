//! The request log tests inspect (`CfSim::requests`).

use std::time::{Duration, Instant};

/// One request the simulator received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// JSON body when the request carried one (form bodies are not kept:
    /// they hold the client secret).
    pub body: Option<serde_json::Value>,
    /// Response status; 0 when the connection was reset instead of answered.
    pub status: u16,
    /// When the request arrived.
    pub received_at: Instant,
    /// From arrival until the response was ready (body built): the time a
    /// client spent waiting on this Cloud Controller, less the network.
    pub handling: Duration,
}
