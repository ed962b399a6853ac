//! Why a request's signature was not accepted. Messages name the problem and
//! the fix; they never include a secret or the expected signature.

/// Everything that can go wrong checking a webhook signature.
///
/// All variants except [`SignatureError::NoSecrets`] and
/// [`SignatureError::InvalidSecret`] are the sender's fault (answer 401);
/// those two are our configuration's fault (answer 500 and alert), see
/// [`SignatureError::is_misconfiguration`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the `{header}` header is missing: the sender must sign the request ({hint})")]
    MissingHeader {
        header: &'static str,
        hint: &'static str,
    },

    #[error("the `{header}` header does not start with `{expected}`: only that scheme is accepted")]
    WrongPrefix {
        header: &'static str,
        expected: &'static str,
    },

    #[error(
        "the `{header}` header is not a hex digest: expected {expected_len} hex digits after the prefix"
    )]
    BadHex {
        header: &'static str,
        expected_len: usize,
    },

    #[error("the `{header}` header is malformed: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: &'static str,
    },

    #[error(
        "the `{header}` header is not a unix timestamp: expected whole seconds since 1970, e.g. 1614265330"
    )]
    BadTimestamp { header: &'static str },

    #[error(
        "the request was signed {age_secs} s ago, more than the {tolerance_secs} s allowed by `{header}`: \
         it may be a replay; the sender must sign each (re)delivery afresh"
    )]
    TimestampTooOld {
        header: &'static str,
        age_secs: i64,
        tolerance_secs: i64,
    },

    #[error(
        "the request's `{header}` is {ahead_secs} s in the future, more than the {tolerance_secs} s allowed: \
         check the sender's and this server's clocks (NTP)"
    )]
    TimestampInFuture {
        header: &'static str,
        ahead_secs: i64,
        tolerance_secs: i64,
    },

    #[error(
        "the {scheme} signature does not match any configured secret: check the sender uses a current secret \
         and signs the raw body exactly as sent"
    )]
    Mismatch { scheme: &'static str },

    #[error("no {scheme} secret is configured, so no request can be verified: set {setting}")]
    NoSecrets {
        scheme: &'static str,
        setting: &'static str,
    },

    #[error("a configured {scheme} secret is unusable ({reason}): fix {setting}")]
    InvalidSecret {
        scheme: &'static str,
        setting: &'static str,
        reason: &'static str,
    },
}

impl SignatureError {
    /// True when the fault is in our settings rather than in the request.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(
            self,
            SignatureError::NoSecrets { .. } | SignatureError::InvalidSecret { .. }
        )
    }

    /// Why a configured secret is unusable, for a start-up error that must
    /// not print the secret; a generic phrase for the other variants.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::InvalidSecret { reason, .. } => reason,
            SignatureError::NoSecrets { .. } => "no secret is configured",
            _ => "it cannot be used to verify signatures",
        }
    }
}
