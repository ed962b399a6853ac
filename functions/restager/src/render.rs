//! Output: plain tables for people, JSON for scripts and tests.

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table};
use restager_shared::domain::{Outcome, OutcomeKind};
use serde::Serialize;

use crate::commands::CommandError;

/// A table with a header row; wraps to the terminal width when there is one.
pub fn table<R, C>(header: &[&str], rows: R) -> String
where
    R: IntoIterator<Item = C>,
    C: IntoIterator<Item = String>,
{
    let mut table = bordered(header, rows);
    table.set_content_arrangement(ContentArrangement::Dynamic);
    table.to_string()
}

/// A table at most `width` columns wide (long cells wrap), or as wide as
/// its content when `width` is `None` (`--wide`).
pub fn table_within<R, C>(header: &[&str], rows: R, width: Option<u16>) -> String
where
    R: IntoIterator<Item = C>,
    C: IntoIterator<Item = String>,
{
    let mut table = bordered(header, rows);
    match width {
        Some(w) => {
            table
                .set_content_arrangement(ContentArrangement::DynamicFullWidth)
                .set_width(w);
        }
        None => {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    table.to_string()
}

/// The rows under their header, in the one border style every table uses;
/// how it fits the width is left to the caller.
fn bordered<R, C>(header: &[&str], rows: R) -> Table
where
    R: IntoIterator<Item = C>,
    C: IntoIterator<Item = String>,
{
    let mut table = Table::new();
    table
        .load_style(UTF8_BORDERS_ONLY)
        .set_header(header.iter().copied());
    for row in rows {
        table.add_row(row.into_iter().collect::<Vec<_>>());
    }
    table
}

/// `1 app`, `2 apps`: a count and its noun, singular or plural.
pub fn plural(n: usize, noun: &str) -> String {
    match (n, noun) {
        (1, _) => format!("1 {noun}"),
        (_, n_) if n_.ends_with('y') && !n_.ends_with("ay") => {
            format!("{n} {}ies", &noun[..noun.len() - 1])
        }
        (_, n_) if n_.ends_with('s') => format!("{n} {noun}es"),
        _ => format!("{n} {noun}s"),
    }
}

/// Pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> Result<(), CommandError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CommandError::failed("cannot write the output as JSON", e))?;
    println!("{text}");
    Ok(())
}

/// An outcome's name as in the ledger and the JSON output; `pending` before any.
pub fn outcome_name(outcome: Option<&Outcome>) -> &'static str {
    match outcome.map(Outcome::kind) {
        None => "pending",
        Some(OutcomeKind::Restaged) => "restaged",
        Some(OutcomeKind::AlreadyCurrent) => "already_current",
        Some(OutcomeKind::Skipped) => "skipped",
        Some(OutcomeKind::Deferred) => "deferred",
        Some(OutcomeKind::Failed) => "failed",
        Some(OutcomeKind::RolledBack) => "rolled_back",
        Some(OutcomeKind::Held) => "held",
    }
}

/// `org/space`, the way `cf target` names a place.
pub fn place(org: &str, space: &str) -> String {
    format!("{org}/{space}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "update"), "1 update");
        assert_eq!(plural(2, "update"), "2 updates");
        assert_eq!(plural(0, "attempt"), "0 attempts");
        assert_eq!(plural(3, "entry"), "3 entries");
        assert_eq!(plural(2, "pass"), "2 passes");
    }

    #[test]
    fn narrow_tables_wrap_within_the_width() {
        let long = "word ".repeat(60);
        let out = table_within(
            &["app", "reason"],
            [vec!["shop".to_string(), long]],
            Some(100),
        );
        assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
        let wide = table_within(
            &["app", "reason"],
            [vec!["shop".to_string(), "word ".repeat(60)]],
            None,
        );
        assert!(wide.lines().any(|l| l.chars().count() > 100), "{wide}");
    }

    #[test]
    fn tables_have_the_header_and_every_cell() {
        let out = table(
            &["app", "outcome"],
            [
                vec!["shop".to_string(), "restaged".to_string()],
                vec!["blog".to_string(), "skipped".to_string()],
            ],
        );
        for word in ["app", "outcome", "shop", "restaged", "blog", "skipped"] {
            assert!(out.contains(word), "{word} missing from\n{out}");
        }
    }
}
