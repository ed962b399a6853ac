//! Turning Cloud Foundry's answers into outcomes: which staging failures are
//! worth another try, and what an API error means for a job.

use std::time::Duration;

use crate::cf::CfError;
use crate::domain::Outcome;

/// A build's `error` is `"<error_id> - <description>"`, and the ids that
/// survive are only those in `BuildModel::STAGING_FAILED_REASONS`
/// (app/models/runtime/build_model.rb): `fail_to_stage!` turns any other id
/// into `StagingError`, with the description rendered from errors/v2.yml
/// (`Staging error: %s`). Diego's reason is first passed through
/// lib/cloud_controller/diego/failure_reason_sanitizer.rb, which keeps cell
/// trouble as its text and turns every message it does not know into
/// `staging failed`.
///
/// Failures of the app's code or buildpack: the same package fails the same way.
const PERMANENT_STAGING: &[&str] = &[
    "NoAppDetectedError",
    "BuildpackCompileFailed",
    "BuildpackReleaseFailed",
    "CNBGenericBuildFailed",
    "CNBDownloadBuildpackFailed",
    "CNBDetectFailed",
    "CNBBuildFailed",
    "CNBExportFailed",
    "CNBLaunchFailed",
    "CNBRestoreFailed",
];

/// Failures of the platform at the time: cells, the stager, time limits.
const TRANSIENT_STAGING: &[&str] = &[
    "InsufficientResources",
    "NoCompatibleCell",
    "StagingTimeExpired",
    "StagerError",
];

/// `StagingError` descriptions that mean the platform, not the app, found
/// anywhere in the text: the sanitizer's words for cells that cannot be
/// reached (its id, `CellCommunicationError`, is not one the build model
/// keeps) and `StagerUnavailable` (errors/v2.yml: `Stager is unavailable: %s`)
/// raised by lib/cloud_controller/diego/bbs_stager_client.rb.
const TRANSIENT_STAGING_TEXT: &[&str] = &[
    "unable to communicate to compatible cells",
    "stager is unavailable",
];

/// `StagingError` descriptions that mean the platform when they end the
/// text: the sanitizer's catch-all (`staging failed`, which also covers
/// blobstore and upload trouble) and `no droplet`, which the staging
/// completion handlers record when the droplet row vanished meanwhile.
const TRANSIENT_STAGING_ENDINGS: &[&str] = &["staging failed", "no droplet"];

/// The outcome of a FAILED build. A `StagingError` whose text names no
/// platform trouble (a missing docker image URL, an app with no instances)
/// is permanent: staging again fails the same way and costs a staging
/// container; an operator can still retry from Slack.
pub fn staging_failure(build_guid: &str, error: Option<&str>, error_id: Option<&str>) -> Outcome {
    let text = error.unwrap_or("no error given");
    let id = error_id.unwrap_or("");
    let description = text.split_once(" - ").map_or(text, |(_, d)| d).trim();
    let (permanent, note) = if PERMANENT_STAGING.contains(&id) {
        (true, "")
    } else if TRANSIENT_STAGING.contains(&id) {
        (false, "")
    } else if id == "StagingError" {
        let d = description.to_ascii_lowercase();
        let platform = TRANSIENT_STAGING_TEXT.iter().any(|t| d.contains(t))
            || TRANSIENT_STAGING_ENDINGS.iter().any(|t| d.ends_with(t));
        (!platform, "")
    } else {
        (true, " (unrecognised staging error, treated as permanent)")
    };
    Outcome::Failed {
        reason: format!("staging failed (build {build_guid}): {text}{note}"),
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
        // The same object comes back on every try.
        CfError::Unreadable { detail, request } => Outcome::Failed {
            reason: format!("{detail} (from {request}, while {doing})"),
            permanent: true,
        },
        _ => Outcome::Failed {
            reason: format!("Cloud Controller refused {doing}: {err}"),
            permanent: true,
        },
    }
}

/// How [`quota`] deferrals start, so the batch can tell them apart.
const QUOTA_DEFERRAL: &str = "quota exceeded while ";

/// Quota is not the app's fault: try again once other restages freed it.
pub fn quota(doing: &str, err: &CfError) -> Outcome {
    Outcome::Deferred {
        reason: format!(
            "{QUOTA_DEFERRAL}{doing}: {}",
            err.detail().unwrap_or("quota exceeded")
        ),
        retry_after: Some(Duration::from_secs(60)),
    }
}

/// Whether Cloud Controller refused this restage on quota: a 422 deferred
/// by [`quota`], or a deployment canceled as stuck on a quota error.
pub(crate) fn is_quota_refusal(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Deferred { reason, .. } => reason.starts_with(QUOTA_DEFERRAL),
        Outcome::Failed {
            reason,
            permanent: false,
        } => reason.contains(" stuck: ") && is_quota_text(reason),
        _ => false,
    }
}

/// Quota-like text: a deployment's error (`status.details.error`) or the
/// detail of a 422 (`CfError::is_quota`), so both read quotas the same way.
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
        for id in PERMANENT_STAGING {
            let o = staging_failure("b", Some(id), Some(id));
            assert!(o.is_final(), "{id}");
        }
        let unknown = staging_failure("b", Some("FancyNewError - x"), Some("FancyNewError"));
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

    #[test]
    fn quota_refusals_are_told_apart_from_other_deferrals() {
        let refused = CfError::from_response(
            "POST /v3/deployments",
            422,
            br#"{"errors":[{"code":10008,"title":"CF-UnprocessableEntity","detail":"memory space_quota_exceeded for space prod. This space's quota may not be large enough to support rolling deployments or your configured max-in-flight."}]}"#,
        );
        assert!(is_quota_refusal(&quota(
            "creating the deployment",
            &refused
        )));
        assert!(is_quota_refusal(&api_error("staging", &refused)));
        let stuck = Outcome::Failed {
            reason: "deployment d stuck: memory quota_exceeded; canceled, the previous droplet is current again".into(),
            permanent: false,
        };
        assert!(is_quota_refusal(&stuck));
        let unavailable = CfError::Unavailable {
            request: "GET /v3/apps/a".into(),
            detail: "reset".into(),
        };
        assert!(!is_quota_refusal(&api_error("reading", &unavailable)));
        assert!(!is_quota_refusal(&Outcome::Failed {
            reason: "deployment d stuck: not finished after 10m".into(),
            permanent: true,
        }));
    }
}
