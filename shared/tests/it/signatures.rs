//! Signature checks against every published test vector in `fixtures/test-vectors/`
//! plus the ways real requests go wrong: tampering, wrong or rotated secrets,
//! stale and future timestamps, malformed headers, several signatures.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use restager_shared::config::Secret;
use restager_shared::signature::{
    DEFAULT_TOLERANCE, SignatureError, github, slack, standard_webhooks,
};
use serde_json::Value;
use standard_webhooks::SignedHeaders;

fn vectors(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/test-vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture is readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().expect("fixture field is a string")
}

fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).expect("positive timestamp"))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    map
}

/// No error message may ever carry a secret.
fn assert_silent_about(err: &SignatureError, secrets: &[&str]) {
    let shown = format!("{err} {err:?}");
    for s in secrets {
        assert!(!shown.contains(s), "error leaks a secret: {shown}");
    }
}

// ---------------------------------------------------------------- GitHub

#[test]
fn github_every_published_vector_verifies_and_signs_identically() {
    let file = vectors("github_x-hub-signature-256_vectors.json");
    let list = file["vectors"].as_array().expect("vectors list");
    assert!(!list.is_empty());
    for v in list {
        let secret = Secret::new(text(v, "secret"));
        let body = text(v, "payload").as_bytes();
        let header = text(v, "X-Hub-Signature-256");
        assert_eq!(github::sign(&secret, body), header);
        assert_eq!(header, format!("sha256={}", text(v, "signature_hex")));
        assert_eq!(
            github::verify(std::slice::from_ref(&secret), Some(header), body),
            Ok(())
        );
        let map = headers(&[("X-Hub-Signature-256", header)]);
        assert_eq!(github::verify_headers(&[secret], &map, body), Ok(()));
    }
}

#[test]
fn github_rejects_tampered_body_and_wrong_secret() {
    let secret = Secret::new("It's a Secret to Everybody");
    let header = github::sign(&secret, b"Hello, World!");
    assert_eq!(
        github::verify(
            std::slice::from_ref(&secret),
            Some(&header),
            b"Hello, World?"
        ),
        Err(SignatureError::Mismatch { scheme: "GitHub" })
    );
    // A trailing newline is a different body: raw bytes, not "the same JSON".
    assert!(github::verify(&[secret], Some(&header), b"Hello, World!\n").is_err());
    let err = github::verify(&[Secret::new("wrong")], Some(&header), b"Hello, World!")
        .expect_err("wrong secret");
    assert!(matches!(err, SignatureError::Mismatch { .. }));
    assert!(!err.is_misconfiguration());
}

#[test]
fn github_accepts_either_secret_during_rotation() {
    let old = Secret::new("old-secret");
    let new = Secret::new("new-secret");
    let both = [new.clone(), old.clone()];
    for signer in [&old, &new] {
        let header = github::sign(signer, b"{}");
        assert_eq!(github::verify(&both, Some(&header), b"{}"), Ok(()));
    }
    let retired = github::sign(&Secret::new("retired"), b"{}");
    assert!(github::verify(&both, Some(&retired), b"{}").is_err());
}

#[test]
fn github_malformed_headers_get_distinct_errors() {
    let secret = [Secret::new("It's a Secret to Everybody")];
    let body = b"Hello, World!";
    let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    let err = github::verify(&secret, None, body).expect_err("missing");
    assert!(matches!(
        err,
        SignatureError::MissingHeader {
            header: "x-hub-signature-256",
            ..
        }
    ));
    assert!(err.to_string().contains("secret"), "{err}");

    for wrong in [
        hex.to_string(),
        format!("sha1={hex}"),
        format!("SHA256={hex}"),
    ] {
        let err = github::verify(&secret, Some(&wrong), body).expect_err("wrong prefix");
        assert!(
            matches!(
                err,
                SignatureError::WrongPrefix {
                    expected: "sha256=",
                    ..
                }
            ),
            "{wrong}"
        );
    }
    for bad in [
        "sha256=".to_string(),
        format!("sha256={}", &hex[..63]),
        format!("sha256={hex}00"),
        format!("sha256={}zz", &hex[..62]),
    ] {
        let err = github::verify(&secret, Some(&bad), body).expect_err("bad hex");
        assert!(
            matches!(
                err,
                SignatureError::BadHex {
                    expected_len: 64,
                    ..
                }
            ),
            "{bad}"
        );
    }
    // Header lookups ignore case, and a missing header is reported by name.
    let err = github::verify_headers(&secret, &HeaderMap::new(), body).expect_err("absent");
    assert!(err.to_string().contains("x-hub-signature-256"), "{err}");
}

#[test]
fn github_errors_never_show_the_secret() {
    let secret = "topsecret-value";
    let header = github::sign(&Secret::new(secret), b"a");
    let err = github::verify(&[Secret::new(secret)], Some(&header), b"b").expect_err("mismatch");
    assert_silent_about(&err, &[secret, &header[7..]]);
}

// ---------------------------------------------------- Standard Webhooks

fn sw_signed<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
    SignedHeaders {
        id: Some(id),
        timestamp: Some(ts),
        signature: Some(sig),
    }
}

#[test]
fn standard_webhooks_every_positive_vector_verifies_and_signs_identically() {
    let file = vectors("standard-webhooks_vectors.json");
    let list = file["positive"].as_array().expect("positive list");
    assert_eq!(list.len(), 2);
    for v in list {
        let secret = Secret::new(text(v, "secret"));
        let id = text(v, "msg_id");
        let ts = v["timestamp"].as_i64().expect("timestamp");
        let body = text(v, "payload").as_bytes();
        let expected = text(v, "expected_signature");
        assert_eq!(
            text(v, "signed_content"),
            format!("{id}.{ts}.{}", text(v, "payload"))
        );
        assert_eq!(
            standard_webhooks::sign(&secret, id, ts, body).expect("valid secret"),
            expected
        );
        let ts_text = ts.to_string();
        let verified = standard_webhooks::verify(
            std::slice::from_ref(&secret),
            &sw_signed(id, &ts_text, expected),
            body,
            at(ts),
            DEFAULT_TOLERANCE,
        )
        .expect("official vector verifies");
        assert_eq!(verified.id, id);
        assert_eq!(verified.timestamp, ts);

        let map = headers(&[
            ("Webhook-Id", id),
            ("Webhook-Timestamp", &ts_text),
            ("Webhook-Signature", expected),
        ]);
        assert!(
            standard_webhooks::verify_headers(&[secret], &map, body, at(ts), DEFAULT_TOLERANCE)
                .is_ok()
        );
    }
}

#[test]
fn standard_webhooks_every_negative_vector_is_rejected() {
    let file = vectors("standard-webhooks_vectors.json");
    let go = &file["positive"][0];
    let rust = &file["positive"][1];
    let negative = file["negative"].as_array().expect("negative list");

    let check = |v: &Value, sig: &str| {
        let ts = v["timestamp"].as_i64().expect("timestamp");
        standard_webhooks::verify(
            &[Secret::new(text(v, "secret"))],
            &sw_signed(text(v, "msg_id"), &ts.to_string(), sig),
            text(v, "payload").as_bytes(),
            at(ts),
            DEFAULT_TOLERANCE,
        )
    };

    // Altered last character (Python tests) and the Rust "no verify" signature.
    let altered = text(&negative[0], "signature");
    assert!(matches!(
        check(go, altered),
        Err(SignatureError::Mismatch { .. })
    ));
    let foreign = text(&negative[1], "signature");
    assert!(matches!(
        check(rust, foreign),
        Err(SignatureError::Mismatch { .. })
    ));

    // Decoys alone fail; decoys around the valid signature pass, in any position.
    let decoys: Vec<&str> = negative[2]["signatures"]
        .as_array()
        .expect("decoys")
        .iter()
        .map(|d| d.as_str().expect("decoy"))
        .collect();
    let example = text(&negative[3], "example_entry");
    let valid = text(rust, "expected_signature");
    assert!(check(rust, &decoys.join(" ")).is_err());
    assert!(check(rust, &format!("{} {example}", decoys.join(" "))).is_err());
    assert!(check(rust, &format!("{} {valid}", decoys.join(" "))).is_ok());
    assert!(check(rust, &format!("{valid} {}", decoys.join(" "))).is_ok());
    assert!(check(rust, &format!("{} {valid} {}", decoys[0], decoys[1])).is_ok());

    // Partial signatures: an empty entry, and the first 8 characters of a valid one.
    assert!(matches!(
        check(rust, "v1,"),
        Err(SignatureError::Mismatch { .. })
    ));
    assert!(matches!(
        check(rust, &valid[..8]),
        Err(SignatureError::Mismatch { .. })
    ));
}

#[test]
fn standard_webhooks_rejects_unusable_secrets_as_misconfiguration() {
    let headers = sw_signed("msg_1", "1614265330", "v1,AAAA");
    for secret in ["", "whsec_"] {
        let err = standard_webhooks::verify(
            &[Secret::new(secret)],
            &headers,
            b"{}",
            at(1_614_265_330),
            DEFAULT_TOLERANCE,
        )
        .expect_err("empty secret");
        assert!(
            matches!(err, SignatureError::InvalidSecret { .. }),
            "{secret:?}: {err}"
        );
        assert!(err.is_misconfiguration());
        assert!(standard_webhooks::sign(&Secret::new(secret), "m", 1, b"").is_err());
    }
    let err = standard_webhooks::verify(&[], &headers, b"{}", at(1_614_265_330), DEFAULT_TOLERANCE)
        .expect_err("no secrets");
    assert!(matches!(err, SignatureError::NoSecrets { .. }));
    assert!(err.to_string().contains("RESTAGER_NOTICE_SECRETS"), "{err}");
}

#[test]
fn standard_webhooks_missing_headers_are_named() {
    let secret = [Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
    let full = sw_signed("msg_1", "1614265330", "v1,AAAA");
    let cases = [
        (SignedHeaders { id: None, ..full }, "webhook-id"),
        (
            SignedHeaders {
                timestamp: None,
                ..full
            },
            "webhook-timestamp",
        ),
        (
            SignedHeaders {
                signature: None,
                ..full
            },
            "webhook-signature",
        ),
        (
            SignedHeaders {
                id: Some("  "),
                ..full
            },
            "webhook-id",
        ),
    ];
    for (headers, name) in cases {
        let err = standard_webhooks::verify(
            &secret,
            &headers,
            b"{}",
            at(1_614_265_330),
            DEFAULT_TOLERANCE,
        )
        .expect_err("missing header");
        assert!(
            matches!(err, SignatureError::MissingHeader { header, .. } if header == name),
            "{err}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn standard_webhooks_timestamp_window_is_five_minutes_both_ways_and_configurable() {
    let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let ts = 1_614_265_330_i64;
    let sig = standard_webhooks::sign(&secret, "msg_1", ts, b"{}").expect("sign");
    let run = |now: i64, tol: Duration| {
        standard_webhooks::verify(
            std::slice::from_ref(&secret),
            &sw_signed("msg_1", &ts.to_string(), &sig),
            b"{}",
            at(now),
            tol,
        )
    };
    assert!(run(ts + 300, DEFAULT_TOLERANCE).is_ok());
    assert!(run(ts - 300, DEFAULT_TOLERANCE).is_ok());
    let stale = run(ts + 301, DEFAULT_TOLERANCE).expect_err("stale");
    assert!(matches!(
        stale,
        SignatureError::TimestampTooOld {
            age_secs: 301,
            tolerance_secs: 300,
            ..
        }
    ));
    let future = run(ts - 301, DEFAULT_TOLERANCE).expect_err("future");
    assert!(matches!(
        future,
        SignatureError::TimestampInFuture {
            ahead_secs: 301,
            ..
        }
    ));
    assert!(future.to_string().contains("clock"), "{future}");
    // A longer window admits what the default refuses; a shorter one refuses more.
    assert!(run(ts + 3_600, Duration::from_secs(3_600)).is_ok());
    assert!(run(ts + 61, Duration::from_secs(60)).is_err());
}

#[test]
fn standard_webhooks_malformed_headers_are_rejected() {
    let secret = [Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
    let now = at(1_614_265_330);
    let run = |h: SignedHeaders<'_>| {
        standard_webhooks::verify(&secret, &h, b"{}", now, DEFAULT_TOLERANCE)
    };
    assert!(matches!(
        run(sw_signed("msg_1", "hello", "v1,AAAA")),
        Err(SignatureError::BadTimestamp {
            header: "webhook-timestamp"
        })
    ));
    assert!(matches!(
        run(sw_signed("msg_1", "1614265330.5", "v1,AAAA")),
        Err(SignatureError::BadTimestamp { .. })
    ));
    assert!(matches!(
        run(sw_signed("msg.1", "1614265330", "v1,AAAA")),
        Err(SignatureError::MalformedHeader {
            header: "webhook-id",
            ..
        })
    ));
    for no_v1 in ["", "   ", "v1a,AAAA", "AAAA", "v2,AAAA v1a,BBBB"] {
        let err = run(sw_signed("msg_1", "1614265330", no_v1)).expect_err("no v1 entry");
        if no_v1.trim().is_empty() {
            assert!(
                matches!(err, SignatureError::MissingHeader { .. }),
                "{no_v1:?}: {err}"
            );
        } else {
            assert!(
                matches!(
                    err,
                    SignatureError::MalformedHeader {
                        header: "webhook-signature",
                        ..
                    }
                ),
                "{no_v1:?}: {err}"
            );
        }
    }
}

#[test]
fn standard_webhooks_rotation_any_secret_times_any_signature() {
    let old = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let new = Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    let body = br#"{"type":"stack.released","stack":"cflinuxfs4","version":"1.323.0"}"#;
    let ts = 1_700_000_000;
    let now = at(ts);

    // The sender signs with both keys; a receiver holding either one accepts.
    let both = standard_webhooks::signed_headers(&[new.clone(), old.clone()], "msg_rot", ts, body)
        .expect("signs");
    assert_eq!(both[0], ("webhook-id", "msg_rot".to_string()));
    assert_eq!(both[2].1.split(' ').count(), 2);
    let map: HeaderMap = headers(
        &both
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    for receiver in [
        vec![old.clone()],
        vec![new.clone()],
        vec![old.clone(), new.clone()],
    ] {
        let verified =
            standard_webhooks::verify_headers(&receiver, &map, body, now, DEFAULT_TOLERANCE)
                .expect("one pair matches");
        assert_eq!(verified.id, "msg_rot");
    }

    // A receiver holding both keys accepts a sender still on the old one.
    let only_old = standard_webhooks::sign(&old, "msg_rot", ts, body).expect("signs");
    assert!(
        standard_webhooks::verify(
            &[new.clone(), old.clone()],
            &sw_signed("msg_rot", &ts.to_string(), &only_old),
            body,
            now,
            DEFAULT_TOLERANCE
        )
        .is_ok()
    );

    // Neither key: rejected, and the error names no secret.
    let stranger = Secret::new("whsec_dGhpcyBpcyBub3QgYSBjb25maWd1cmVkIGtleQ==");
    let err = standard_webhooks::verify(
        &[stranger],
        &sw_signed("msg_rot", &ts.to_string(), &both[2].1),
        body,
        now,
        DEFAULT_TOLERANCE,
    )
    .expect_err("unknown key");
    assert!(matches!(err, SignatureError::Mismatch { .. }));
    assert_silent_about(&err, &[old.expose(), new.expose(), &both[2].1]);

    // Tampering with the body, the id or the timestamp breaks every signature.
    let tampered = |id: &str, t: i64, b: &[u8]| {
        standard_webhooks::verify(
            &[old.clone(), new.clone()],
            &sw_signed(id, &t.to_string(), &both[2].1),
            b,
            now,
            DEFAULT_TOLERANCE,
        )
    };
    assert!(tampered("msg_rot", ts, &body[1..]).is_err());
    assert!(tampered("msg_other", ts, body).is_err());
    assert!(tampered("msg_rot", ts + 1, body).is_err());

    // The timestamp is signed as sent: a re-rendered equal number is a different message.
    let padded = standard_webhooks::verify(
        std::slice::from_ref(&old),
        &sw_signed("msg_rot", &format!("0{ts}"), &both[2].1),
        body,
        now,
        DEFAULT_TOLERANCE,
    );
    assert!(matches!(padded, Err(SignatureError::Mismatch { .. })));
}

// ------------------------------------------------------------------ Slack

#[test]
fn slack_official_and_derived_vectors_verify_and_sign_identically() {
    let file = vectors("slack_v0_signature_vectors.json");
    for v in [&file["official"], &file["DERIVED_block_actions"]] {
        let secret = Secret::new(text(&file["official"], "signing_secret"));
        let ts_text = text(v, "X-Slack-Request-Timestamp");
        let ts: i64 = ts_text.parse().expect("numeric timestamp");
        let body = v
            .get("body")
            .or_else(|| v.get("raw_body"))
            .and_then(Value::as_str)
            .expect("body");
        let expected = text(v, "X-Slack-Signature");
        assert_eq!(slack::sign(&secret, ts, body.as_bytes()), expected);
        assert_eq!(
            slack::verify(
                std::slice::from_ref(&secret),
                Some(ts_text),
                Some(expected),
                body.as_bytes(),
                at(ts),
                DEFAULT_TOLERANCE
            ),
            Ok(())
        );
        let map = headers(&[
            ("X-Slack-Request-Timestamp", ts_text),
            ("X-Slack-Signature", expected),
        ]);
        assert!(
            slack::verify_headers(
                &[secret],
                &map,
                body.as_bytes(),
                at(ts + 10),
                DEFAULT_TOLERANCE
            )
            .is_ok()
        );
    }
    assert_eq!(
        format!(
            "v0:{}:{}",
            text(&file["official"], "X-Slack-Request-Timestamp"),
            text(&file["official"], "body")
        ),
        text(&file["official"], "basestring")
    );
}

#[test]
fn slack_sdk_negative_cases_and_malformed_headers() {
    let file = vectors("slack_v0_signature_vectors.json");
    let v = &file["official"];
    let secret = [Secret::new(text(v, "signing_secret"))];
    let ts_text = text(v, "X-Slack-Request-Timestamp");
    let ts: i64 = ts_text.parse().expect("numeric timestamp");
    let body = text(v, "body");
    let sig = text(v, "X-Slack-Signature");
    let run = |ts_h: Option<&str>, sig_h: Option<&str>, b: &str, now: i64| {
        slack::verify(
            &secret,
            ts_h,
            sig_h,
            b.as_bytes(),
            at(now),
            DEFAULT_TOLERANCE,
        )
    };

    // From the SDK's tests: a modified body, a clock far from the timestamp.
    assert!(matches!(
        run(Some(ts_text), Some(sig), &format!("{body}------"), ts),
        Err(SignatureError::Mismatch { scheme: "Slack" })
    ));
    assert!(matches!(
        run(Some(ts_text), Some(sig), body, ts + 301),
        Err(SignatureError::TimestampTooOld { .. })
    ));
    assert!(matches!(
        run(Some(ts_text), Some(sig), body, ts - 301),
        Err(SignatureError::TimestampInFuture { .. })
    ));
    assert!(run(Some(ts_text), Some(sig), body, ts + 300).is_ok());

    assert!(matches!(
        run(None, Some(sig), body, ts),
        Err(SignatureError::MissingHeader {
            header: "x-slack-request-timestamp",
            ..
        })
    ));
    assert!(matches!(
        run(Some(ts_text), None, body, ts),
        Err(SignatureError::MissingHeader {
            header: "x-slack-signature",
            ..
        })
    ));
    assert!(matches!(
        run(Some("soon"), Some(sig), body, ts),
        Err(SignatureError::BadTimestamp { .. })
    ));
    assert!(matches!(
        run(Some(ts_text), Some(&sig.replace("v0=", "v1=")), body, ts),
        Err(SignatureError::WrongPrefix {
            expected: "v0=",
            ..
        })
    ));
    assert!(matches!(
        run(Some(ts_text), Some("v0=abc"), body, ts),
        Err(SignatureError::BadHex { .. })
    ));

    // Wrong secret; and rotation: the new secret listed next to the old one still accepts.
    let wrong = [Secret::new("not-the-signing-secret")];
    assert!(
        slack::verify(
            &wrong,
            Some(ts_text),
            Some(sig),
            body.as_bytes(),
            at(ts),
            DEFAULT_TOLERANCE
        )
        .is_err()
    );
    let rotated = [Secret::new("the-new-secret"), secret[0].clone()];
    assert!(
        slack::verify(
            &rotated,
            Some(ts_text),
            Some(sig),
            body.as_bytes(),
            at(ts),
            DEFAULT_TOLERANCE
        )
        .is_ok()
    );
    let err = slack::verify(
        &[],
        Some(ts_text),
        Some(sig),
        body.as_bytes(),
        at(ts),
        DEFAULT_TOLERANCE,
    )
    .expect_err("no secret");
    assert!(err.is_misconfiguration());
    assert!(err.to_string().contains("SLACK_SIGNING_SECRET"), "{err}");
}
