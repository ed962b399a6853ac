//! Slack request signing (`v0`): `X-Slack-Signature: v0=<hex HMAC-SHA256(signing
//! secret, "v0:{X-Slack-Request-Timestamp}:{raw body}")>`, timestamp within five
//! minutes. Used for interactivity callbacks such as a "Retry failed" button.

use std::time::{Duration, SystemTime};

use super::{
    SignatureError, check_any_match, check_freshness, header_text, mac, parse_timestamp,
    plain_keys, prefixed_hex_digest,
};
use crate::config::Secret;

pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

const PREFIX: &str = "v0=";
const SCHEME: &str = "Slack";
const SETTING: &str = "SLACK_SIGNING_SECRET (the app's Signing Secret, under Basic Information)";
const HINT: &str = "Slack sends it on every request; is the request really from Slack?";

/// Checks a Slack request; any of `secrets` may match (a regenerated signing
/// secret can be configured next to the old one while Slack switches over).
pub fn verify(
    secrets: &[Secret],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let keys = plain_keys(secrets, SCHEME, SETTING)?;
    let raw_timestamp = timestamp.ok_or(SignatureError::MissingHeader {
        header: TIMESTAMP_HEADER,
        hint: HINT,
    })?;
    let signature = signature.ok_or(SignatureError::MissingHeader {
        header: SIGNATURE_HEADER,
        hint: HINT,
    })?;
    let raw_timestamp = raw_timestamp.trim();
    let ts = parse_timestamp(TIMESTAMP_HEADER, raw_timestamp)?;
    check_freshness(TIMESTAMP_HEADER, ts, now, tolerance)?;
    let expected = prefixed_hex_digest(SIGNATURE_HEADER, PREFIX, signature)?;
    // The timestamp is signed exactly as sent, not re-rendered from the parsed number.
    let content: [&[u8]; 4] = [b"v0:", raw_timestamp.as_bytes(), b":", body];
    check_any_match(SCHEME, &keys, &content, &[expected])
}

/// [`verify`] reading both headers from a request.
pub fn verify_headers(
    secrets: &[Secret],
    headers: &http::HeaderMap,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    verify(
        secrets,
        header_text(headers, TIMESTAMP_HEADER)?,
        header_text(headers, SIGNATURE_HEADER)?,
        body,
        now,
        tolerance,
    )
}

/// The `X-Slack-Signature` value Slack would send for `body` at `timestamp`.
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let tag = mac::tag(
        secret.expose().as_bytes(),
        &[b"v0:", timestamp.as_bytes(), b":", body],
    );
    format!("{PREFIX}{}", mac::to_hex(&tag))
}
