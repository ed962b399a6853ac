//! Field access over parsed JSON that reports problems by dotted path
//! (`release.tag_name`), which serde's derive errors cannot do.

use serde_json::{Map, Value};

use super::IntakeError;

pub(crate) fn parse_object(body: &[u8]) -> Result<Value, IntakeError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| IntakeError::MalformedJson {
        detail: e.to_string(),
    })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(IntakeError::NotAnObject {
            found: kind_of(&value),
        })
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
}
