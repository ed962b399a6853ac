//! Field access over parsed JSON that reports problems by dotted path
//! (`release.tag_name`), which serde's derive errors cannot do.

use serde_json::{Map, Value};

use super::IntakeError;

pub(crate) fn parse_object(body: &[u8]) -> Result<Value, IntakeError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| IntakeError::MalformedJson {
        detail: e.to_string(),
    })?;
    if let Some(key) = duplicate_key(body) {
        return Err(IntakeError::DuplicateKey { key });
    }
    if value.is_object() {
        Ok(value)
    } else {
        Err(IntakeError::NotAnObject {
            found: kind_of(&value),
        })
    }
}

/// The dotted path of the first key that appears twice in one object of
/// `body` (already known to be valid JSON). serde_json keeps the last value
/// silently, and other parsers keep the first, so a signed body with a
/// repeated key could mean different things to different readers.
fn duplicate_key(body: &[u8]) -> Option<String> {
    use serde::de::DeserializeSeed;
    let mut found = None;
    let walker = Walk {
        path: String::new(),
        found: &mut found,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    // The only error this walk raises is the duplicate it stops at.
    let _ = walker.deserialize(&mut de);
    found
}

/// Visits every value, remembering the first repeated key (by dotted path).
struct Walk<'a> {
    path: String,
    found: &'a mut Option<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let path = format!("{}[{index}]", self.path);
            let found = &mut *self.found;
            if seq.next_element_seed(Walk { path, found })?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                *self.found = Some(super::error::shown(&path));
                return Err(serde::de::Error::custom("duplicate key"));
            }
            let found = &mut *self.found;
            map.next_value_seed(Walk { path, found })?;
            if self.found.is_some() {
                return Err(serde::de::Error::custom("duplicate key"));
            }
        }
        Ok(())
    }
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Follows a dotted path; `None` when any step is absent or not an object.
fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(root, |node, key| node.as_object()?.get(key))
}

fn wrong(field: &'static str, expected: &'static str, found: &Value) -> IntakeError {
    IntakeError::WrongType {
        field,
        expected,
        found: kind_of(found),
    }
}

fn required<'a>(root: &'a Value, field: &'static str) -> Result<&'a Value, IntakeError> {
    lookup(root, field).ok_or(IntakeError::MissingField { field })
}

pub(crate) fn req_object<'a>(
    root: &'a Value,
    field: &'static str,
) -> Result<&'a Map<String, Value>, IntakeError> {
    let v = required(root, field)?;
    v.as_object().ok_or_else(|| wrong(field, "an object", v))
}

pub(crate) fn req_str<'a>(root: &'a Value, field: &'static str) -> Result<&'a str, IntakeError> {
    let v = required(root, field)?;
    v.as_str().ok_or_else(|| wrong(field, "a string", v))
}

pub(crate) fn req_u64(root: &Value, field: &'static str) -> Result<u64, IntakeError> {
    let v = required(root, field)?;
    v.as_u64()
        .ok_or_else(|| wrong(field, "a non-negative integer", v))
}

pub(crate) fn req_bool(root: &Value, field: &'static str) -> Result<bool, IntakeError> {
    let v = required(root, field)?;
    v.as_bool().ok_or_else(|| wrong(field, "a boolean", v))
}

/// Absent and `null` are both "not given" (GitHub Enterprise sends `null`
/// release names and bodies although the public schema says string).
pub(crate) fn opt_str<'a>(
    root: &'a Value,
    field: &'static str,
) -> Result<Option<&'a str>, IntakeError> {
    match lookup(root, field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong(field, "a string or null", other)),
    }
}

pub(crate) fn opt_u64(root: &Value, field: &'static str) -> Result<Option<u64>, IntakeError> {
    match lookup(root, field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| wrong(field, "a non-negative integer or null", v)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_name_the_dotted_path() {
        let v = json!({"release": {"tag_name": 5, "draft": "no"}, "repository": "x"});
        assert_eq!(
            req_str(&v, "release.tag_name"),
            Err(IntakeError::WrongType {
                field: "release.tag_name",
                expected: "a string",
                found: "a number"
            })
        );
        assert_eq!(
            req_u64(&v, "release.id"),
            Err(IntakeError::MissingField {
                field: "release.id"
            })
        );
        assert!(matches!(
            req_bool(&v, "release.draft"),
            Err(IntakeError::WrongType { .. })
        ));
        assert_eq!(
            req_str(&v, "repository.full_name"),
            Err(IntakeError::MissingField {
                field: "repository.full_name"
            })
        );
        assert_eq!(opt_str(&v, "release.name"), Ok(None));
        assert!(opt_u64(&json!({"id": -1}), "id").is_err());
    }

    #[test]
    fn only_objects_are_bodies() {
        assert!(matches!(
            parse_object(b"[]"),
            Err(IntakeError::NotAnObject { found: "an array" })
        ));
        assert!(matches!(
            parse_object(b"{"),
            Err(IntakeError::MalformedJson { .. })
        ));
        assert!(parse_object(b"{}").is_ok());
    }

    #[test]
    fn a_repeated_key_is_refused_by_its_dotted_path() {
        assert_eq!(
            parse_object(br#"{"version":"1.0","type":"x","version":"2.0"}"#),
            Err(IntakeError::DuplicateKey {
                key: "version".into()
            })
        );
        assert_eq!(
            parse_object(br#"{"release":{"tag_name":"v1","tag_name":"v2"}}"#),
            Err(IntakeError::DuplicateKey {
                key: "release.tag_name".into()
            })
        );
        assert_eq!(
            parse_object(br#"{"a":[{"b":1},{"b":2,"b":3}]}"#),
            Err(IntakeError::DuplicateKey {
                key: "a[1].b".into()
            })
        );
        // The same key in different objects is fine.
        assert!(parse_object(br#"{"a":{"b":1},"c":{"b":2},"d":[{"b":1},{"b":2}]}"#).is_ok());
    }
}
