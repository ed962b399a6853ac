//! A stand-in for Slack's Web API for the demo: it answers `chat.postMessage`
//! and `chat.update` like Slack does and keeps what was sent, so the demo can
//! show what the real notifier would have posted without a workspace.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One Web API call as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// `chat.postMessage` or `chat.update`.
    pub method: String,
    pub channel: String,
    pub text: String,
    /// Set on replies in a run's thread.
    pub thread_ts: Option<String>,
    /// The message's `ts`, as answered (posts) or addressed (updates).
    pub ts: String,
}

#[derive(Default)]
struct Inbox {
    calls: Vec<Captured>,
    next_ts: u64,
}

pub struct SlackCapture {
    addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
    task: JoinHandle<()>,
}

impl Drop for SlackCapture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SlackCapture {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let app = Router::new()
            .route("/{method}", post(call))
            .with_state(Arc::clone(&inbox));
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::warn!(%err, "the demo's Slack stand-in stopped");
            }
        });
        Ok(Self { addr, inbox, task })
    }

    /// The value for `SLACK_API_URL`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<Captured> {
        lock(&self.inbox).calls.clone()
    }
}

fn lock(inbox: &Mutex<Inbox>) -> std::sync::MutexGuard<'_, Inbox> {
    // A panicking handler cannot leave the inbox half-written: each push is one call.
    inbox
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn call(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    Path(method): Path<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    let channel = field("channel").unwrap_or_default();
    let mut inbox = lock(&inbox);
    let ts = match (method.as_str(), field("ts")) {
        ("chat.update", Some(ts)) => ts,
        _ => {
            inbox.next_ts += 1;
            format!("1700000000.{:06}", inbox.next_ts)
        }
    };
    inbox.calls.push(Captured {
        method,
        channel: channel.clone(),
        text: field("text").unwrap_or_default(),
        thread_ts: field("thread_ts"),
        ts: ts.clone(),
    });
    Json(json!({ "ok": true, "channel": channel, "ts": ts }))
}
