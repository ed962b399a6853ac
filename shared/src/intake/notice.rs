//! The project's own notice body, as sent to `POST /webhooks/notice` by
//! release pollers, relays and CI:
//!
//! ```json
//! {"type":"buildpack.released","buildpack":"ruby_buildpack","version":"1.10.29","stack":"cflinuxfs4"}
//! {"type":"stack.released","stack":"cflinuxfs4","version":"1.323.0"}
//! {"type":"stemcell.released","stemcell":"ubuntu-jammy","version":"1.622"}
//! {"type":"stack.released","stack":"cflinuxfs4","version":"1.324.0","released_at":"2026-06-10T12:00:00Z"}
//! ```
//!
//! Every kind may say when the release was published (`released_at`, for
//! `RESTAGER_MIN_RELEASE_AGE`). It travels beside the [`Notice`], not in it,
//! so it changes neither the release key nor the run a notice maps to.
//!
//! Parsed by hand rather than by `Notice`'s serde derive so every error names
//! its field and what to send instead; `shared/schema/notice.schema.json`
//! describes the same format and a test keeps the two in agreement.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::IntakeError;
use super::error::shown;
use super::json::{kind_of, parse_object};
use super::names::{NameRule, check_name, notice_version};
use super::time::rfc3339;
use crate::domain::{Notice, NoticeKind};

pub const BUILDPACK_RELEASED: &str = "buildpack.released";
pub const STACK_RELEASED: &str = "stack.released";
pub const STEMCELL_RELEASED: &str = "stemcell.released";

const ALLOWED_TYPES: &str = "`buildpack.released`, `stack.released`, `stemcell.released`";

/// The `type` value announcing a notice of this kind.
pub fn type_name(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Buildpack => BUILDPACK_RELEASED,
        NoticeKind::Stack => STACK_RELEASED,
        NoticeKind::Stemcell => STEMCELL_RELEASED,
    }
}

/// A notice body: what was released, and when if the sender said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedNotice {
    pub notice: Notice,
    pub released_at: Option<DateTime<Utc>>,
}

/// Parses and validates a notice body; a `released_at` is checked and dropped
/// (see [`parse_with_release_time`] to keep it).
pub fn parse(body: &[u8]) -> Result<Notice, IntakeError> {
    parse_with_release_time(body).map(|parsed| parsed.notice)
}

/// Parses and validates a notice body, keeping its `released_at`.
pub fn parse_with_release_time(body: &[u8]) -> Result<ParsedNotice, IntakeError> {
    let value = parse_object(body)?;
    let kind = notice_kind(&value)?;
    reject_unknown_fields(&value, kind)?;
    Ok(ParsedNotice {
        notice: notice(&value, kind)?,
        released_at: released_at(&value)?,
    })
}

fn notice(value: &Value, kind: NoticeKind) -> Result<Notice, IntakeError> {
    match kind {
        NoticeKind::Buildpack => Ok(Notice::Buildpack {
            buildpack: name(value, "buildpack", NameRule::Buildpack)?,
            version: notice_version("version", string(value, "version")?)?,
            stack: optional_name(value, "stack")?,
        }),
        NoticeKind::Stack => Ok(Notice::Stack {
            stack: name(value, "stack", NameRule::Dotted)?,
            version: notice_version("version", string(value, "version")?)?,
        }),
        NoticeKind::Stemcell => Ok(Notice::Stemcell {
            stemcell: name(value, "stemcell", NameRule::Dotted)?,
            version: notice_version("version", string(value, "version")?)?,
        }),
    }
}

fn notice_kind(value: &Value) -> Result<NoticeKind, IntakeError> {
    let raw = string(value, "type")?;
    match raw {
        BUILDPACK_RELEASED => Ok(NoticeKind::Buildpack),
        STACK_RELEASED => Ok(NoticeKind::Stack),
        STEMCELL_RELEASED => Ok(NoticeKind::Stemcell),
        other => Err(IntakeError::UnknownType {
            found: shown(other),
            allowed: ALLOWED_TYPES,
        }),
    }
}

/// Unknown fields are refused rather than ignored: a misspelt `stak` would
/// otherwise silently widen a restage to every stack.
fn reject_unknown_fields(value: &Value, kind: NoticeKind) -> Result<(), IntakeError> {
    let (fields, allowed): (&[&str], &'static str) = match kind {
        NoticeKind::Buildpack => (
            &["type", "buildpack", "version", "stack", "released_at"],
            "`type`, `buildpack`, `version` and optionally `stack` and `released_at`",
        ),
        NoticeKind::Stack => (
            &["type", "stack", "version", "released_at"],
            "`type`, `stack`, `version` and optionally `released_at`",
        ),
        NoticeKind::Stemcell => (
            &["type", "stemcell", "version", "released_at"],
            "`type`, `stemcell`, `version` and optionally `released_at`",
        ),
    };
    let Some(object) = value.as_object() else {
        return Err(IntakeError::NotAnObject {
            found: kind_of(value),
        });
    };
    match object.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(extra) => Err(IntakeError::UnknownField {
            field: shown(extra),
            notice_type: type_name(kind),
            allowed,
        }),
        None => Ok(()),
    }
}

fn string<'a>(value: &'a Value, field: &'static str) -> Result<&'a str, IntakeError> {
    match value.get(field) {
        None => Err(IntakeError::MissingField { field }),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(IntakeError::WrongType {
            field,
            expected: "a string",
            found: kind_of(other),
        }),
    }
}

fn name(value: &Value, field: &'static str, rule: NameRule) -> Result<String, IntakeError> {
    let raw = string(value, field)?;
    check_name(field, raw, rule)?;
    Ok(raw.to_string())
}

/// `released_at` may be left out; when present it must be a time, not `null`.
fn released_at(value: &Value) -> Result<Option<DateTime<Utc>>, IntakeError> {
    const FIELD: &str = "released_at";
    if value.get(FIELD).is_none() {
        return Ok(None);
    }
    rfc3339(FIELD, string(value, FIELD)?).map(Some)
}

/// `stack` may be left out; when present it must be a real name, not `null` or `""`.
fn optional_name(value: &Value, field: &'static str) -> Result<Option<String>, IntakeError> {
    if value.get(field).is_none() {
        return Ok(None);
    }
    name(value, field, NameRule::Dotted).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Version;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("valid version")
    }

    #[test]
    fn the_three_documented_shapes() {
        let bp = parse(br#"{"type":"buildpack.released","buildpack":"ruby_buildpack","version":"1.10.29","stack":"cflinuxfs4"}"#);
        assert_eq!(
            bp,
            Ok(Notice::Buildpack {
                buildpack: "ruby_buildpack".into(),
                version: v("1.10.29"),
                stack: Some("cflinuxfs4".into()),
            })
        );
        let stack = parse(br#"{"type":"stack.released","stack":"cflinuxfs4","version":"1.323.0"}"#);
        assert_eq!(
            stack,
            Ok(Notice::Stack {
                stack: "cflinuxfs4".into(),
                version: v("1.323.0")
            })
        );
        let stemcell =
            parse(br#"{"type":"stemcell.released","stemcell":"ubuntu-jammy","version":"1.622"}"#);
        assert_eq!(
            stemcell,
            Ok(Notice::Stemcell {
                stemcell: "ubuntu-jammy".into(),
                version: v("1.622")
            })
        );
    }

    #[test]
    fn parsed_notices_serialize_back_to_an_accepted_body() {
        let notice = parse(
            br#"{"type":"buildpack.released","buildpack":"go_buildpack","version":"v1.10.48"}"#,
        )
        .expect("valid");
        let body = serde_json::to_vec(&notice).expect("serializes");
        assert_eq!(parse(&body), Ok(notice));
    }

    #[test]
    fn released_at_travels_beside_the_notice_and_keeps_its_release_key() {
        let with = parse_with_release_time(
            br#"{"type":"stack.released","stack":"cflinuxfs4","version":"1.324.0","released_at":"2026-06-10T14:00:00+02:00"}"#,
        )
        .expect("valid");
        let without = parse_with_release_time(
            br#"{"type":"stack.released","stack":"cflinuxfs4","version":"1.324.0"}"#,
        )
        .expect("valid");
        assert_eq!(with.notice, without.notice);
        assert_eq!(with.notice.release_key(), "stack:cflinuxfs4:1.324.0");
        assert_eq!(
            with.released_at.map(|t| t.to_rfc3339()),
            Some("2026-06-10T12:00:00+00:00".to_string())
        );
        assert_eq!(without.released_at, None);
        // The notice itself serializes without it, as before.
        let body = serde_json::to_string(&with.notice).expect("serializes");
        assert!(!body.contains("released_at"), "{body}");

        let err = parse(br#"{"type":"stemcell.released","stemcell":"ubuntu-jammy","version":"1.622","released_at":null}"#)
            .expect_err("null");
        assert_eq!(err.to_string(), "`released_at` must be a string, not null");
        let err = parse(br#"{"type":"stemcell.released","stemcell":"ubuntu-jammy","version":"1.622","released_at":"last week"}"#)
            .expect_err("not a time");
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn errors_name_the_field_and_the_fix() {
        let err =
            parse(br#"{"type":"stack.released","stack":"cflinuxfs4"}"#).expect_err("no version");
        assert_eq!(err.to_string(), "`version` is required");
        let err = parse(br#"{"type":"app.released"}"#).expect_err("unknown type");
        assert!(err.to_string().contains("stemcell.released"), "{err}");
        let err =
            parse(br#"{"type":"stack.released","stack":"cflinuxfs4","version":"1.0","stak":"x"}"#)
                .expect_err("extra field");
        assert!(
            matches!(&err, IntakeError::UnknownField { field, .. } if field == "stak"),
            "{err}"
        );
        let err =
            parse(br#"{"type":"stack.released","stack":"","version":"1.0"}"#).expect_err("empty");
        assert_eq!(err, IntakeError::EmptyField { field: "stack" });
    }
}
