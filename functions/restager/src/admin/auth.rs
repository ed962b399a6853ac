//! Who may use the admin routes: whoever sends `RESTAGER_ADMIN_TOKEN`.
//!
//! - unset: the admin routes are off and answer `404`, as if absent;
//! - the token in the query string (`?token=`, `?access_token=`, …) is
//!   refused whatever its value: URLs end up in logs, histories and proxies;
//! - `Authorization: Bearer TOKEN`, or for a browser `Authorization: Basic`
//!   with any user name and the token as the password (a `401` asks a
//!   browser for it), compared in constant time over the raw bytes.
//!
//! The token is never logged or echoed; refusals say what was wrong, never
//! what was sent.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, Uri, header};
use restager_shared::config::Secret;
use subtle::ConstantTimeEq;

use super::reply;

/// Query parameters that look like a credential; any of them is refused.
const CREDENTIAL_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "admin_token",
    "auth",
    "authorization",
    "bearer",
    "password",
    "key",
    "api_key",
];

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `RESTAGER_ADMIN_TOKEN` is not set.
    Off,
    /// A credential in the URL.
    InQuery,
    /// No `Authorization` header, or one of another scheme.
    Missing,
    /// The wrong token.
    Wrong,
}

/// Lets the request through, or says why not.
pub fn check(token: Option<&Secret>, headers: &HeaderMap, uri: &Uri) -> Result<(), Refusal> {
    let Some(token) = token else {
        return Err(Refusal::Off);
    };
    if credential_in_query(uri) {
        return Err(Refusal::InQuery);
    }
    let given = presented(headers).ok_or(Refusal::Missing)?;
    if bool::from(given.as_slice().ct_eq(token.expose().as_bytes())) {
        Ok(())
    } else {
        Err(Refusal::Wrong)
    }
}

fn credential_in_query(uri: &Uri) -> bool {
    let Some(query) = uri.query() else {
        return false;
    };
    url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| {
        let name = name.to_ascii_lowercase();
        CREDENTIAL_PARAMS.contains(&name.as_str())
    })
}

/// The token the request presents, from `Bearer` or `Basic`.
fn presented(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = split_scheme(value)?;
    if scheme.eq_ignore_ascii_case(b"bearer") {
        return Some(trim(rest).to_vec());
    }
    if scheme.eq_ignore_ascii_case(b"basic") {
        let decoded = STANDARD.decode(trim(rest)).ok()?;
        let colon = decoded.iter().position(|b| *b == b':')?;
        return Some(decoded[colon + 1..].to_vec());
    }
    None
}

fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = value.iter().position(|b| *b == b' ')?;
    Some((&value[..space], &value[space + 1..]))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

impl Refusal {
    /// The answer: `404` when the admin API is off, else `401` with the
    /// challenges (Basic makes a browser ask for the token).
    pub fn response(self) -> Response<Bytes> {
        let message = match self {
            Refusal::Off => {
                return reply::error(
                    StatusCode::NOT_FOUND,
                    "the admin API is off: set RESTAGER_ADMIN_TOKEN (or --admin-token) on restager serve to turn on /runs",
                );
            }
            Refusal::InQuery => {
                "a credential was given in the URL, which is refused whatever its value (URLs end up in logs): send Authorization: Bearer <RESTAGER_ADMIN_TOKEN>"
            }
            Refusal::Missing => {
                "this route needs the admin token: send Authorization: Bearer <RESTAGER_ADMIN_TOKEN> (a browser: the token as the password)"
            }
            Refusal::Wrong => "the admin token is not the one restager serve has",
        };
        let mut response = reply::error(StatusCode::UNAUTHORIZED, message);
        let headers = response.headers_mut();
        headers.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="restager admin""#),
        );
        headers.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="restager admin", charset="UTF-8""#),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cret-admin-token-0123";

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    fn uri(s: &str) -> Uri {
        s.parse().expect("uri")
    }

    #[test]
    fn bearer_and_basic_carry_the_token() {
        let token = Secret::new(TOKEN);
        let runs = uri("/runs");
        assert_eq!(
            check(Some(&token), &with(&format!("Bearer {TOKEN}")), &runs),
            Ok(())
        );
        assert_eq!(
            check(Some(&token), &with(&format!("bearer  {TOKEN} ")), &runs),
            Ok(())
        );
        let basic = STANDARD.encode(format!("anyone:{TOKEN}"));
        assert_eq!(
            check(Some(&token), &with(&format!("Basic {basic}")), &runs),
            Ok(())
        );
        assert_eq!(
            check(Some(&token), &with("Bearer nope"), &runs),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            check(Some(&token), &with(&format!("Bearer {TOKEN}x")), &runs),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            check(Some(&token), &with(&format!("Token {TOKEN}")), &runs),
            Err(Refusal::Missing)
        );
        assert_eq!(
            check(Some(&token), &HeaderMap::new(), &runs),
            Err(Refusal::Missing)
        );
    }

    #[test]
    fn a_token_in_the_url_is_refused_even_when_right() {
        let token = Secret::new(TOKEN);
        let good = with(&format!("Bearer {TOKEN}"));
        for q in [
            "/runs?token=x",
            "/runs?limit=3&Access_Token=x",
            "/runs?api_key=",
        ] {
            assert_eq!(
                check(Some(&token), &good, &uri(q)),
                Err(Refusal::InQuery),
                "{q}"
            );
        }
        assert_eq!(check(Some(&token), &good, &uri("/runs?limit=3")), Ok(()));
    }

    #[test]
    fn without_a_token_the_routes_are_off() {
        assert_eq!(
            check(None, &with(&format!("Bearer {TOKEN}")), &uri("/runs")),
            Err(Refusal::Off)
        );
        assert_eq!(Refusal::Off.response().status(), StatusCode::NOT_FOUND);
        let refused = Refusal::Wrong.response();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            refused
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .count(),
            2
        );
        assert!(!String::from_utf8_lossy(refused.body()).contains(TOKEN));
    }
}
