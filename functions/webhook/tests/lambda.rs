//! The Lambda handler called directly with lambda_http requests, as Function
//! URL events deliver them: the body the router verifies is the sender's raw
//! bytes, whether it arrived as text or base64.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request};
use restager_shared::cf::CfClient;
use restager_shared::config::{CfSettings, IntakeSettings, Secret};
use restager_shared::notify::LogNotifier;
use restager_shared::signature::github;
use restager_shared::webhook::{Router, RouterDeps};
use serde_json::{Value, json};
use test_support::fakes::{FaultyLedger, FaultyQueue};
use webhook::handler;

const SECRET: &str = "lambda-test-secret";

fn router() -> Router {
    let cf = CfClient::new(&CfSettings {
        api_url: "http://127.0.0.1:9".parse().expect("url"),
        client_id: "restager".into(),
        client_secret: Secret::new("unused"),
        skip_ssl_validation: false,
    })
    .expect("client");
    Router::new(RouterDeps {
        intake: IntakeSettings {
            github_secrets: vec![Secret::new(SECRET)],
            ..IntakeSettings::default()
        },
        cf,
        // Never reachable: the requests here must not need them.
        queue: Arc::new(FaultyQueue::unreachable()),
        ledger: Arc::new(FaultyLedger::unreachable()),
        notifier: Arc::new(LogNotifier),
        slack_actions: None,
    })
}

/// A ping whose bytes any JSON re-serialization would change: an escaped
/// control character in GitHub's upper-case form, odd spacing, non-ASCII.
const PING: &str =
    "{\"zen\": \"Keep it \\u001B logically awesome — ✓\",\n  \"hook_id\":  109948940 }";

/// A Function URL (payload v2) event as Lambda delivers it.
fn function_url_event(
    method: &str,
    path: &str,
    headers: Value,
    body: Option<&str>,
    base64: bool,
) -> Request {
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10", "userAgent": "GitHub-Hookshot/ede37db"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000u64
        },
        "body": body,
        "isBase64Encoded": base64
    });
    let request: LambdaRequest = serde_json::from_value(event).expect("a valid Function URL event");
    Request::from(request)
}

fn ping_headers(signature: &str) -> Value {
    json!({
        "content-type": "application/json",
        "x-github-event": "ping",
        "x-github-delivery": "d4049330-377e-11ed-9c2e-1ae286aab35f",
        "x-github-hook-id": "380052596",
        "x-hub-signature-256": signature,
        "host": "abcdefghij.lambda-url.eu-west-1.on.aws"
    })
}

async fn call(request: Request) -> (u16, Value) {
    let response = handler::handle(&router(), request)
        .await
        .expect("infallible");
    let status = response.status().as_u16();
    let text = match response.body() {
        Body::Text(t) => t.clone(),
        Body::Empty => String::new(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn a_base64_encoded_body_is_verified_on_its_decoded_raw_bytes() {
    let signature = github::sign(&Secret::new(SECRET), PING.as_bytes());
    let encoded = STANDARD.encode(PING.as_bytes());
    let (status, body) = call(function_url_event(
        "POST",
        "/webhooks/github",
        ping_headers(&signature),
        Some(&encoded),
        true,
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pong");
    assert_eq!(body["hook_id"], 109948940);
}

#[tokio::test]
async fn a_text_body_is_verified_as_sent() {
    let signature = github::sign(&Secret::new(SECRET), PING.as_bytes());
    let (status, body) = call(function_url_event(
        "POST",
        "/webhooks/github",
        ping_headers(&signature),
        Some(PING),
        false,
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    // The same document re-serialized is different bytes: refused.
    let reserialized =
        serde_json::to_string(&serde_json::from_str::<Value>(PING).expect("json")).expect("json");
    assert_ne!(reserialized, PING);
    let (status, _) = call(function_url_event(
        "POST",
        "/webhooks/github",
        ping_headers(&signature),
        Some(&reserialized),
        false,
    ))
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn routing_errors_and_outages_come_back_as_http_answers() {
    let (status, body) = call(function_url_event(
        "GET",
        "/healthz",
        json!({}),
        None,
        false,
    ))
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let response = handler::handle(
        &router(),
        function_url_event("GET", "/webhooks/github", json!({}), None, false),
    )
    .await
    .expect("infallible");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(
        response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let (status, _) = call(function_url_event("POST", "/nope", json!({}), None, false)).await;
    assert_eq!(status, 404);

    // A real release, but the ledger is unreachable: 503, never a Lambda error.
    let release = br#"{"action":"published","release":{"id":1,"tag_name":"v1.10.30","name":null,"body":null,"draft":false,"prerelease":false,"published_at":null},"repository":{"id":2,"full_name":"cloudfoundry/ruby-buildpack"}}"#;
    let text = std::str::from_utf8(release).expect("utf8");
    let mut headers = ping_headers(&github::sign(&Secret::new(SECRET), release));
    headers["x-github-event"] = json!("release");
    let response = handler::handle(
        &router(),
        function_url_event("POST", "/webhooks/github", headers, Some(text), false),
    )
    .await
    .expect("infallible");
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().get("retry-after").is_some());
}
