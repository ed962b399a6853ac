//! Release times (`released_at` in a notice, `release.published_at` from
//! GitHub): RFC 3339 in the one shape `shared/schema/notice.schema.json`
//! spells out, so the schema and the parser accept the same strings.

use chrono::{DateTime, Utc};

use super::IntakeError;
use super::error::shown;

const EXPECTED: &str = "an RFC 3339 time such as 2026-06-10T12:00:00Z or 2026-06-10T14:00:00+02:00";

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, a real calendar date.
pub(crate) fn rfc3339(field: &'static str, raw: &str) -> Result<DateTime<Utc>, IntakeError> {
    let invalid = || IntakeError::InvalidField {
        field,
        value: shown(raw),
        expected: EXPECTED,
    };
    if !has_shape(raw.as_bytes()) {
        return Err(invalid());
    }
    // chrono refuses what the shape cannot see, such as 30 February.
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid())
}

/// The schema's `pattern` for `released_at`, by hand (no regex crate here).
fn has_shape(s: &[u8]) -> bool {
    let digits = |range: std::ops::Range<usize>| {
        s.get(range)
            .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
    };
    let number = |at: usize| -> Option<u32> {
        let d = s.get(at..at + 2)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0'))
    };
    let within = |at, lo, hi| number(at).is_some_and(|n| (lo..=hi).contains(&n));
    let date_time = digits(0..4)
        && s.get(4) == Some(&b'-')
        && within(5, 1, 12)
        && s.get(7) == Some(&b'-')
        && within(8, 1, 31)
        && s.get(10) == Some(&b'T')
        && within(11, 0, 23)
        && s.get(13) == Some(&b':')
        && within(14, 0, 59)
        && s.get(16) == Some(&b':')
        && within(17, 0, 59);
    if !date_time {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
            };
            two(*h1, *h2).is_some_and(|h| h <= 23) && two(*m1, *m2).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shape_of_rfc_3339() {
        let at = |s: &str| rfc3339("released_at", s).map(|t| t.to_rfc3339());
        for (raw, utc) in [
            ("2026-06-10T12:00:00Z", "2026-06-10T12:00:00+00:00"),
            ("2026-06-10T14:00:00+02:00", "2026-06-10T12:00:00+00:00"),
            (
                "2026-06-10T07:00:00.5-05:00",
                "2026-06-10T12:00:00.500+00:00",
            ),
            ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00+00:00"),
        ] {
            assert_eq!(at(raw), Ok(utc.to_string()), "{raw}");
        }
        for bad in [
            "",
            "2026-06-10",
            "2026-06-10 12:00:00Z",
            "2026-06-10t12:00:00z",
            "2026-06-10T12:00:00",
            "2026-06-10T12:00Z",
            "2026-13-10T12:00:00Z",
            "2026-02-30T12:00:00Z",
            "2026-06-10T24:00:00Z",
            "2026-06-10T12:00:60Z",
            "2026-06-10T12:00:00.Z",
            "2026-06-10T12:00:00.1234567890Z",
            "2026-06-10T12:00:00+0200",
            "2026-06-10T12:00:00Z ",
            "yesterday",
            "१२३४-06-10T12:00:00Z",
        ] {
            let err = at(bad).expect_err(bad);
            assert!(
                matches!(
                    err,
                    IntakeError::InvalidField {
                        field: "released_at",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            at("soon").expect_err("soon").to_string(),
            "`released_at` = `soon` is not valid: expected an RFC 3339 time such as \
             2026-06-10T12:00:00Z or 2026-06-10T14:00:00+02:00"
        );
    }
}
