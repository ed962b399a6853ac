//! Why a body could not be turned into a notice. Each message names the
//! offending field or header and what a good value looks like, so a sender can
//! fix the request from the `400` response alone.

/// A request that was authentic but unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("the body is not valid JSON ({detail}): send a JSON object")]
    MalformedJson { detail: String },

    #[error(
        "the key `{key}` appears twice in one object: send each key once (JSON readers disagree on which value wins)"
    )]
    DuplicateKey { key: String },

    #[error("the body is {found}, not a JSON object: send a JSON object")]
    NotAnObject { found: &'static str },

    #[error("`{field}` is required")]
    MissingField { field: &'static str },

    #[error("`{field}` must be {expected}, not {found}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },

    #[error("`{field}` must not be empty")]
    EmptyField { field: &'static str },

    #[error("`{field}` = `{value}` is not valid: expected {expected}")]
    InvalidField {
        field: &'static str,
        value: String,
        expected: &'static str,
    },

    #[error(
        "`{field}` = `{value}` is not a version: expected dotted numbers like 1.10.29 (a leading v is allowed)"
    )]
    InvalidVersion { field: &'static str, value: String },

    #[error("`{field}` = `{value}` is not a valid name: {rule}")]
    InvalidName {
        field: &'static str,
        value: String,
        rule: &'static str,
    },

    #[error("`{found}` is not a notice type: use one of {allowed}")]
    UnknownType {
        found: String,
        allowed: &'static str,
    },

    #[error(
        "`{field}` is not a field of a `{notice_type}` notice: the allowed fields are {allowed}"
    )]
    UnknownField {
        field: String,
        notice_type: &'static str,
        allowed: &'static str,
    },

    #[error("the `{header}` header is missing: {hint}")]
    MissingHeader {
        header: &'static str,
        hint: &'static str,
    },

    #[error("the `{header}` header is malformed: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: &'static str,
    },
}

/// Values from a request, a setting or an annotation are echoed in errors, cut
/// short so a hostile body or a huge annotation cannot blow up a response, a
/// log line or a Slack message.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        let mut cut: String = value.chars().take(MAX).collect();
        cut.push('…');
        cut
    }
}
