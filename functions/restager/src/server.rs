//! The HTTP front of `serve` and `demo`: axum only moves bytes. Every route
//! (`/webhooks/github`, `/webhooks/notice`, `/slack/actions`, `/healthz`) is
//! answered by the framework-free router in `shared::webhook`, the same one
//! the Lambda function serves, so both paths behave identically.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use bytes::Bytes;
use http::{Request, Response};
use tokio::net::TcpListener;

use crate::commands::CommandError;

/// Bodies are collected up to this size and handed over whole; the router
/// itself answers 413 above its own 1 MiB limit, this only bounds memory.
const MAX_COLLECTED_BODY: usize = 2 * 1024 * 1024;

pub type BoxResponse = Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>;

/// Answers one buffered request.
pub type Handler = Arc<dyn Fn(Request<Bytes>) -> BoxResponse + Send + Sync>;

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, CommandError> {
    TcpListener::bind(addr).await.map_err(|e| {
        CommandError::Failed(format!(
            "cannot listen on {addr}: {e} (set RESTAGER_LISTEN or --listen to a free address)"
        ))
    })
}

/// Serves until `shutdown` resolves, then stops accepting and lets requests
/// in progress finish.
pub async fn serve(
    listener: TcpListener,
    handler: Handler,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CommandError> {
    // An over-long body is rejected with 413 by the `Bytes` extractor.
    let app = Router::new()
        .fallback(forward)
        .layer(DefaultBodyLimit::max(MAX_COLLECTED_BODY))
        .with_state(handler);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| CommandError::failed("the HTTP server stopped", e))
}

async fn forward(
    State(handler): State<Handler>,
    parts: http::request::Parts,
    body: Bytes,
) -> Response<Body> {
    let response = handler(Request::from_parts(parts, body)).await;
    response.map(Body::from)
}
