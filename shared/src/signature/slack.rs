//! Slack request signing (`v0`): `X-Slack-Signature: v0=<hex HMAC-SHA256(signing
//! secret, "v0:{X-Slack-Request-Timestamp}:{raw body}")>`, timestamp within five
//! minutes. Used for interactivity callbacks such as a "Retry failed" button.

use std::time::{Duration, SystemTime};

use super::{SignatureError, check_freshness, header_text, mac, parse_timestamp};
use crate::config::Secret;

pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

const PREFIX: &str = "v0=";
const SCHEME: &str = "Slack";
const SETTING: &str = "SLACK_SIGNING_SECRET (the app's Signing Secret, under Basic Information)";
const DIGEST_HEX_LEN: usize = 64;
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
    let keys = usable_secrets(secrets)?;
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
    let hex = signature
        .trim()
        .strip_prefix(PREFIX)
        .ok_or(SignatureError::WrongPrefix {
            header: SIGNATURE_HEADER,
            expected: PREFIX,
        })?;
    let bad_hex = SignatureError::BadHex {
        header: SIGNATURE_HEADER,
        expected_len: DIGEST_HEX_LEN,
    };
    if hex.len() != DIGEST_HEX_LEN {
        return Err(bad_hex);
    }
    let expected = mac::from_hex(hex).ok_or(bad_hex)?;
    // The timestamp is signed exactly as sent, not re-rendered from the parsed number.
    let content: [&[u8]; 4] = [b"v0:", raw_timestamp.as_bytes(), b":", body];
    let matched = keys.iter().fold(false, |found, key| {
        mac::matches(key, &content, &expected) | found
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch { scheme: SCHEME })
    }
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

fn usable_secrets(secrets: &[Secret]) -> Result<Vec<&[u8]>, SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets {
            scheme: SCHEME,
            setting: SETTING,
        });
    }
    secrets
        .iter()
        .map(|s| {
            if s.expose().is_empty() {
                Err(SignatureError::InvalidSecret {
                    scheme: SCHEME,
                    setting: SETTING,
                    reason: "it is empty",
                })
            } else {
                Ok(s.expose().as_bytes())
            }
        })
        .collect()
}
