//! The two kinds of event the webhook function receives: HTTP requests from
//! its Function URL (payload format 2.0), and the scheduled sweep, which
//! EventBridge sends as plain JSON (`{"source":"restager.schedule","action":"sweep"}`,
//! see `infra/template.yaml`). `lambda_http::run` only understands the first,
//! so the function takes raw JSON and tells them apart here.

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, Response};
use serde_json::Value;

/// `source` of the scheduled sweep event.
pub const SWEEP_SOURCE: &str = "restager.schedule";

/// What an invocation asks for.
pub enum Invocation {
    Http(Box<Request>),
    Sweep,
}

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error(
        "the event is neither a Function URL request nor the scheduled sweep \
         ({{\"source\":\"{SWEEP_SOURCE}\",\"action\":\"sweep\"}}): {0}"
    )]
    Unrecognized(String),
}

/// Tells a sweep from an HTTP request. The request body stays exactly as
/// delivered (lambda_http undoes `isBase64Encoded`, nothing more).
pub fn classify(event: Value) -> Result<Invocation, InvocationError> {
    if event.get("source").and_then(Value::as_str) == Some(SWEEP_SOURCE) {
        return match event.get("action").and_then(Value::as_str) {
            Some("sweep") => Ok(Invocation::Sweep),
            other => Err(InvocationError::Unrecognized(format!(
                "unknown scheduled action {other:?}"
            ))),
        };
    }
    let request: LambdaRequest =
        serde_json::from_value(event).map_err(|e| InvocationError::Unrecognized(e.to_string()))?;
    Ok(Invocation::Http(Box::new(Request::from(request))))
}

/// The Function URL response (same shape as an HTTP API payload 2.0 response).
pub fn function_url_response(response: Response<Body>) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    match body {
        Body::Empty => {}
        Body::Text(text) => out.body = Some(Body::Text(text)),
        Body::Binary(raw) => {
            out.is_base64_encoded = true;
            out.body = Some(Body::Binary(raw));
        }
        other => {
            out.is_base64_encoded = true;
            out.body = Some(Body::Binary(other.to_vec()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_schedule_event_is_a_sweep_and_junk_is_named() {
        assert!(matches!(
            classify(json!({"source": SWEEP_SOURCE, "action": "sweep"})),
            Ok(Invocation::Sweep)
        ));
        let err = classify(json!({"source": SWEEP_SOURCE, "action": "purge"}))
            .err()
            .expect("unknown action");
        assert!(err.to_string().contains("purge"), "{err}");
        assert!(classify(json!({"hello": "world"})).is_err());
    }

    #[test]
    fn responses_serialize_as_function_url_responses() {
        let mut response = Response::new(Body::Text("{\"status\":\"ok\"}".into()));
        *response.status_mut() = http::StatusCode::ACCEPTED;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let value = serde_json::to_value(function_url_response(response)).expect("serializes");
        assert_eq!(value["statusCode"], 202);
        assert_eq!(value["body"], "{\"status\":\"ok\"}");
        assert_eq!(value["isBase64Encoded"], false);
        assert_eq!(value["headers"]["content-type"], "application/json");
    }
}
