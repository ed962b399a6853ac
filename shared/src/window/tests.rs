//! Window arithmetic as tables of explicit instants: crossing midnight, the
//! 2026 clock changes in Europe/Berlin (29 March, 25 October) and
//! America/New_York (8 March, 1 November), several windows, the cutoff,
//! `always`, and bad values with their exact messages.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;

/// An RFC 3339 instant; the window modules' own tests use it too.
pub(super) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

fn windows(s: &str) -> Windows {
    Windows::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

const MIN: Duration = Duration::from_secs(60);

/// (windows, cutoff in minutes, now, when a new build may start; `None` = now)
type Row = (&'static str, u64, &'static str, Option<&'static str>);

fn check(table: &[Row]) {
    for (spec, cutoff, now, expected) in table {
        let (now, cutoff) = (at(now), *cutoff as u32 * MIN);
        let expected = expected.map_or(now, at);
        let got = windows(spec).start_allowed_at(now, cutoff);
        assert_eq!(got, expected, "`{spec}`, cutoff {cutoff:?}, at {now}");
        assert_eq!(
            windows(spec).allows_start(now, cutoff),
            got == now,
            "`{spec}` at {now}"
        );
    }
}

#[test]
fn always_allows_any_instant() {
    check(&[
        ("always", 30, "2026-12-05T03:00:00Z", None),
        ("ALWAYS", 30, "2026-03-29T01:00:00Z", None),
        ("always", 0, "1970-01-01T00:00:00Z", None),
    ]);
    assert_eq!(Windows::default(), Windows::always());
    assert!(Windows::default().is_always());
}

#[test]
fn a_weekend_window_in_berlin_winter() {
    // Sat 5 Dec 2026; CET is UTC+1, so 02:00-06:00 is 01:00Z-05:00Z.
    let w = "Sat,Sun 02:00-06:00 Europe/Berlin";
    check(&[
        (w, 30, "2026-12-04T12:00:00Z", Some("2026-12-05T01:00:00Z")),
        (w, 30, "2026-12-05T00:59:59Z", Some("2026-12-05T01:00:00Z")),
        (w, 30, "2026-12-05T01:00:00Z", None),
        (w, 30, "2026-12-05T04:29:59Z", None),
        // The cutoff's edge: nothing new from 05:30 CET, next is Sunday.
        (w, 30, "2026-12-05T04:30:00Z", Some("2026-12-06T01:00:00Z")),
        (w, 30, "2026-12-06T05:00:00Z", Some("2026-12-12T01:00:00Z")),
    ]);
}

#[test]
fn a_window_crossing_midnight_belongs_to_the_day_it_starts() {
    let w = "Mon-Fri 22:00-04:00 UTC";
    check(&[
        (w, 30, "2026-12-04T23:00:00Z", None),
        // Friday's window runs into Saturday.
        (w, 30, "2026-12-05T03:00:00Z", None),
        (w, 30, "2026-12-05T03:30:00Z", Some("2026-12-07T22:00:00Z")),
        // Sunday has no window, so early Monday is closed.
        (w, 30, "2026-12-07T02:00:00Z", Some("2026-12-07T22:00:00Z")),
        // Monday's window runs into Tuesday.
        (w, 30, "2026-12-08T01:00:00Z", None),
        // An end at 24:00 is the next midnight; a start equal to the end a whole day.
        ("Fri 20:00-24:00 UTC", 30, "2026-12-04T23:29:00Z", None),
        (
            "Fri 20:00-24:00 UTC",
            30,
            "2026-12-04T23:30:00Z",
            Some("2026-12-11T20:00:00Z"),
        ),
        ("Wed 00:00-00:00 UTC", 30, "2026-12-09T23:00:00Z", None),
        (
            "Wed 00:00-00:00 UTC",
            30,
            "2026-12-09T23:30:00Z",
            Some("2026-12-16T00:00:00Z"),
        ),
    ]);
}

#[test]
fn day_ranges_wrap_past_sunday() {
    let w = "Fri-Mon 01:00-05:00 UTC";
    check(&[
        (w, 0, "2026-12-08T12:00:00Z", Some("2026-12-11T01:00:00Z")),
        (w, 0, "2026-12-07T02:00:00Z", None),
        (w, 0, "2026-12-06T02:00:00Z", None),
    ]);
}

#[test]
fn the_cutoff_ends_new_starts_early_and_zero_means_until_the_end() {
    let w = "Sat 02:00-06:00 UTC";
    check(&[
        (w, 0, "2026-12-05T05:59:59Z", None),
        (w, 0, "2026-12-05T06:00:00Z", Some("2026-12-12T02:00:00Z")),
        (w, 60, "2026-12-05T04:59:59Z", None),
        (w, 60, "2026-12-05T05:00:00Z", Some("2026-12-12T02:00:00Z")),
        (w, 239, "2026-12-05T02:00:00Z", None),
    ]);
}

#[test]
fn several_windows_and_overlapping_or_touching_ones_are_one_stretch() {
    // Friday night in UTC (22:00Z-04:00Z) and Saturday morning in Berlin
    // (01:00Z-05:00Z) overlap: the cutoff counts from 05:00Z, not 04:00Z.
    let w = "Sat,Sun 02:00-06:00 Europe/Berlin; Mon-Fri 22:00-04:00 UTC";
    check(&[
        (w, 30, "2026-12-04T21:00:00Z", Some("2026-12-04T22:00:00Z")),
        (w, 30, "2026-12-05T03:45:00Z", None),
        (w, 30, "2026-12-05T04:30:00Z", Some("2026-12-06T01:00:00Z")),
        (w, 30, "2026-12-07T12:00:00Z", Some("2026-12-07T22:00:00Z")),
        // Saturday's whole day touches Sunday's morning.
        (
            "Sat 00:00-24:00 UTC; Sun 00:00-06:00 UTC",
            30,
            "2026-12-05T23:45:00Z",
            None,
        ),
        (
            "Sat 00:00-24:00 UTC; Sun 00:00-06:00 UTC",
            30,
            "2026-12-06T05:30:00Z",
            Some("2026-12-12T00:00:00Z"),
        ),
    ]);
}

#[test]
fn berlin_spring_forward_on_29_march_2026() {
    // 02:00 CET (01:00Z) becomes 03:00 CEST: 02:00-03:00 does not exist.
    check(&[
        // A skipped start opens when the clock jumps.
        (
            "Sun 02:30-06:00 Europe/Berlin",
            30,
            "2026-03-28T12:00:00Z",
            Some("2026-03-29T01:00:00Z"),
        ),
        // Entirely skipped: that Sunday has no window; the next one does.
        (
            "Sun 02:00-03:00 Europe/Berlin",
            30,
            "2026-03-28T12:00:00Z",
            Some("2026-04-05T00:00:00Z"),
        ),
        // 01:00-03:00 lasts one hour that day (00:00Z-01:00Z).
        (
            "Sun 01:00-03:00 Europe/Berlin",
            30,
            "2026-03-29T00:29:00Z",
            None,
        ),
        (
            "Sun 01:00-03:00 Europe/Berlin",
            30,
            "2026-03-29T00:30:00Z",
            Some("2026-04-04T23:00:00Z"),
        ),
        // Crossing midnight into the change: 22:00 CET to 06:00 CEST, 7 hours.
        (
            "Sat 22:00-06:00 Europe/Berlin",
            30,
            "2026-03-29T03:29:00Z",
            None,
        ),
        (
            "Sat 22:00-06:00 Europe/Berlin",
            30,
            "2026-03-29T03:30:00Z",
            Some("2026-04-04T20:00:00Z"),
        ),
    ]);
}

#[test]
fn berlin_fall_back_on_25_october_2026() {
    // 03:00 CEST (01:00Z) becomes 02:00 CET: 02:00-03:00 happens twice.
    check(&[
        // A repeated start opens at its first occurrence (02:30 CEST)...
        (
            "Sun 02:30-06:00 Europe/Berlin",
            30,
            "2026-10-24T12:00:00Z",
            Some("2026-10-25T00:30:00Z"),
        ),
        // ...and the second 02:35 is the same window, still open.
        (
            "Sun 02:30-06:00 Europe/Berlin",
            30,
            "2026-10-25T01:35:00Z",
            None,
        ),
        // A repeated end closes at its second occurrence (02:30 CET, 01:30Z),
        // not early at the first (02:30 CEST, 00:30Z).
        (
            "Sun 01:00-02:30 Europe/Berlin",
            30,
            "2026-10-25T00:45:00Z",
            None,
        ),
        (
            "Sun 01:00-02:30 Europe/Berlin",
            30,
            "2026-10-25T01:00:00Z",
            Some("2026-11-01T00:00:00Z"),
        ),
    ]);
}

#[test]
fn new_york_spring_forward_on_8_march_2026() {
    // 02:00 EST (07:00Z) becomes 03:00 EDT.
    check(&[
        (
            "Sun 02:30-05:00 America/New_York",
            30,
            "2026-03-07T12:00:00Z",
            Some("2026-03-08T07:00:00Z"),
        ),
        // 22:00 EST to 04:00 EDT is five hours (03:00Z-08:00Z).
        (
            "Sat 22:00-04:00 America/New_York",
            30,
            "2026-03-08T07:29:00Z",
            None,
        ),
        (
            "Sat 22:00-04:00 America/New_York",
            30,
            "2026-03-08T07:30:00Z",
            Some("2026-03-15T02:00:00Z"),
        ),
    ]);
}

#[test]
fn new_york_fall_back_on_1_november_2026() {
    // 02:00 EDT (06:00Z) becomes 01:00 EST: 01:00-02:00 happens twice.
    check(&[
        // Opens at the first 01:30 (EDT), closes at 03:00 EST (08:00Z).
        (
            "Sun 01:30-03:00 America/New_York",
            30,
            "2026-10-31T12:00:00Z",
            Some("2026-11-01T05:30:00Z"),
        ),
        (
            "Sun 01:30-03:00 America/New_York",
            30,
            "2026-11-01T07:15:00Z",
            None,
        ),
        (
            "Sun 01:30-03:00 America/New_York",
            30,
            "2026-11-01T07:30:00Z",
            Some("2026-11-08T06:30:00Z"),
        ),
        // Ends at the second 01:30 (EST, 06:30Z): 01:45 EDT is still open.
        (
            "Sat 23:00-01:30 America/New_York",
            30,
            "2026-11-01T05:45:00Z",
            None,
        ),
        (
            "Sat 23:00-01:30 America/New_York",
            30,
            "2026-11-01T06:00:00Z",
            Some("2026-11-08T04:00:00Z"),
        ),
    ]);
}

#[test]
fn the_next_opening_in_words() {
    let table = [
        (
            "Sat,Sun 02:00-06:00 Europe/Berlin",
            "2026-12-04T12:00:00Z",
            "Sat 5 Dec 02:00 CET (Europe/Berlin)",
        ),
        (
            "Sat,Sun 02:00-06:00 Europe/Berlin",
            "2026-12-05T02:00:00Z",
            "now, until Sat 5 Dec 05:30 CET (Europe/Berlin)",
        ),
        (
            "Mon-Fri 22:00-04:00 UTC",
            "2026-12-05T12:00:00Z",
            "Mon 7 Dec 22:00 UTC",
        ),
        (
            "Sun 02:30-05:00 America/New_York",
            "2026-03-07T12:00:00Z",
            "Sun 8 Mar 03:00 EDT (America/New_York)",
        ),
        (
            "always",
            "2026-12-05T12:00:00Z",
            "now (no maintenance window)",
        ),
    ];
    for (spec, now, expected) in table {
        assert_eq!(
            windows(spec).next_opening_description(at(now), 30 * MIN),
            expected,
            "{spec} at {now}"
        );
    }
}

#[test]
fn canonical_text_reads_back_the_same() {
    let table = [
        ("always", "always"),
        (" Always ", "always"),
        (
            "sat,sun 02:00-06:00 europe/berlin",
            "Sat,Sun 02:00-06:00 Europe/Berlin",
        ),
        ("Sat, Sun  02:00-06:00\tUTC", "Sat,Sun 02:00-06:00 UTC"),
        (
            "Mon-Fri 22:00-04:00 UTC;Fri-Mon 00:00-24:00 America/New_York;",
            "Mon-Fri 22:00-04:00 UTC; Fri-Mon 00:00-24:00 America/New_York",
        ),
    ];
    for (text, canonical) in table {
        let parsed = windows(text);
        assert_eq!(parsed.to_string(), canonical, "{text}");
        assert_eq!(windows(canonical), parsed, "{canonical}");
        assert_eq!(text.parse::<Windows>(), Ok(parsed));
    }
}

#[test]
fn bad_values_say_what_is_wrong_and_what_is_accepted() {
    let table = [
        (
            "",
            "no window is given: expected `always`, or windows separated by `;`, each `DAYS HH:MM-HH:MM ZONE` \
             such as `Sat,Sun 02:00-06:00 Europe/Berlin` or `Mon-Fri 22:00-04:00 UTC`",
        ),
        (
            " ; ",
            "no window is given: expected `always`, or windows separated by `;`, each `DAYS HH:MM-HH:MM ZONE` \
             such as `Sat,Sun 02:00-06:00 Europe/Berlin` or `Mon-Fri 22:00-04:00 UTC`",
        ),
        (
            "always; Sat 02:00-06:00 UTC",
            "`always` cannot be combined with other windows (in `always; Sat 02:00-06:00 UTC`): \
             give `always` alone, or only windows separated by `;`",
        ),
        (
            "Sat 02:00-06:00",
            "`Sat 02:00-06:00` is not a window: expected `DAYS HH:MM-HH:MM ZONE`, such as \
             `Sat,Sun 02:00-06:00 Europe/Berlin` or `Mon-Fri 22:00-04:00 UTC`",
        ),
        (
            "02:00-06:00 UTC",
            "`02:00-06:00 UTC` is not a window: expected `DAYS HH:MM-HH:MM ZONE`, such as \
             `Sat,Sun 02:00-06:00 Europe/Berlin` or `Mon-Fri 22:00-04:00 UTC`",
        ),
        (
            "Sat,Snu 02:00-06:00 UTC",
            "`Snu` in `Sat,Snu 02:00-06:00 UTC` is not a day: expected Mon, Tue, Wed, Thu, Fri, Sat or Sun, \
             lists such as `Sat,Sun` and ranges such as `Mon-Fri` or `Fri-Mon`",
        ),
        (
            "Mon-Mon 01:00-02:00 UTC",
            "`Mon-Mon` in `Mon-Mon 01:00-02:00 UTC` runs from a day to itself: write the day alone, \
             or `Mon-Sun` for every day",
        ),
        (
            "Sat 25:00-06:00 UTC",
            "`25:00-06:00` in `Sat 25:00-06:00 UTC` is not a time range: expected `HH:MM-HH:MM` on a \
             24-hour clock, such as `02:00-06:00` or `22:00-04:00` (an end at or before the start \
             crosses midnight; `24:00` may end a window)",
        ),
        (
            "Sat 02:00-06:00 Europe/Berlim",
            "`Europe/Berlim` in `Sat 02:00-06:00 Europe/Berlim` is not a time zone: expected an IANA name \
             such as `Europe/Berlin`, `America/New_York` or `UTC`",
        ),
    ];
    for (text, message) in table {
        let err = Windows::parse(text).expect_err(text);
        assert_eq!(err.to_string(), message, "{text}");
    }
    for bad_times in [
        "Sat 2:00-06:00 UTC",
        "Sat 02:00 UTC",
        "Sat 24:00-02:00 UTC",
        "Sat 02:00-24:01 UTC",
        "Sat 02:60-03:00 UTC",
        "Sat 02:00-06:00-07:00 UTC",
        "Sat +1:00-06:00 UTC",
    ] {
        assert!(
            matches!(Windows::parse(bad_times), Err(WindowError::Times { .. })),
            "{bad_times}"
        );
    }
    // Zone names come from the bundled database only, never from files.
    for bad_zone in [
        "../../etc/passwd",
        "/etc/localtime",
        "Mars/Olympus_Mons",
        "Etc/Unknown",
    ] {
        let text = format!("Sat 02:00-06:00 {bad_zone}");
        assert!(
            matches!(Windows::parse(&text), Err(WindowError::Zone { .. })),
            "{text}"
        );
    }
    // A hostile value is cut short in the message.
    let huge = format!("Sat 02:00-06:00 {}", "x".repeat(10_000));
    assert!(Windows::parse(&huge).expect_err("huge").to_string().len() < 400);
}

#[test]
fn a_window_no_longer_than_the_cutoff_is_refused() {
    let short = windows("Sat 02:00-06:00 UTC; Sun 02:00-02:20 UTC");
    assert_eq!(
        short.check_cutoff(30 * MIN).map_err(|e| e.to_string()),
        Err(
            "`Sun 02:00-02:20 UTC` is open 20m, not longer than the cutoff of 30m: no restage could \
             ever start in it; lengthen the window or lower RESTAGER_WINDOW_CUTOFF"
                .to_string()
        )
    );
    assert!(short.check_cutoff(19 * MIN).is_ok());
    assert!(
        windows("Mon 22:00-00:30 UTC")
            .check_cutoff(150 * MIN)
            .is_err()
    );
    assert!(windows("always").check_cutoff(Duration::MAX).is_ok());
}

#[test]
fn space_beats_org_beats_default_and_a_bad_annotation_is_an_error() {
    let default = windows("Sat 02:00-06:00 UTC");
    let cutoff = 30 * MIN;
    let space = "always";
    let org = "Sun 02:00-06:00 Europe/Berlin";
    assert_eq!(
        effective(Some(space), Some(org), &default, cutoff),
        Ok(Windows::always())
    );
    assert_eq!(
        effective(None, Some(org), &default, cutoff),
        Ok(windows(org))
    );
    assert_eq!(effective(None, None, &default, cutoff), Ok(default.clone()));
    // The org's annotation is not read when the space has one.
    assert_eq!(
        effective(Some(space), Some("garbage"), &default, cutoff),
        Ok(Windows::always())
    );
    let err =
        effective(Some("Sat 02:00-06:00 Mars/Base"), None, &default, cutoff).expect_err("bad zone");
    assert_eq!(
        err.to_string(),
        "the space annotation restager.io/window is not valid: `Mars/Base` in \
         `Sat 02:00-06:00 Mars/Base` is not a time zone: expected an IANA name such as \
         `Europe/Berlin`, `America/New_York` or `UTC`"
    );
    let err =
        effective(None, Some("Sat 02:00-02:10 UTC"), &default, cutoff).expect_err("too short");
    assert!(
        matches!(
            &err,
            WindowError::Annotation { scope: AnnotationScope::Org, source }
                if matches!(**source, WindowError::ShorterThanCutoff { .. })
        ),
        "{err}"
    );
    assert!(matches!(
        effective(Some(""), None, &default, cutoff),
        Err(WindowError::Annotation { .. })
    ));
    assert_eq!(WINDOW_ANNOTATION, "restager.io/window");
}
