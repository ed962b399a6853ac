//! A finished wave soaks before the next goes: its restaged apps are
//! checked for `audit.app.process.crash` events since each one's deployment
//! started (as verification does; one that verification had seen would
//! have been rolled back already)
//! (one request per chunk of apps, whatever their number), and an app whose
//! new droplet crashed meanwhile is rolled back as verification does: a
//! rolling deployment of the previous droplet, labelled with the job (so the
//! job's labels find it) and the crashed deployment. Its outcome becomes
//! `rolled back` (a failure for the budget); the rollback deployment is
//! started, not watched, since the gate may run in a short-lived Lambda.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Ports, RolloutError};
use crate::cf::DeploymentRequest;
use crate::domain::Outcome;
use crate::engine::labels::{ROLLBACK_LABEL, ROLLBACK_REASON, job_labels, label_value};
use crate::ledger::RunView;

/// Rolls back the restaged apps of `wave` that crashed since; how many.
pub(super) async fn roll_back_crashed(
    p: Ports<'_>,
    view: &RunView,
    wave: usize,
) -> Result<usize, RolloutError> {
    // App guid → (job, when it was verified, its deployment).
    let mut restaged: HashMap<&str, (&crate::ledger::JobRecord, DateTime<Utc>, &str)> =
        HashMap::new();
    for (job, w) in view.jobs_with_waves() {
        if w as usize != wave {
            continue;
        }
        if let (
            Some(Outcome::Restaged {
                deployment_guid, ..
            }),
            Some(at),
        ) = (&job.outcome, job.updated_at)
        {
            restaged.insert(job.app.guid.as_str(), (job, at, deployment_guid.as_str()));
        }
    }
    let Some(since) = restaged.values().map(|(_, at, _)| *at).min() else {
        return Ok(0);
    };
    let guids: Vec<&str> = restaged.keys().copied().collect();
    let events =
        p.cf.list_crash_events_of(&guids, since - chrono::Duration::seconds(1))
            .await?;
    let mut rolled = 0;
    let mut seen = std::collections::HashSet::new();
    for event in &events {
        let Some(app) = event.target_guid() else {
            continue;
        };
        let Some((job, deployed_at, deployment)) = restaged.get(app) else {
            continue;
        };
        // Whole seconds on CC's side, as in verification.
        let after = event
            .created_at
            .is_some_and(|t| t.timestamp() >= deployed_at.timestamp());
        if !after || !seen.insert(app) {
            continue;
        }
        let evidence = crash_evidence(event);
        let outcome = roll_back(p, view, job, deployment, &evidence).await?;
        tracing::warn!(run = %view.record.run_id, app = %job.app.name, %evidence, "crashed during its wave's soak");
        p.ledger
            .record_outcome(&view.record.run_id, &job.job_id, &outcome)
            .await?;
        if let Some(expected) = view.record.expected.iter().find(|e| e.job_id == job.job_id)
            && let Some(j) = expected.to_job(&view.record)
            && let Err(e) = p.notifier.app_finished(&j, &outcome).await
        {
            tracing::warn!(run = %view.record.run_id, error = %e, "could not tell about a soak rollback");
        }
        rolled += 1;
    }
    Ok(rolled)
}

fn crash_evidence(event: &crate::cf::AuditEvent) -> String {
    let d = &event.data;
    let mut parts = Vec::new();
    if let Some(i) = d.index {
        parts.push(format!("instance {i} crashed"));
    } else {
        parts.push("an instance crashed".to_string());
    }
    if let Some(what) = d.exit_description.as_deref().or(d.reason.as_deref()) {
        parts.push(format!("({what})"));
    }
    if let Some(at) = event.created_at {
        parts.push(format!("at {}", at.format("%H:%M:%S UTC")));
    }
    parts.join(" ")
}

/// Starts the rollback of `job`'s restage, or says why it cannot be done.
async fn roll_back(
    p: Ports<'_>,
    view: &RunView,
    job: &crate::ledger::JobRecord,
    deployment_guid: &str,
    evidence: &str,
) -> Result<Outcome, RolloutError> {
    let deployment = p.cf.get_deployment(deployment_guid).await?;
    let previous = deployment
        .previous_droplet_guid()
        .filter(|prev| Some(*prev) != deployment.droplet_guid())
        .map(str::to_string);
    let Some(previous) = previous else {
        return Ok(Outcome::Failed {
            reason: format!(
                "crashed during its wave's soak ({evidence}) and deployment {deployment_guid} names no earlier droplet: \
                 inspect it with `cf logs APP --recent`, fix or `cf rollback APP` by hand"
            ),
            permanent: true,
        });
    };
    if let Err(e) = p.cf.get_droplet(&previous).await {
        if e.is_not_found() {
            return Ok(Outcome::Failed {
                reason: format!(
                    "crashed during its wave's soak ({evidence}); the previous droplet {previous} is gone, so restager left the app as it is: \
                     run `cf droplets APP` and `cf set-droplet APP GUID` with a good droplet, then `cf restart APP --strategy rolling`"
                ),
                permanent: true,
            });
        }
        return Err(e.into());
    }
    let reason = format!(
        "the new droplet crashed during its wave's soak ({evidence}); rolled back to the previous droplet {previous}"
    );
    let expected = view.record.expected.iter().find(|e| e.job_id == job.job_id);
    let mut labels = expected
        .and_then(|e| e.to_job(&view.record))
        .map(|j| job_labels(&j))
        .unwrap_or_default();
    labels.insert(ROLLBACK_LABEL.to_string(), label_value(deployment_guid));
    let request = DeploymentRequest {
        app_guid: job.app.guid.clone(),
        droplet_guid: Some(previous),
        canary_steps: None,
        max_in_flight: p.max_in_flight,
        labels,
        annotations: [(ROLLBACK_REASON.to_string(), reason.clone())].into(),
    };
    match p.cf.create_deployment_as(&request).await {
        Ok(rollback) => Ok(Outcome::RolledBack {
            reason,
            deployment_guid: rollback.guid,
        }),
        Err(e) => Ok(Outcome::Failed {
            reason: format!("{reason} failed: {e}; roll back by hand with `cf rollback APP`"),
            permanent: true,
        }),
    }
}
