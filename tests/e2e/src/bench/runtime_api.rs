//! A minimal local AWS Lambda Runtime API (the 2018-06-01 interface the
//! `lambda_runtime` crate polls), enough to start a function binary as
//! Lambda would, time its initialisation and hand it events:
//!
//! - `GET  /2018-06-01/runtime/invocation/next` waits for the next event;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `…/{id}/error`
//!   record the outcome;
//! - `POST /2018-06-01/runtime/init/error` records a failed start-up.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, mpsc};

use super::BenchError;

/// One invocation's result as the function reported it.
#[derive(Debug, Clone)]
pub struct Reported {
    pub request_id: String,
    pub ok: bool,
    pub body: String,
}

struct Event {
    request_id: String,
    body: String,
    deadline: SystemTime,
}

#[derive(Default)]
struct Log {
    first_poll: Option<Instant>,
    polls: usize,
    reported: Vec<Reported>,
    init_error: Option<String>,
}

struct Shared {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    log: Mutex<Log>,
    changed: Notify,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        // A poisoned lock only means a handler panicked mid-update; the log
        // is still the best record there is.
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running Runtime API on 127.0.0.1. Dropping it stops the server.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    sender: mpsc::UnboundedSender<Event>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> Result<Self, BenchError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| BenchError::Setup(format!("Runtime API bind: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BenchError::Setup(format!("Runtime API address: {e}")))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(receiver),
            log: Mutex::new(Log::default()),
            changed: Notify::new(),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("bench: the local Runtime API stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            shared,
            sender,
            server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an invocation with `budget` until its deadline.
    pub fn invoke(
        &self,
        request_id: &str,
        body: String,
        budget: Duration,
    ) -> Result<(), BenchError> {
        self.sender
            .send(Event {
                request_id: request_id.to_owned(),
                body,
                deadline: SystemTime::now() + budget,
            })
            .map_err(|_| BenchError::Run("the Runtime API has stopped".to_owned()))
    }

    /// Waits until the function first asks for work (or reports an init error).
    pub async fn wait_first_poll(&self, limit: Duration) -> Result<Instant, BenchError> {
        let until = Instant::now() + limit;
        loop {
            let notified = self.shared.changed.notified();
            {
                let log = self.shared.log();
                if let Some(t) = log.first_poll {
                    return Ok(t);
                }
                if let Some(e) = &log.init_error {
                    return Err(BenchError::Run(format!(
                        "the function failed to start: {e}"
                    )));
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BenchError::Run(format!(
                    "the function did not poll the Runtime API within {limit:?}"
                )));
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// Waits for the result of `request_id`.
    pub async fn wait_reported(
        &self,
        request_id: &str,
        limit: Duration,
    ) -> Result<Reported, BenchError> {
        let until = Instant::now() + limit;
        loop {
            let notified = self.shared.changed.notified();
            if let Some(r) = self
                .shared
                .log()
                .reported
                .iter()
                .find(|r| r.request_id == request_id)
            {
                return Ok(r.clone());
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BenchError::Run(format!(
                    "invocation {request_id} not answered within {limit:?}"
                )));
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type S = State<Arc<Shared>>;

async fn next(State(s): S) -> Response {
    {
        let mut log = s.log();
        log.polls += 1;
        if log.first_poll.is_none() {
            log.first_poll = Some(Instant::now());
        }
    }
    s.changed.notify_waiters();
    let event = s.events.lock().await.recv().await;
    let Some(event) = event else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let deadline_ms = event
        .deadline
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", event.request_id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".to_owned(),
    );
    put("content-type", "application/json".to_owned());
    (StatusCode::OK, headers, event.body).into_response()
}

fn record(s: &Shared, request_id: String, ok: bool, body: &Bytes) {
    s.log().reported.push(Reported {
        request_id,
        ok,
        body: String::from_utf8_lossy(body).into_owned(),
    });
    s.changed.notify_waiters();
}

async fn response(State(s): S, Path(id): Path<String>, body: Bytes) -> StatusCode {
    record(&s, id, true, &body);
    StatusCode::ACCEPTED
}

async fn error(State(s): S, Path(id): Path<String>, body: Bytes) -> StatusCode {
    record(&s, id, false, &body);
    StatusCode::ACCEPTED
}

async fn init_error(State(s): S, body: Bytes) -> StatusCode {
    s.log().init_error = Some(String::from_utf8_lossy(&body).into_owned());
    s.changed.notify_waiters();
    StatusCode::ACCEPTED
}
