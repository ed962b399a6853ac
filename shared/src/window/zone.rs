//! Time zones from the tz database bundled into the binary, and the boundary
//! between the rest of restager's `chrono` instants and jiff's.
//!
//! Only the bundled copy is read, never /usr/share/zoneinfo: Lambda's
//! runtime has none, and tests must see the same rules on every machine. A
//! zone name from an annotation therefore cannot name a file either.

use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use jiff::Timestamp;
use jiff::tz::{TimeZone, TimeZoneDatabase};

/// A named IANA time zone.
#[derive(Debug, Clone)]
pub(super) struct Zone {
    /// The database's spelling (`Europe/Berlin` for `europe/berlin`).
    name: String,
    tz: TimeZone,
}

impl Zone {
    pub(super) fn lookup(name: &str) -> Option<Zone> {
        static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
        let tz = DB.get_or_init(TimeZoneDatabase::bundled).get(name).ok()?;
        // jiff's `Etc/Unknown` stands for "no zone known" and acts as UTC; an
        // operator who wrote it did not mean UTC.
        if tz.is_unknown() {
            return None;
        }
        let name = tz.iana_name().unwrap_or(name).to_string();
        Some(Zone { name, tz })
    }

    pub(super) fn tz(&self) -> &TimeZone {
        &self.tz
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }
}

/// Zones are the same when the database names them the same.
impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Clamped to jiff's range (years -9999 to 9999): only a broken clock is
/// outside it, and a clamped answer beats a panic.
pub(super) fn to_timestamp(at: DateTime<Utc>) -> Timestamp {
    match Timestamp::new(at.timestamp(), at.timestamp_subsec_nanos() as i32) {
        Ok(ts) => ts,
        Err(_) if at.timestamp() < 0 => Timestamp::MIN,
        Err(_) => Timestamp::MAX,
    }
}

pub(super) fn to_chrono(ts: Timestamp) -> DateTime<Utc> {
    // jiff gives instants before 1970 a negative fraction; chrono wants the
    // second below and a positive one.
    let (mut secs, mut nanos) = (ts.as_second(), ts.subsec_nanosecond());
    if nanos < 0 {
        secs -= 1;
        nanos += 1_000_000_000;
    }
    // jiff's range lies inside chrono's, so the fallback is never taken.
    DateTime::from_timestamp(secs, nanos.unsigned_abs()).unwrap_or(DateTime::<Utc>::MAX_UTC)
}
