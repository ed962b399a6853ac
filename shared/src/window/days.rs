//! The days a window opens on: `Mon`, lists `Sat,Sun`, ranges `Mon-Fri`, and
//! ranges that wrap past Sunday (`Fri-Mon`). Kept as written (normalised
//! case), so `Display` gives back what the operator wrote.

use std::fmt;

use jiff::civil::Weekday;

use super::error::{WindowError, shown};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Days(Vec<Item>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    One(Weekday),
    /// Inclusive; `from` after `to` wraps past Sunday.
    Range {
        from: Weekday,
        to: Weekday,
    },
}

impl Days {
    /// `window` is the whole window's text, for the error message.
    pub(super) fn parse(text: &str, window: &str) -> Result<Days, WindowError> {
        let bad_day = |day: &str| WindowError::Day {
            window: shown(window),
            day: shown(day),
        };
        let mut items = Vec::new();
        for raw in text.split(',') {
            let raw = raw.trim();
            let item = match raw.split_once('-') {
                None => Item::One(weekday(raw).ok_or_else(|| bad_day(raw))?),
                Some((from, to)) => {
                    let from = weekday(from.trim()).ok_or_else(|| bad_day(raw))?;
                    let to = weekday(to.trim()).ok_or_else(|| bad_day(raw))?;
                    // `Mon-Mon` could mean one day or all seven; refuse to guess.
                    if from == to {
                        return Err(WindowError::SameDayRange {
                            window: shown(window),
                            range: shown(raw),
                        });
                    }
                    Item::Range { from, to }
                }
            };
            items.push(item);
        }
        Ok(Days(items))
    }

    pub(super) fn contains(&self, day: Weekday) -> bool {
        let d = day.to_monday_zero_offset();
        self.0.iter().any(|item| match *item {
            Item::One(one) => one == day,
            Item::Range { from, to } => {
                let (from, to) = (from.to_monday_zero_offset(), to.to_monday_zero_offset());
                if from <= to {
                    (from..=to).contains(&d)
                } else {
                    d >= from || d <= to
                }
            }
        })
    }
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().as_str() {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn abbreviation(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, item) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            match *item {
                Item::One(day) => f.write_str(abbreviation(day))?,
                Item::Range { from, to } => {
                    write!(f, "{}-{}", abbreviation(from), abbreviation(to))?
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Weekday::*;

    #[test]
    fn lists_ranges_and_wrapping_ranges() {
        let all = [
            Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday,
        ];
        let table: &[(&str, &[Weekday], &str)] = &[
            ("Mon", &[Monday], "Mon"),
            ("sat,SUN", &[Saturday, Sunday], "Sat,Sun"),
            (
                "Mon-Fri",
                &[Monday, Tuesday, Wednesday, Thursday, Friday],
                "Mon-Fri",
            ),
            ("Fri-Mon", &[Friday, Saturday, Sunday, Monday], "Fri-Mon"),
            ("Sun-Mon", &[Sunday, Monday], "Sun-Mon"),
            ("Mon-Sun", &all, "Mon-Sun"),
            (
                "Mon, Wed-Thu",
                &[Monday, Wednesday, Thursday],
                "Mon,Wed-Thu",
            ),
        ];
        for (text, open, shown) in table {
            let days = Days::parse(text, text).expect(text);
            for day in all {
                assert_eq!(days.contains(day), open.contains(&day), "{text}: {day:?}");
            }
            assert_eq!(days.to_string(), *shown, "{text}");
        }
    }

    #[test]
    fn bad_days_are_named() {
        let w = "Sat,Snu 02:00-06:00 UTC";
        assert_eq!(
            Days::parse("Sat,Snu", w),
            Err(WindowError::Day {
                window: w.into(),
                day: "Snu".into()
            })
        );
        for bad in ["", "Monday", "Mon-", "-Fri", "Sat,,Sun", "Mon-Tue-Wed", "1"] {
            assert!(
                matches!(Days::parse(bad, bad), Err(WindowError::Day { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Days::parse("Mon-Mon", "Mon-Mon 01:00-02:00 UTC"),
            Err(WindowError::SameDayRange { .. })
        ));
    }
}
