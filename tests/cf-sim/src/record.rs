//! The request log tests inspect (`CfSim::requests`).

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
}
