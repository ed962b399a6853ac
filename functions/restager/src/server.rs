//! The HTTP front of `serve` and `demo`: it only moves bytes, within limits.
//! Every route (`/webhooks/github`, `/webhooks/notice`, `/slack/actions`,
//! `/healthz`) is answered by the framework-free router in `shared::webhook`,
//! the same one the Lambda function serves, so both paths behave identically.
//!
//! What this layer adds, because a process on a network must (Lambda's
//! front door does it there), all from hyper's HTTP/1 server and tokio:
//! - the request head must arrive within `header_read_timeout` (hyper's own
//!   timer closes the connection: there is no response to send before a
//!   request exists), and so must the next one on a kept-alive connection;
//! - the whole body within `body_read_timeout` of the head: `408`;
//! - one body limit, [`MAX_BODY_BYTES`], checked on `Content-Length` before
//!   anything is read and again while reading: the router's JSON `413`;
//! - at most `max_connections` at once: one more is answered `503`;
//! - a shutdown stops accepting, lets requests in progress finish for at
//!   most `shutdown_grace`, then closes what is left.
//!
//! Each refused request is logged once under the target `restager::refused`
//! (route, status, reason, delivery id, client address).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use restager_shared::webhook::{self, MAX_BODY_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::commands::CommandError;
use crate::settings::HttpLimits;

/// Log target of refused requests and connections.
pub const REFUSED: &str = "restager::refused";

pub type BoxResponse = Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>;

/// Answers one buffered request.
pub type Handler = Arc<dyn Fn(Request<Bytes>) -> BoxResponse + Send + Sync>;

/// How long answering a refused connection's `503` may take.
const BUSY_WRITE: Duration = Duration::from_secs(2);

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, CommandError> {
    TcpListener::bind(addr).await.map_err(|e| {
        CommandError::Failed(format!(
            "cannot listen on {addr}: {e} (set RESTAGER_LISTEN or --listen to a free address)"
        ))
    })
}

/// Serves until `shutdown` resolves, then stops accepting, lets requests in
/// progress finish within `limits.shutdown_grace` and closes the rest.
pub async fn serve(
    listener: TcpListener,
    handler: Handler,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CommandError> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        // Finished connections are reaped as new ones arrive.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: pause, do not spin.
                tracing::warn!(error = %e, "cannot accept a connection; pausing 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                let handler = Arc::clone(&handler);
                let stop = stop_rx.clone();
                connections.spawn(connection(stream, peer, handler, limits, stop, permit));
            }
            Err(_) => {
                tracing::info!(target: REFUSED, client = %peer, limit = limits.max_connections,
                    reason = "too many connections", "connection refused");
                connections.spawn(refuse_busy(stream, limits.max_connections));
            }
        }
    }
    drop(listener);
    stop_tx.send_replace(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            grace = %humantime::format_duration(limits.shutdown_grace),
            "closing the connections still open after the shutdown grace period ({})",
            HttpLimits::SHUTDOWN_GRACE
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    Ok(())
}

/// One connection, served until the client or a shutdown ends it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Handler,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let service = service_fn(move |request: Request<Incoming>| {
        let handler = Arc::clone(&handler);
        async move {
            let response = respond(&handler, request, peer, limits).await;
            Ok::<_, Infallible>(response.map(Full::new))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = async {
            // The guard `wait_for` returns is dropped here, before any await.
            let _ = stop.wait_for(|stop| *stop).await;
        } => {
            // Idle connections close now; one mid-request finishes it first
            // (bounded by the server's grace period).
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        if e.is_timeout() {
            tracing::info!(target: REFUSED, client = %peer,
                reason = "the request head did not arrive in time",
                timeout = %humantime::format_duration(limits.header_read_timeout),
                setting = HttpLimits::HEADER_READ_TIMEOUT, "connection closed");
        } else {
            tracing::debug!(client = %peer, error = %e, "connection ended with an error");
        }
    }
}

/// Reads the body within the limits, then hands the request to the router.
async fn respond(
    handler: &Handler,
    request: Request<Incoming>,
    peer: SocketAddr,
    limits: HttpLimits,
) -> Response<Bytes> {
    let (parts, body) = request.into_parts();
    let refuse = |response: Response<Bytes>| refused(response, &parts, peer);
    if let Some(declared) = declared_length(&parts.headers)
        && declared > MAX_BODY_BYTES as u64
    {
        return refuse(webhook::payload_too_large(&format!(
            "Content-Length declares {declared} bytes"
        )));
    }
    let read = tokio::time::timeout(
        limits.body_read_timeout,
        Limited::new(body, MAX_BODY_BYTES).collect(),
    )
    .await;
    let body = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return refuse(webhook::payload_too_large(&format!(
                "the body is longer than {MAX_BODY_BYTES} bytes"
            )));
        }
        Ok(Err(e)) => return refuse(webhook::unreadable_body(&e.to_string())),
        Err(_) => {
            return refuse(webhook::request_timeout(
                limits.body_read_timeout,
                HttpLimits::BODY_READ_TIMEOUT,
            ));
        }
    };
    let request = Request::from_parts(parts.clone(), body);
    let response = handler(request).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        log_refusal(&response, &parts, peer);
    }
    response
}

/// A refusal made before the router saw the request: logged, and the
/// connection closed (the rest of the body is not worth reading).
fn refused(
    mut response: Response<Bytes>,
    parts: &http::request::Parts,
    peer: SocketAddr,
) -> Response<Bytes> {
    log_refusal(&response, parts, peer);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// One line per refused request: route, status, reason, delivery id, client.
fn log_refusal(response: &Response<Bytes>, parts: &http::request::Parts, peer: SocketAddr) {
    let reason = serde_json::from_slice::<serde_json::Value>(response.body())
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| {
            response
                .status()
                .canonical_reason()
                .unwrap_or("refused")
                .to_string()
        });
    let route: String = parts.uri.path().chars().take(64).collect();
    tracing::info!(target: REFUSED, route = %route, method = %parts.method,
        status = response.status().as_u16(), %reason, delivery = %delivery_id(&parts.headers),
        client = %peer, "request refused");
}

/// The sender's id of the request as it claims it (not verified): the
/// Standard Webhooks `webhook-id` or GitHub's delivery GUID, `-` if none.
fn delivery_id(headers: &HeaderMap) -> String {
    ["webhook-id", "x-github-delivery"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.chars()
                .filter(|c| c.is_ascii_graphic())
                .take(80)
                .collect()
        })
        .filter(|v: &String| !v.is_empty())
        .unwrap_or_else(|| "-".to_string())
}

/// `Content-Length` as a number; hyper itself refuses one that is not.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Answers a connection over the cap with `503` and closes it, without
/// reading its request: bounded by [`BUSY_WRITE`].
async fn refuse_busy(mut stream: TcpStream, limit: usize) {
    let response = webhook::too_many_connections(limit, HttpLimits::MAX_CONNECTIONS);
    let mut head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        response.body().len()
    );
    if let Some(retry) = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        head.push_str(&format!("retry-after: {retry}\r\n"));
    }
    head.push_str("\r\n");
    let answer = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(response.body()).await?;
        stream.shutdown().await?;
        // Read what the client sent until it closes its side, so closing
        // ours does not reset the connection (a reset can discard the 503
        // before the client reads it). Bounded by BUSY_WRITE, like the rest.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(BUSY_WRITE, answer).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_come_from_either_scheme_and_are_cleaned() {
        let mut h = HeaderMap::new();
        assert_eq!(delivery_id(&h), "-");
        h.insert("x-github-delivery", HeaderValue::from_static("d-1"));
        assert_eq!(delivery_id(&h), "d-1");
        h.insert("webhook-id", HeaderValue::from_static("msg 2"));
        assert_eq!(delivery_id(&h), "msg2");
    }

    #[test]
    fn declared_lengths_are_read_as_numbers() {
        let mut h = HeaderMap::new();
        assert_eq!(declared_length(&h), None);
        h.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from_static("104857600"),
        );
        assert_eq!(declared_length(&h), Some(104_857_600));
    }
}
