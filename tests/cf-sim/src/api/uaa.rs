//! `GET /`, `GET /v3` and UAA's client-credentials token endpoint.

use axum::Form;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::json;

use super::{S, now, ok};
use crate::version::since;

/// RootController#read (app/controllers/runtime/root_controller.rb).
pub(crate) async fn root(axum::extract::State(s): S) -> Response {
    let w = s.lock();
    let b = &w.base_url;
    let mut links = serde_json::Map::new();
    links.insert("self".to_owned(), json!({"href": b}));
    // The v2 link unless `temporary_enable_v2` is off, its default from
    // 3.181.0 (2ae7c7e7); the v2 API's version runs 65 minors ahead of v3's
    // (config/version_v2 in every capi-release from 1.155.0 to 1.197.0).
    if !w.api.at_least(since::NO_V2_ROOT_LINK) {
        links.insert(
            "cloud_controller_v2".to_owned(),
            json!({"href": format!("{b}/v2"), "meta": {"version": format!("2.{}.0", w.api.1 + 65)}}),
        );
    }
    let entries = [
        (
            "cloud_controller_v3",
            json!({"href": format!("{b}/v3"), "meta": {"version": w.cfg.api_version}}),
        ),
        (
            "network_policy_v0",
            json!({"href": format!("{b}/networking/v0/external")}),
        ),
        (
            "network_policy_v1",
            json!({"href": format!("{b}/networking/v1/external")}),
        ),
        ("login", json!({"href": b})),
        ("uaa", json!({"href": b})),
        // No CredHub configured.
        ("credhub", serde_json::Value::Null),
        ("routing", json!({"href": format!("{b}/routing")})),
        (
            "logging",
            json!({"href": format!("ws://{}:{}", "127.0.0.1", w.port)}),
        ),
        ("log_cache", json!({"href": b})),
        ("log_stream", json!({"href": b})),
        (
            "app_ssh",
            json!({"href": format!("127.0.0.1:{}", w.port), "meta": {"host_key_fingerprint": "", "oauth_client": "ssh-proxy"}}),
        ),
    ];
    for (k, v) in entries {
        links.insert(k.to_owned(), v);
    }
    ok(json!({ "links": links }))
}

/// RootController#v3_root (app/controllers/v3/root_controller.rb): every
/// link CC lists, though the simulator serves only some of them.
pub(crate) async fn v3_root(axum::extract::State(s): S) -> Response {
    let w = s.lock();
    let b = &w.base_url;
    let mut links = serde_json::Map::new();
    links.insert("self".to_owned(), json!({"href": format!("{b}/v3")}));
    for r in [
        "app_usage_events",
        "apps",
        "audit_events",
        "buildpacks",
        "builds",
        "deployments",
        "domains",
        "droplets",
        "environment_variable_groups",
        "feature_flags",
        "info",
        "isolation_segments",
        "organizations",
        "organization_quotas",
        "packages",
        "processes",
        "resource_matches",
        "roles",
        "routes",
        "security_groups",
        "service_brokers",
        "service_instances",
        "service_credential_bindings",
        "service_offerings",
        "service_plans",
        "service_route_bindings",
        "service_usage_events",
        "spaces",
        "space_quotas",
        "stacks",
        "tasks",
        "users",
    ] {
        links.insert(r.to_owned(), json!({"href": format!("{b}/v3/{r}")}));
    }
    ok(json!({"links": links}))
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn uaa_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            super::header_value("Basic realm=\"UAA/client\", error=\"unauthorized\", error_description=\"Bad credentials\""),
        );
    }
    resp
}

/// Client credentials from HTTP Basic (`client_id:client_secret`, base64).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

/// UAA form-encodes client ids and secrets inside Basic credentials.
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

pub(crate) async fn token(
    axum::extract::State(s): S,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return uaa_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing grant type",
        );
    };
    if form.grant_type.as_deref() != Some("client_credentials") {
        return uaa_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!(
                "Unsupported grant type: {}",
                form.grant_type.as_deref().unwrap_or("")
            ),
        );
    }
    let creds = match (form.client_id, form.client_secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        _ => basic_credentials(&headers),
    };
    let mut w = s.lock();
    let valid = creds
        .as_ref()
        .is_some_and(|(id, secret)| *id == w.cfg.client_id && *secret == w.cfg.client_secret);
    if !valid {
        return uaa_error(StatusCode::UNAUTHORIZED, "unauthorized", "Bad credentials");
    }
    let jti = w.guid().replace('-', "");
    let issued = chrono::Utc::now().timestamp();
    let ttl = w.cfg.token_ttl;
    let expires_in = ttl.as_secs();
    let scope = w.cfg.scope.clone();
    let client = w.cfg.client_id.clone();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"sim-key-1","typ":"JWT"}"#);
    let claims = json!({
        "jti": jti, "sub": client, "authorities": scope.split(' ').collect::<Vec<_>>(),
        "scope": scope.split(' ').collect::<Vec<_>>(), "client_id": client, "cid": client,
        "azp": client, "grant_type": "client_credentials", "iat": issued,
        "exp": issued.saturating_add_unsigned(expires_in), "iss": format!("{}/oauth/token", w.base_url),
        "zid": "uaa", "aud": ["cloud_controller", client],
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = URL_SAFE_NO_PAD.encode(format!("{:032x}", w.rng_u64()));
    let access_token = format!("{header}.{payload}.{signature}");
    w.tokens.insert(access_token.clone(), now() + ttl);
    ok(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expires_in,
        "scope": scope,
        "jti": jti,
    }))
}
