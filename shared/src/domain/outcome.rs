//! What happened to one app. Every job ends in exactly one of these.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A new droplet was staged and rolled out (or the current one re-rolled for a restart).
    Restaged {
        droplet_guid: String,
        deployment_guid: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// Anything the operator should know about how it was done (the
        /// foundation's default `max_in_flight` was used, say).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// When the deployment was created, by Cloud Controller's clock: a
        /// wave's soak watches for crashes from then on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deployed_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The app already runs the target version; nothing was built.
    AlreadyCurrent,
    /// Deliberately not touched (stopped, docker, opted out, someone else deployed...).
    Skipped { reason: String },
    /// Not now: retry later (someone is deploying, quota, transient platform error).
    Deferred {
        reason: String,
        #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
        retry_after: Option<Duration>,
    },
    /// It did not work. `permanent` failures are not retried.
    Failed { reason: String, permanent: bool },
    /// Not started, and not on the queue: the run is paused or halted, or
    /// the job waits for its wave or its maintenance window. Released by a
    /// resume, a wave's gate or the window's opening (`until`, when known).
    Held {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The new droplet crashed while it was verified and the previous one
    /// was deployed again. Final, and a failure for the run's error budget.
    RolledBack {
        reason: String,
        /// The deployment that put the previous droplet back.
        deployment_guid: String,
    },
}

/// The outcome's name as used in tables, Slack and the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Restaged,
    AlreadyCurrent,
    Skipped,
    Deferred,
    Failed,
    RolledBack,
    Held,
}

impl Outcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Restaged { .. } => OutcomeKind::Restaged,
            Outcome::AlreadyCurrent => OutcomeKind::AlreadyCurrent,
            Outcome::Skipped { .. } => OutcomeKind::Skipped,
            Outcome::Deferred { .. } => OutcomeKind::Deferred,
            Outcome::Failed { .. } => OutcomeKind::Failed,
            Outcome::RolledBack { .. } => OutcomeKind::RolledBack,
            Outcome::Held { .. } => OutcomeKind::Held,
        }
    }

    /// Final outcomes end the job; deferred ones and non-permanent failures
    /// send it back to the queue.
    pub fn is_final(&self) -> bool {
        match self {
            Outcome::Deferred { .. } | Outcome::Held { .. } => false,
            Outcome::Failed { permanent, .. } => *permanent,
            _ => true,
        }
    }

    /// A final failure: what a run's error budget counts.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Failed {
                permanent: true,
                ..
            } | Outcome::RolledBack { .. }
        )
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Skipped { reason }
            | Outcome::Deferred { reason, .. }
            | Outcome::Failed { reason, .. }
            | Outcome::RolledBack { reason, .. }
            | Outcome::Held { reason, .. } => Some(reason),
            Outcome::Restaged { note, .. } => note.as_deref(),
            Outcome::AlreadyCurrent => None,
        }
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutcomeKind::Restaged => "restaged",
            OutcomeKind::AlreadyCurrent => "already current",
            OutcomeKind::Skipped => "skipped",
            OutcomeKind::Deferred => "deferred",
            OutcomeKind::Failed => "failed",
            OutcomeKind::RolledBack => "rolled back",
            OutcomeKind::Held => "held",
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(reason) => write!(f, "{}: {reason}", self.kind()),
            None => write!(f, "{}", self.kind()),
        }
    }
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let secs = Option::<f64>::deserialize(d)?;
        Ok(secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finality_and_serialization() {
        let deferred = Outcome::Deferred {
            reason: "quota".into(),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert!(!deferred.is_final());
        assert!(
            !Outcome::Failed {
                reason: "x".into(),
                permanent: false
            }
            .is_final()
        );
        assert!(
            Outcome::Failed {
                reason: "x".into(),
                permanent: true
            }
            .is_final()
        );
        let json = serde_json::to_string(&deferred).expect("serializes");
        assert_eq!(
            json,
            r#"{"outcome":"deferred","reason":"quota","retry_after":30.0}"#
        );
        assert_eq!(
            serde_json::from_str::<Outcome>(&json).expect("parses"),
            deferred
        );
        assert_eq!(deferred.to_string(), "deferred: quota");
    }
}
