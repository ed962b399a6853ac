//! `RESTAGER_MIN_RELEASE_AGE` (Renovate's `minimumReleaseAge`): a release is
//! planned and announced when its notice arrives, but acted on only once it
//! is this old, so a broken release has time to be noticed and withdrawn.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The earliest instant a notice may be acted on; `None` when no minimum
/// age is set.
///
/// The age counts from `released_at` (GitHub's `published_at`, a notice's
/// `released_at`), or from `received_at` when the sender gave none: an
/// unknown publish time is treated as "just now", which errs towards
/// waiting. A publish time after `received_at` (a sender's clock that is
/// ahead, or a mistyped year) also counts from `received_at`, so no notice
/// waits longer than `min_age` after it arrived.
pub fn act_after(
    released_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    min_age: Duration,
) -> Option<DateTime<Utc>> {
    if min_age.is_zero() {
        return None;
    }
    let from = released_at.map_or(received_at, |r| r.min(received_at));
    let age = TimeDelta::from_std(min_age).unwrap_or(TimeDelta::MAX);
    Some(
        from.checked_add_signed(age)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::tests::at;

    #[test]
    fn counts_from_the_release_never_from_after_the_notice() {
        let received = at("2026-06-10T12:00:00Z");
        let day = Duration::from_secs(24 * 3600);
        let table = [
            // (released_at, min_age, act after)
            (Some("2026-06-09T12:00:00Z"), Duration::ZERO, None),
            (None, Duration::ZERO, None),
            (
                Some("2026-06-09T12:00:00Z"),
                3 * day,
                Some("2026-06-12T12:00:00Z"),
            ),
            // Older than the minimum already: a past instant, act at once.
            (
                Some("2026-05-01T00:00:00Z"),
                3 * day,
                Some("2026-05-04T00:00:00Z"),
            ),
            (None, 3 * day, Some("2026-06-13T12:00:00Z")),
            (
                Some("2099-01-01T00:00:00Z"),
                3 * day,
                Some("2026-06-13T12:00:00Z"),
            ),
        ];
        for (released, min_age, expected) in table {
            assert_eq!(
                act_after(released.map(at), received, min_age),
                expected.map(at),
                "{released:?} + {min_age:?}"
            );
        }
        assert_eq!(
            act_after(None, received, Duration::MAX),
            Some(DateTime::<Utc>::MAX_UTC)
        );
    }
}
