//! GitHub webhook deliveries: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`.
//!
//! GitHub signs with one secret per hook, so rotating it means a window where
//! either the old or the new secret is valid; hence a list of secrets.

use super::{SignatureError, check_any_match, header_text, mac, plain_keys, prefixed_hex_digest};
use crate::config::Secret;

/// The header carrying the signature (header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

const PREFIX: &str = "sha256=";
const SCHEME: &str = "GitHub";
const SETTING: &str = "RESTAGER_GITHUB_SECRETS (comma-separated, current secret first)";

/// Checks `signature` (the `X-Hub-Signature-256` value, if sent) over the raw
/// `body` against every secret; succeeds if any one matches.
pub fn verify(
    secrets: &[Secret],
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let keys = plain_keys(secrets, SCHEME, SETTING)?;
    let signature = signature.ok_or(SignatureError::MissingHeader {
        header: SIGNATURE_HEADER,
        hint: "GitHub only sends it when the webhook has a secret: set one in the webhook's settings",
    })?;
    let expected = prefixed_hex_digest(SIGNATURE_HEADER, PREFIX, signature)?;
    check_any_match(SCHEME, &keys, &[body], &[expected])
}

/// [`verify`] reading the signature from request headers.
pub fn verify_headers(
    secrets: &[Secret],
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(), SignatureError> {
    verify(secrets, header_text(headers, SIGNATURE_HEADER)?, body)
}

/// The `X-Hub-Signature-256` value GitHub would send for `body` signed with `secret`.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    format!(
        "{PREFIX}{}",
        mac::to_hex(&mac::tag(secret.expose().as_bytes(), &[body]))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_round_trip() {
        let secret = Secret::new("s3cret");
        let header = sign(&secret, b"{}");
        assert!(header.starts_with("sha256="));
        assert_eq!(header.len(), 7 + 64);
        assert_eq!(verify(&[secret], Some(&header), b"{}"), Ok(()));
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let secret = Secret::new("s3cret");
        let header = sign(&secret, b"x")
            .to_uppercase()
            .replace("SHA256=", "sha256=");
        assert_eq!(verify(&[secret], Some(&header), b"x"), Ok(()));
    }

    #[test]
    fn empty_or_missing_secrets_are_configuration_errors() {
        let err = verify(&[], Some("sha256=00"), b"").expect_err("no secrets");
        assert!(err.is_misconfiguration());
        let err = verify(&[Secret::new("")], Some("sha256=00"), b"").expect_err("empty secret");
        assert!(matches!(err, SignatureError::InvalidSecret { .. }));
    }
}
