//! Checks on a request's envelope made before any signature is checked:
//! size, content encoding and content type. Cheap refusals first, so junk
//! costs nothing.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};

use super::reply;

/// Largest body accepted. Release notices are a few KB; GitHub's cap is 25 MB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub(crate) const JSON: &str = "application/json";
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// `Some(refusal)` unless the body is small enough, not encoded, and of the
/// content type `wanted` (`hint` says how the sender fixes a wrong one).
pub(crate) fn check_envelope(
    headers: &HeaderMap,
    body: &Bytes,
    wanted: &'static str,
    hint: &str,
) -> Option<Response<Bytes>> {
    check_size(body)
        .or_else(|| check_content_encoding(headers))
        .or_else(|| check_content_type(headers, wanted, hint))
}

/// `Some(refusal)` when the body is too large.
fn check_size(body: &Bytes) -> Option<Response<Bytes>> {
    if body.len() > MAX_BODY_BYTES {
        return Some(reply::payload_too_large(&format!(
            "the body is {} bytes",
            body.len()
        )));
    }
    None
}

/// `Some(refusal)` when the body is encoded (`Content-Encoding: gzip`, say):
/// signatures are over the bytes as sent and restager does not decompress,
/// so an encoded body would only fail later as "not JSON" or "bad signature".
fn check_content_encoding(headers: &HeaderMap) -> Option<Response<Bytes>> {
    let mut codings = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let Ok(text) = value.to_str() else {
            codings.push("(not ASCII)".to_string());
            continue;
        };
        codings.extend(
            text.split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty() && c != "identity"),
        );
    }
    if codings.is_empty() {
        return None;
    }
    let shown: String = codings.join(", ").chars().take(64).collect();
    Some(reply::error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "Content-Encoding `{shown}` is not accepted: send the body uncompressed (identity); \
             the signature covers the bytes as sent"
        ),
    ))
}

/// The media type without parameters, lower-cased (`application/json; charset=utf-8` → `application/json`).
fn media_type(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = raw.split(';').next().unwrap_or(raw).trim();
    Some(essence.to_ascii_lowercase())
}

/// `Some(refusal)` unless the content type is `wanted` (parameters such as `charset` are allowed). `hint`
/// says how the sender fixes it.
fn check_content_type(
    headers: &HeaderMap,
    wanted: &'static str,
    hint: &str,
) -> Option<Response<Bytes>> {
    match media_type(headers) {
        Some(found) if found == wanted => None,
        found => {
            let found = found
                .map(|f| format!("`{}`", f.chars().take(64).collect::<String>()))
                .unwrap_or_else(|| "missing".to_string());
            Some(reply::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type is {found}; this route accepts {wanted} only{hint}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn with(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(ct).expect("header"),
        );
        h
    }

    #[test]
    fn json_with_parameters_is_json_and_others_are_not() {
        assert!(check_content_type(&with("application/json"), JSON, "").is_none());
        assert!(check_content_type(&with("Application/JSON; charset=utf-8"), JSON, "").is_none());
        assert!(check_content_type(&with("application/x-www-form-urlencoded"), JSON, "").is_some());
        assert!(check_content_type(&with("text/plain"), JSON, "").is_some());
        assert!(check_content_type(&HeaderMap::new(), JSON, "").is_some());
        assert!(check_content_type(&with("application/jsonx"), JSON, "").is_some());
    }

    #[test]
    fn only_identity_content_encoding_passes() {
        let with_encoding = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_str(v).expect("header"),
            );
            h
        };
        assert!(check_content_encoding(&HeaderMap::new()).is_none());
        assert!(check_content_encoding(&with_encoding("identity")).is_none());
        assert!(check_content_encoding(&with_encoding(" Identity ")).is_none());
        for bad in ["gzip", "br", "identity, gzip", "deflate"] {
            let refused = check_content_encoding(&with_encoding(bad)).expect(bad);
            assert_eq!(
                refused.status(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{bad}"
            );
        }
    }

    #[test]
    fn size_limit_is_one_mebibyte() {
        assert!(check_size(&Bytes::from(vec![b' '; MAX_BODY_BYTES])).is_none());
        let refused = check_size(&Bytes::from(vec![b' '; MAX_BODY_BYTES + 1])).expect("too big");
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
