//! Turning Cloud Foundry's answers into outcomes: which staging failures are
//! worth another try, and what an API error means for a job.

use std::time::Duration;

use crate::cf::CfError;
use crate::domain::Outcome;

/// Staging failures that will fail again on the same package and buildpack.
const PERMANENT_STAGING: &[&str] = &[
    "NoAppDetectedError",
    "BuildpackCompileFailed",
    "BuildpackReleaseFailed",
];

/// Staging failures caused by the platform's state at the time.
const TRANSIENT_STAGING: &[&str] = &[
    "InsufficientResources",
    "StagingTimeExpired",
    "NoCompatibleCell",
    "CellCommunicationError",
    "StagerUnavailable",
];

/// The outcome of a FAILED build. Unknown error ids (a generic
/// `StagingError`, CNB failures) count as permanent: staging the same bits
/// again almost always fails the same way, and each try costs a staging
/// container; an operator can still retry from Slack.
pub fn staging_failure(build_guid: &str, error: Option<&str>, error_id: Option<&str>) -> Outcome {
    let text = error.unwrap_or("no error given");
    let id = error_id.unwrap_or("");
    let permanent = !TRANSIENT_STAGING.contains(&id);
    let kind = if PERMANENT_STAGING.contains(&id) || !permanent {
        ""
    } else {
        " (unrecognised staging error, treated as permanent)"
    };
    Outcome::Failed {
        reason: format!("staging failed (build {build_guid}): {text}{kind}"),
        permanent,
    }
}

/// What an unexpected API error means for the job, `doing` naming the step.
pub fn api_error(doing: &str, err: &CfError) -> Outcome {
    if err.is_transient() {
        return Outcome::Deferred {
            reason: format!("Cloud Controller unavailable while {doing}: {err}"),
            retry_after: err.retry_after(),
        };
    }
    if err.is_quota() {
        return quota(doing, err);
    }
    match err {
        // After one re-authentication: credentials or UAA trouble that an
        // operator can fix, so retry (until attempts run out).
        CfError::Unauthorized { .. } | CfError::Api { status: 401, .. } => Outcome::Failed {
            reason: format!("not authenticated while {doing}: {err}"),
            permanent: false,
        },
        CfError::Invalid(_) => Outcome::Failed {
            reason: format!("unexpected response while {doing}: {err}"),
            permanent: false,
        },
        _ => Outcome::Failed {
            reason: format!("Cloud Controller refused {doing}: {err}"),
            permanent: true,
        },
    }
}

/// Quota is not the app's fault: try again once other restages freed it.
pub fn quota(doing: &str, err: &CfError) -> Outcome {
    Outcome::Deferred {
        reason: format!(
            "quota exceeded while {doing}: {}",
            err.detail().unwrap_or("quota exceeded")
        ),
        retry_after: Some(Duration::from_secs(60)),
    }
}

/// A quota-like deployment error (`status.details.error`).
pub fn is_quota_text(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "quota",
        "memory limit",
        "instance limit",
        "instance_limit",
        "limit exceeded",
    ]
    .iter()
    .any(|n| t.contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_failures_are_classified() {
        let permanent = staging_failure(
            "b",
            Some("NoAppDetectedError - An app was not successfully detected"),
            Some("NoAppDetectedError"),
        );
        assert!(permanent.is_final());
        for id in TRANSIENT_STAGING {
            let o = staging_failure("b", Some(id), Some(id));
            assert!(!o.is_final(), "{id}");
        }
        let unknown = staging_failure("b", Some("StagingError - x"), Some("StagingError"));
        assert!(unknown.is_final());
        assert!(
            unknown
                .reason()
                .is_some_and(|r| r.contains("treated as permanent"))
        );
    }

    #[test]
    fn api_errors_map_to_outcomes() {
        let unavailable = CfError::Unavailable {
            request: "GET /v3/apps/a".into(),
            detail: "reset".into(),
        };
        assert!(matches!(
            api_error("reading", &unavailable),
            Outcome::Deferred { .. }
        ));
        let quota = CfError::from_response(
            "POST /v3/builds",
            422,
            br#"{"errors":[{"code":10008,"title":"CF-UnprocessableEntity","detail":"organization's memory limit exceeded: staging requires 1024M memory"}]}"#,
        );
        assert!(matches!(
            api_error("staging", &quota),
            Outcome::Deferred { .. }
        ));
        let forbidden = CfError::from_response("GET /v3/apps/a", 403, b"{}");
        assert!(api_error("reading", &forbidden).is_final());
        assert!(is_quota_text("memory quota_exceeded"));
        assert!(!is_quota_text("An unexpected error has occurred: Foo"));
    }
}
