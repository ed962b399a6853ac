//! What each planned app's own history says its restage will take: how
//! long its live droplet took to stage, and how long one step of its last
//! rolling deployment took. Read in bulk (the STAGED builds of the live
//! packages, the DEPLOYED deployments of the apps: a listing per batch of
//! guids), never per app. An app without such history gets no hint and is
//! polled on the fixed beat.
//!
//! Cloud Controller creates a build's row when staging starts and updates
//! it to STAGED when the droplet is ready (build_create.rb,
//! staging_completion_handler.rb); the droplet itself is created only at
//! the end (droplet_create.rb `find_or_create_buildpack_droplet`), so its
//! own timestamps say nothing about staging. A deployment's
//! `status.details.last_status_change` is when it FINALIZED. Timestamps are
//! whole seconds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::quotas::Web;
use crate::cf::{Batch, Build, CfClient, CfError, Deployment};

/// What history says about one app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct History {
    pub staging_ms: Option<u64>,
    pub step_ms: Option<u64>,
}

/// One planned app: its guid, its live droplet and that droplet's package.
pub(crate) struct Planned<'a> {
    pub app: &'a str,
    pub droplet: &'a str,
    pub package: Option<&'a str>,
}

/// Reads the history of `apps`; `web` are their web processes (for the
/// instance count a deployment rolled). Failed reads are logged and leave
/// the affected part unknown.
pub(crate) async fn read(
    cf: &CfClient,
    apps: &[Planned<'_>],
    web: &HashMap<String, Web>,
) -> (HashMap<String, History>, Option<String>) {
    let packages: Vec<String> = apps
        .iter()
        .filter_map(|a| a.package.map(str::to_string))
        .collect();
    let guids: Vec<String> = apps.iter().map(|a| a.app.to_string()).collect();
    let (builds, deployments) = futures::join!(
        cf.list_staged_builds_of_packages(&packages),
        cf.list_deployed_deployments_of_apps(&guids),
    );
    let mut trouble = Vec::new();
    let builds = flatten(builds, "builds", &mut trouble);
    let deployments = flatten(deployments, "deployments", &mut trouble);
    let mut by_package: HashMap<&str, Vec<&Build>> = HashMap::new();
    for b in &builds {
        if let Some(p) = b.package_guid() {
            by_package.entry(p).or_default().push(b);
        }
    }
    let mut by_app: HashMap<&str, Vec<&Deployment>> = HashMap::new();
    for d in &deployments {
        if let Some(a) = d.relationships.app.guid() {
            by_app.entry(a).or_default().push(d);
        }
    }
    let mut out = HashMap::new();
    for a in apps {
        let build = a
            .package
            .and_then(|p| by_package.get(p))
            .and_then(|builds| build_of(builds, a.droplet));
        let instances = web.get(a.app).map(|w| w.instances);
        let step = by_app
            .get(a.app)
            .and_then(|deps| last_rolling(deps))
            .zip(instances)
            .and_then(|(d, n)| step_ms(d, n));
        let history = History {
            staging_ms: build.and_then(staging_ms),
            step_ms: step,
        };
        if history != History::default() {
            out.insert(a.app.to_string(), history);
        }
    }
    let note = (!trouble.is_empty()).then(|| {
        format!(
            "history not read ({}): those restages poll on the fixed interval",
            trouble.join("; ")
        )
    });
    (out, note)
}

fn flatten<T>(
    read: Result<Vec<Batch<T>>, CfError>,
    what: &str,
    trouble: &mut Vec<String>,
) -> Vec<T> {
    match read {
        Ok(batches) => batches
            .into_iter()
            .flat_map(|b| {
                if !b.listed.unreadable.is_empty() {
                    tracing::debug!(
                        what,
                        unreadable = b.listed.unreadable.len(),
                        "some history does not parse; left out"
                    );
                }
                b.listed.items
            })
            .collect(),
        Err(e) => {
            tracing::warn!(what, error = %e, "could not read the apps' history; polling on the fixed interval");
            trouble.push(format!("{what}: {e}"));
            Vec::new()
        }
    }
}

/// The build that staged `droplet`, else the newest STAGED build of the same
/// package (the same code staged with the same buildpacks).
pub(crate) fn build_of<'a>(builds: &[&'a Build], droplet: &str) -> Option<&'a Build> {
    builds
        .iter()
        .find(|b| b.droplet_guid() == Some(droplet))
        .or_else(|| builds.iter().max_by_key(|b| b.created_at))
        .copied()
}

fn millis_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<u64> {
    let ms = to?.signed_duration_since(from?).num_milliseconds();
    // Less than a second is CC's rounding, not a staging or a rollout.
    u64::try_from(ms).ok().filter(|ms| *ms >= 1000)
}

/// How long `build` staged: created to STAGED.
pub(crate) fn staging_ms(build: &Build) -> Option<u64> {
    if build.state != crate::cf::BuildState::Staged {
        return None;
    }
    millis_between(build.created_at, build.updated_at)
}

/// The newest rolling deployment that ended DEPLOYED (a canary's time is
/// mostly its pauses, which say nothing about start-up).
pub(crate) fn last_rolling<'a>(deployments: &[&'a Deployment]) -> Option<&'a Deployment> {
    deployments
        .iter()
        .filter(|d| d.is_deployed() && !d.is_canary())
        .max_by_key(|d| d.created_at)
        .copied()
}

/// How long one step of `dep` took, rolling `instances` web instances
/// `max_in_flight` at a time (1 where CC did not say).
pub(crate) fn step_ms(dep: &Deployment, instances: u32) -> Option<u64> {
    let ended = dep.status.details.last_status_change.or(dep.updated_at);
    let took = millis_between(dep.created_at, ended)?;
    let mif = dep
        .options
        .as_ref()
        .and_then(|o| o.max_in_flight)
        .unwrap_or(1)
        .max(1);
    let steps = instances.div_ceil(mif).max(1);
    Some(took / u64::from(steps))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn build(
        guid: &str,
        state: &str,
        droplet: Option<&str>,
        created: &str,
        updated: &str,
    ) -> Build {
        serde_json::from_value(json!({
            "guid": guid,
            "state": state,
            "package": {"guid": "pkg"},
            "droplet": droplet.map(|d| json!({"guid": d})),
            "created_at": created,
            "updated_at": updated,
        }))
        .expect("build")
    }

    fn deployment(
        strategy: &str,
        reason: &str,
        created: &str,
        finalized: &str,
        mif: Option<u32>,
    ) -> Deployment {
        serde_json::from_value(json!({
            "guid": format!("d-{created}"),
            "strategy": strategy,
            "status": {"value": "FINALIZED", "reason": reason,
                       "details": {"last_status_change": finalized}},
            "options": mif.map(|m| json!({"max_in_flight": m})),
            "created_at": created,
            "updated_at": finalized,
        }))
        .expect("deployment")
    }

    #[test]
    fn staging_time_is_the_live_droplets_build_from_created_to_staged() {
        let live = build(
            "b1",
            "STAGED",
            Some("drop-live"),
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:02:07Z",
        );
        let later = build(
            "b2",
            "STAGED",
            Some("drop-other"),
            "2026-02-01T09:00:00Z",
            "2026-02-01T09:05:00Z",
        );
        let builds = [&live, &later];
        let found = build_of(&builds, "drop-live").expect("found");
        assert_eq!(found.guid, "b1");
        assert_eq!(staging_ms(found), Some(127_000));
        // No build names the droplet: the newest staging of its package.
        assert_eq!(
            build_of(&builds, "drop-gone").map(|b| b.guid.as_str()),
            Some("b2")
        );
        assert_eq!(build_of(&[], "drop-live"), None);
    }

    #[test]
    fn staging_time_needs_a_staged_build_with_both_timestamps() {
        let staging = build(
            "b",
            "STAGING",
            None,
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:02:00Z",
        );
        assert_eq!(staging_ms(&staging), None);
        let instant = build(
            "b",
            "STAGED",
            Some("d"),
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:00:00Z",
        );
        assert_eq!(staging_ms(&instant), None, "under a second is rounding");
        let backwards = build(
            "b",
            "STAGED",
            Some("d"),
            "2026-01-05T10:00:00Z",
            "2026-01-05T09:00:00Z",
        );
        assert_eq!(staging_ms(&backwards), None);
        let mut untimed = build(
            "b",
            "STAGED",
            Some("d"),
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:01:00Z",
        );
        untimed.updated_at = None;
        assert_eq!(staging_ms(&untimed), None);
    }

    /// A rolling deployment that took 2 minutes, with this `max_in_flight`.
    fn two_minute_rollout(max_in_flight: Option<u32>) -> Deployment {
        deployment(
            "rolling",
            "DEPLOYED",
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:02:00Z",
            max_in_flight,
        )
    }

    #[test]
    fn a_step_is_the_last_rolling_deployment_divided_by_its_steps() {
        // 4 instances one at a time in 2 minutes: 30 s a step.
        let one = two_minute_rollout(Some(1));
        assert_eq!(step_ms(&one, 4), Some(30_000));
        // Two at a time: 2 steps of 60 s. CC before 3.173 says nothing: one at a time.
        let two = two_minute_rollout(Some(2));
        assert_eq!(step_ms(&two, 4), Some(60_000));
        let old = two_minute_rollout(None);
        assert_eq!(step_ms(&old, 4), Some(30_000));
        assert_eq!(
            step_ms(&old, 0),
            Some(120_000),
            "an app at 0 rolls one step"
        );
    }

    #[test]
    fn only_rolling_deployments_that_deployed_count_and_the_newest_wins() {
        let older = deployment(
            "rolling",
            "DEPLOYED",
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:02:00Z",
            Some(1),
        );
        let newer = deployment(
            "rolling",
            "DEPLOYED",
            "2026-03-05T10:00:00Z",
            "2026-03-05T10:01:00Z",
            Some(1),
        );
        let canary = deployment(
            "canary",
            "DEPLOYED",
            "2026-04-05T10:00:00Z",
            "2026-04-05T11:00:00Z",
            Some(1),
        );
        let canceled = deployment(
            "rolling",
            "CANCELED",
            "2026-05-05T10:00:00Z",
            "2026-05-05T10:00:30Z",
            Some(1),
        );
        let found = last_rolling(&[&older, &newer, &canary, &canceled]).expect("one");
        assert_eq!(found.guid, newer.guid);
        assert_eq!(last_rolling(&[&canary, &canceled]), None);
    }
}
