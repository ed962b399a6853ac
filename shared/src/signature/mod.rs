//! Checking that a webhook request really comes from its sender.
//!
//! Every check works on the raw body bytes exactly as received: re-serialising
//! parsed JSON changes bytes (escapes, spacing) and breaks valid signatures.
//! Comparisons are constant-time ([`hmac::Mac::verify_slice`]) and any of
//! several configured secrets may match, so secrets can be rotated without
//! downtime.
//!
//! - [`github`]: `X-Hub-Signature-256: sha256=<hex>`.
//! - [`standard_webhooks`]: `webhook-id` / `webhook-timestamp` / `webhook-signature`,
//!   used for the project's own signed notices.
//! - [`slack`]: `X-Slack-Signature: v0=<hex>` for interactivity callbacks.

mod error;
pub mod github;
mod mac;
pub mod slack;
pub mod standard_webhooks;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use error::SignatureError;

use crate::config::Secret;

/// How far a signed timestamp may be from our clock, in either direction.
/// Standard Webhooks' and Slack's reference libraries both use five minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Checks a sender's unix-seconds timestamp against `now`, reporting "too old"
/// and "in the future" separately because they have different fixes (a replay
/// or a slow queue versus a skewed clock).
fn check_freshness(
    header: &'static str,
    timestamp: i64,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let now = unix_seconds(now);
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let age = i128::from(now) - i128::from(timestamp);
    if age > i128::from(tolerance) {
        return Err(SignatureError::TimestampTooOld {
            header,
            age_secs: clamp_secs(age),
            tolerance_secs: tolerance,
        });
    }
    if -age > i128::from(tolerance) {
        return Err(SignatureError::TimestampInFuture {
            header,
            ahead_secs: clamp_secs(-age),
            tolerance_secs: tolerance,
        });
    }
    Ok(())
}

fn unix_seconds(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn clamp_secs(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Parses a unix-seconds header value; only ASCII digits (an optional leading
/// `-` for completeness) so that `" 12"` or `"1e9"` are rejected, not guessed.
fn parse_timestamp(header: &'static str, raw: &str) -> Result<i64, SignatureError> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::BadTimestamp { header });
    }
    raw.parse::<i64>()
        .map_err(|_| SignatureError::BadTimestamp { header })
}

/// Reads one header as text; a value that is not visible ASCII is malformed.
fn header_text<'a>(
    headers: &'a http::HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, SignatureError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| SignatureError::MalformedHeader {
                header: name,
                reason: "it contains bytes that are not visible ASCII",
            }),
    }
}

/// The HMAC keys of schemes that use a secret as it is (GitHub, Slack).
fn plain_keys<'a>(
    secrets: &'a [Secret],
    scheme: &'static str,
    setting: &'static str,
) -> Result<Vec<&'a [u8]>, SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets { scheme, setting });
    }
    secrets
        .iter()
        .map(|s| {
            // An empty HMAC key is public knowledge: anyone could sign with it.
            if s.expose().is_empty() {
                Err(SignatureError::InvalidSecret {
                    scheme,
                    setting,
                    reason: "it is empty",
                })
            } else {
                Ok(s.expose().as_bytes())
            }
        })
        .collect()
}

/// Hex digits of an HMAC-SHA256 digest.
const DIGEST_HEX_LEN: usize = 64;

/// The digest in a `<prefix><hex>` signature header (GitHub's `sha256=`, Slack's `v0=`).
fn prefixed_hex_digest(
    header: &'static str,
    prefix: &'static str,
    value: &str,
) -> Result<Vec<u8>, SignatureError> {
    let hex = value
        .trim()
        .strip_prefix(prefix)
        .ok_or(SignatureError::WrongPrefix {
            header,
            expected: prefix,
        })?;
    let bad_hex = SignatureError::BadHex {
        header,
        expected_len: DIGEST_HEX_LEN,
    };
    if hex.len() != DIGEST_HEX_LEN {
        return Err(bad_hex);
    }
    mac::from_hex(hex).ok_or(bad_hex)
}

/// Succeeds if some key signed `content` as one of `candidates`. Every pair is
/// checked even after a match, so timing does not reveal which secret (old or
/// new) or which entry matched.
fn check_any_match<K: AsRef<[u8]>>(
    scheme: &'static str,
    keys: &[K],
    content: &[&[u8]],
    candidates: &[Vec<u8>],
) -> Result<(), SignatureError> {
    let matched = keys.iter().fold(false, |found, key| {
        candidates.iter().fold(found, |found, sig| {
            mac::matches(key.as_ref(), content, sig) | found
        })
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch { scheme })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn freshness_is_inclusive_at_the_tolerance_and_directional_beyond_it() {
        let tol = Duration::from_secs(300);
        assert!(check_freshness("h", 1_000, at(1_300), tol).is_ok());
        assert!(check_freshness("h", 1_600, at(1_300), tol).is_ok());
        assert!(matches!(
            check_freshness("h", 1_000, at(1_301), tol),
            Err(SignatureError::TimestampTooOld { age_secs: 301, .. })
        ));
        assert!(matches!(
            check_freshness("h", 1_601, at(1_300), tol),
            Err(SignatureError::TimestampInFuture {
                ahead_secs: 301,
                ..
            })
        ));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let tol = Duration::from_secs(300);
        assert!(check_freshness("h", i64::MIN, at(1_000), tol).is_err());
        assert!(check_freshness("h", i64::MAX, at(1_000), tol).is_err());
        assert!(check_freshness("h", 0, at(0), Duration::MAX).is_ok());
    }

    #[test]
    fn timestamps_must_be_plain_integers() {
        assert_eq!(parse_timestamp("h", "1614265330"), Ok(1_614_265_330));
        for bad in [
            "",
            "hello",
            " 1",
            "1.5",
            "1e9",
            "+1",
            "-",
            "99999999999999999999",
        ] {
            assert!(
                parse_timestamp("h", bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
