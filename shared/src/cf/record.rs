//! One resource of a list page, read on its own.
//!
//! Cloud Controller pages hold thousands of apps or droplets. If one of them
//! has a shape restager does not expect (a new CC release, a hand-patched
//! database row), parsing the whole page as `Vec<App>` would turn one odd
//! record into an outage for the entire foundation. Each resource is therefore
//! parsed separately: the page is only an error when it is not a CC response
//! at all (HTML from the router, a truncated body); a bad resource becomes
//! [`Unreadable`], which names the field that failed so the plan can report
//! that one app and carry on with the rest.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A resource that is not the shape restager reads, with what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// `guid` of the resource, when it has a string one.
    pub guid: Option<String>,
    /// `name` of the resource, when it has a string one.
    pub name: Option<String>,
    /// `relationships.space.data.guid`, so an unreadable app can still be placed.
    pub space_guid: Option<String>,
    /// The dotted path of the field that failed, e.g. `relationships.current_droplet.data.guid`.
    pub field: String,
    /// What serde said about it.
    pub error: String,
}

impl Unreadable {
    /// `unreadable: <field>: <error>`, the reason reported for the app.
    pub fn reason(&self) -> String {
        format!("unreadable: {}: {}", self.field, self.error)
    }

    fn of(raw: &Value, field: String, error: String) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        Self {
            guid: text(raw.get("guid")),
            name: text(raw.get("name")),
            space_guid: text(raw.pointer("/relationships/space/data/guid")),
            field,
            error,
        }
    }
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = self.guid.as_deref().unwrap_or("a resource without a guid");
        write!(f, "{who}: {}", self.reason())
    }
}

/// A resource as parsed: the typed value, or why it could not be.
#[derive(Debug, Clone, PartialEq)]
pub enum Record<T> {
    Read(T),
    Unreadable(Unreadable),
}

impl<T> Record<T> {
    pub fn ok(self) -> Option<T> {
        match self {
            Record::Read(t) => Some(t),
            Record::Unreadable(_) => None,
        }
    }
}

/// Parses `raw` as `T`, naming the failing field on error.
pub fn read<T: DeserializeOwned>(raw: &Value) -> Result<T, Unreadable> {
    serde_path_to_error::deserialize::<_, T>(raw).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "(the resource)".to_string()
        } else {
            path
        };
        Unreadable::of(raw, field, e.into_inner().to_string())
    })
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Record<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Any well-formed JSON value is accepted here; only malformed JSON
        // (a truncated body) fails the page. The resource is kept as its text
        // and parsed straight into `T`: a page of 5,000 apps then builds no
        // JSON tree at all. Only a resource that does not parse is read again
        // as a tree, which is what names its failing field.
        let raw = Box::<RawValue>::deserialize(d)?;
        if let Ok(t) = serde_json::from_str::<T>(raw.get()) {
            return Ok(Record::Read(t));
        }
        let tree: Value = serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
        Ok(match read::<T>(&tree) {
            Ok(t) => Record::Read(t),
            Err(u) => Record::Unreadable(u),
        })
    }
}

/// Splits records into the read values and the unreadable ones, keeping order.
pub fn split<T>(records: impl IntoIterator<Item = Record<T>>) -> (Vec<T>, Vec<Unreadable>) {
    let mut read = Vec::new();
    let mut unreadable = Vec::new();
    for r in records {
        match r {
            Record::Read(t) => read.push(t),
            Record::Unreadable(u) => unreadable.push(u),
        }
    }
    (read, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Thing {
        guid: String,
        count: u32,
    }

    #[test]
    fn a_bad_record_names_its_field_and_keeps_its_identity() {
        let records: Vec<Record<Thing>> = serde_json::from_value(json!([
            {"guid": "a", "count": 1},
            {"guid": "b", "name": "web", "count": "many",
             "relationships": {"space": {"data": {"guid": "s1"}}}},
            7
        ]))
        .expect("any JSON values are records");
        let (read, bad) = split(records);
        assert_eq!(
            read,
            vec![Thing {
                guid: "a".into(),
                count: 1
            }]
        );
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].guid.as_deref(), Some("b"));
        assert_eq!(bad[0].name.as_deref(), Some("web"));
        assert_eq!(bad[0].space_guid.as_deref(), Some("s1"));
        assert_eq!(bad[0].field, "count");
        assert!(
            bad[0]
                .reason()
                .starts_with("unreadable: count: invalid type"),
            "{}",
            bad[0].reason()
        );
        assert_eq!(bad[1].guid, None);
        assert_eq!(bad[1].field, "(the resource)");
    }

    #[test]
    fn truncated_json_still_fails_as_a_whole() {
        let page = serde_json::from_str::<Vec<Record<Thing>>>(r#"[{"guid": "a", "cou"#);
        assert!(page.is_err());
    }
}
