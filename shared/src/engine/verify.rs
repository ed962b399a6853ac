//! Step 8: a DEPLOYED restage counts only once the app stayed healthy.
//!
//! Cloud Controller calls a rolling deployment DEPLOYED as soon as the new
//! instances passed their health check once; a droplet that crashes twenty
//! seconds later is still DEPLOYED. So for `verify_for` after the deployment
//! finished restager watches the app's `audit.app.process.crash` events since
//! the deployment started (one request a poll, whatever the instance count),
//! and at the end asks once that every web instance is RUNNING. The window is
//! measured on Cloud Controller's clock (the deployment's own timestamps), so a
//! redelivered job resumes the same window instead of starting a new one.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::deadline::Deadline;
use crate::cf::{AuditEvent, CfClient, CfError, Deployment, InstanceState};

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// No crash, every web instance RUNNING at the end of the window.
    Healthy,
    /// The evidence: which instance crashed, and how.
    Crashed(String),
    /// The invocation ran out of time before the window ended.
    OutOfTime,
}

/// Watches the app of `deployment` from its start until `verify_for` after
/// `settled_at`. `poll` is the base interval (jittered by the caller's
/// `sleep`).
pub async fn watch(
    cf: &CfClient,
    app_guid: &str,
    deployment: &Deployment,
    settled_at: DateTime<Utc>,
    verify_for: Duration,
    poll: impl Fn() -> Duration,
    deadline: &Deadline,
) -> Result<Health, CfError> {
    // `created_ats[gt]` is exclusive and whole seconds only: start one
    // second early so a crash in the deployment's first second counts.
    let since = deployment.created_at.unwrap_or(settled_at) - chrono::Duration::seconds(1);
    let until = settled_at + chrono::Duration::from_std(verify_for).unwrap_or_default();
    // Instances still starting at the end of the window get one more window.
    let give_up = until + chrono::Duration::from_std(verify_for).unwrap_or_default();
    loop {
        let crashes = cf.list_crash_events(app_guid, since).await?;
        if let Some(first) = crashes.first() {
            return Ok(Health::Crashed(evidence(first, crashes.len())));
        }
        let now = Utc::now();
        if now >= until {
            match web_instances(cf, app_guid).await? {
                Instances::AllRunning => return Ok(Health::Healthy),
                Instances::Crashed(what) => return Ok(Health::Crashed(what)),
                Instances::NotYet(what) if now >= give_up => {
                    return Ok(Health::Crashed(format!(
                        "{what} after {} of verification",
                        humantime::format_duration(verify_for * 2)
                    )));
                }
                Instances::NotYet(_) => {}
            }
        }
        let left = (until.max(now) - now).to_std().unwrap_or_default();
        let wait = if left.is_zero() {
            poll()
        } else {
            poll().min(left)
        };
        if !deadline.sleep(wait.max(Duration::from_millis(1))).await {
            return Ok(Health::OutOfTime);
        }
    }
}

fn evidence(first: &AuditEvent, count: usize) -> String {
    let more = match count {
        1 => String::new(),
        n => format!(", {n} crashes"),
    };
    let when = first
        .created_at
        .map(|t| format!(" at {}", t.format("%H:%M:%SZ")))
        .unwrap_or_default();
    format!("{}{when}{more}", first.crash_evidence())
}

enum Instances {
    AllRunning,
    Crashed(String),
    NotYet(String),
}

/// The app's web processes (there is one once a deployment finished) and
/// the state of each instance.
async fn web_instances(cf: &CfClient, app_guid: &str) -> Result<Instances, CfError> {
    let processes = cf.list_processes(app_guid).await?;
    let mut waiting = Vec::new();
    for process in processes.iter().filter(|p| p.kind == "web") {
        let stats = cf.process_stats(&process.guid).await?;
        for instance in &stats.resources {
            match &instance.state {
                InstanceState::Running => {}
                InstanceState::Crashed => {
                    return Ok(Instances::Crashed(format!(
                        "instance {} is CRASHED{}",
                        instance.index,
                        instance
                            .details
                            .as_deref()
                            .filter(|d| !d.is_empty())
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    )));
                }
                other => waiting.push(format!("instance {} is {other}", instance.index)),
            }
        }
    }
    Ok(if waiting.is_empty() {
        Instances::AllRunning
    } else {
        Instances::NotYet(waiting.join(", "))
    })
}
