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
    let mut table = Table::new();
    table
        .load_style(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    for row in rows {
        table.add_row(row.into_iter().collect::<Vec<_>>());
    }
    table.to_string()
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
