//! Standard Webhooks (spec v1.0.0) symmetric signatures, used for the
//! project's own notices sent by release pollers, relays and CI.
//!
//! `webhook-signature` carries space-separated `v1,<base64 HMAC-SHA256>` entries
//! over `"{webhook-id}.{webhook-timestamp}.{raw body}"`, keyed with the base64
//! part of a `whsec_...` secret. A sender rotating keys signs with old and new
//! keys at once, so any configured secret may match any `v1` entry. Other
//! versions (such as asymmetric `v1a`) are skipped, as the spec requires.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::{SignatureError, check_any_match, check_freshness, header_text, mac, parse_timestamp};
use crate::config::Secret;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

const SCHEME: &str = "Standard Webhooks";
const SETTING: &str = "RESTAGER_NOTICE_SECRETS (comma-separated whsec_... secrets)";
const SECRET_PREFIX: &str = "whsec_";
const VERSION: &str = "v1";
/// Longer ids are refused: the id becomes a storage key for de-duplication.
const MAX_ID_LEN: usize = 256;
const HINT: &str = "sign it per the Standard Webhooks spec, e.g. with `restager notify --url URL --buildpack NAME --version V`";

/// Signatures are emitted padded; secrets are accepted with or without padding
/// because the reference libraries disagree (Python pads, Rust requires it).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const STRICT: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The three signing headers as received (`None` when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl<'a> SignedHeaders<'a> {
    pub fn from_headers(headers: &'a http::HeaderMap) -> Result<Self, SignatureError> {
        Ok(Self {
            id: header_text(headers, ID_HEADER)?,
            timestamp: header_text(headers, TIMESTAMP_HEADER)?,
            signature: header_text(headers, SIGNATURE_HEADER)?,
        })
    }
}

/// What a successful check vouches for: the sender's message id (the
/// idempotency key the spec recommends) and when it was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub id: String,
    pub timestamp: i64,
}

/// Checks a request: headers present and well formed, timestamp within
/// `tolerance` of `now` in both directions, and some `v1` signature made by
/// some configured secret.
pub fn verify(
    secrets: &[Secret],
    headers: &SignedHeaders<'_>,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verified, SignatureError> {
    let keys = decode_secrets(secrets)?;
    let id = required(headers.id, ID_HEADER)?;
    let raw_timestamp = required(headers.timestamp, TIMESTAMP_HEADER)?;
    let signature = required(headers.signature, SIGNATURE_HEADER)?;
    check_id(id)?;
    let timestamp = parse_timestamp(TIMESTAMP_HEADER, raw_timestamp)?;
    check_freshness(TIMESTAMP_HEADER, timestamp, now, tolerance)?;

    let candidates = v1_signatures(signature)?;
    // Signed exactly as sent (the sender's rendering, e.g. leading zeros).
    let content: [&[u8]; 5] = [id.as_bytes(), b".", raw_timestamp.as_bytes(), b".", body];
    check_any_match(SCHEME, &keys, &content, &candidates)?;
    Ok(Verified {
        id: id.to_string(),
        timestamp,
    })
}

/// [`verify`] reading the three headers from a request.
pub fn verify_headers(
    secrets: &[Secret],
    headers: &http::HeaderMap,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verified, SignatureError> {
    verify(
        secrets,
        &SignedHeaders::from_headers(headers)?,
        body,
        now,
        tolerance,
    )
}

/// One `v1,<base64>` signature entry for `body` under `secret`.
pub fn sign(
    secret: &Secret,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignatureError> {
    let key = decode_secret(secret)?;
    let timestamp = timestamp.to_string();
    let tag = mac::tag(
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    Ok(format!("{VERSION},{}", STRICT.encode(tag)))
}

/// The three headers a sender attaches, signed with every secret given (as a
/// sender does while rotating keys). Ready to add to any HTTP client request.
pub fn signed_headers(
    secrets: &[Secret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], SignatureError> {
    if secrets.is_empty() {
        return Err(no_secrets());
    }
    let signatures = secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok([
        (ID_HEADER, id.to_string()),
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, signatures.join(" ")),
    ])
}

/// The HMAC key inside a `whsec_<base64>` secret. Call at start-up to reject a
/// bad secret before the first request does.
pub fn decode_secret(secret: &Secret) -> Result<Vec<u8>, SignatureError> {
    let raw = secret.expose();
    let encoded = raw.strip_prefix(SECRET_PREFIX).unwrap_or(raw);
    let invalid = |reason| SignatureError::InvalidSecret {
        scheme: SCHEME,
        setting: SETTING,
        reason,
    };
    if encoded.is_empty() {
        return Err(invalid("there is no key after `whsec_`"));
    }
    let key = LENIENT
        .decode(encoded)
        .map_err(|_| invalid("the part after `whsec_` is not standard base64"))?;
    if key.is_empty() {
        return Err(invalid("the key decodes to zero bytes"));
    }
    Ok(key)
}

fn decode_secrets(secrets: &[Secret]) -> Result<Vec<Vec<u8>>, SignatureError> {
    if secrets.is_empty() {
        return Err(no_secrets());
    }
    secrets.iter().map(decode_secret).collect()
}

fn no_secrets() -> SignatureError {
    SignatureError::NoSecrets {
        scheme: SCHEME,
        setting: SETTING,
    }
}

fn required<'a>(value: Option<&'a str>, header: &'static str) -> Result<&'a str, SignatureError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v.trim()),
        _ => Err(SignatureError::MissingHeader { header, hint: HINT }),
    }
}

fn check_id(id: &str) -> Result<(), SignatureError> {
    let malformed = |reason| SignatureError::MalformedHeader {
        header: ID_HEADER,
        reason,
    };
    if id.len() > MAX_ID_LEN {
        return Err(malformed("it is longer than 256 characters"));
    }
    // The signed content joins fields with `.`, so the spec forbids it in ids.
    if id.contains('.') {
        return Err(malformed("it must not contain `.`"));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(malformed("it must be visible ASCII without spaces"));
    }
    Ok(())
}

/// Decoded `v1` entries. Entries of other versions are skipped; a `v1` entry
/// that is not base64 cannot match and is skipped too. A header with no `v1`
/// entry at all is malformed rather than merely wrong.
fn v1_signatures(header: &str) -> Result<Vec<Vec<u8>>, SignatureError> {
    let mut seen_v1 = false;
    let mut decoded = Vec::new();
    for entry in header.split_ascii_whitespace() {
        let Some((version, sig)) = entry.split_once(',') else {
            continue;
        };
        if version != VERSION {
            continue;
        }
        seen_v1 = true;
        if let Ok(bytes) = STRICT.decode(sig) {
            decoded.push(bytes);
        }
    }
    if seen_v1 {
        Ok(decoded)
    } else {
        Err(SignatureError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "it has no `v1,<base64>` entry (space-separated list expected)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_other_versions_and_junk_are_skipped() {
        let sigs = v1_signatures("v1a,AAAA junk v1,AAAA v2,BBBB v1,!!").expect("has v1");
        assert_eq!(sigs, vec![vec![0u8, 0, 0]]);
        assert!(v1_signatures("v1a,AAAA v2,BBBB").is_err());
        assert!(v1_signatures("").is_err());
    }

    #[test]
    fn secrets_decode_with_or_without_padding_and_prefix() {
        let padded = decode_secret(&Secret::new("whsec_dGVzdA==")).expect("padded");
        let unpadded = decode_secret(&Secret::new("whsec_dGVzdA")).expect("unpadded");
        let bare = decode_secret(&Secret::new("dGVzdA==")).expect("without prefix");
        assert_eq!(padded, b"test");
        assert_eq!(unpadded, b"test");
        assert_eq!(bare, b"test");
        for bad in ["", "whsec_", "whsec_***"] {
            let err = decode_secret(&Secret::new(bad)).expect_err("unusable");
            assert!(err.is_misconfiguration(), "{bad:?}: {err}");
        }
    }
}
