//! The maintenance backlog: apps whose droplet was staged with an older admin
//! buildpack than the one now installed for their stack, and the sweep runs
//! that restage them even when no notice ever arrived.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::DiscoveryError;
use super::fan_out::RunPlan;
use super::installed::Installed;
use super::inventory::Inventory;
use super::owners::Owners;
use super::rules;
use crate::cf::{AppQuery, CfClient};
use crate::config::{ScopeSettings, WAVE_LABEL};
use crate::domain::{Action, AppRef, Notice, RestageJob, RunId, Version};
use crate::ledger::{RunRecord, SkippedApp};
use crate::window::Windows;

/// One app behind the installed version of one of its buildpacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutdatedApp {
    pub app: AppRef,
    pub buildpack: String,
    /// The stack a restage would use.
    pub stack: Option<String>,
    /// The version in the current droplet.
    pub current: Version,
    /// The newest version installed for that stack.
    pub installed: Version,
    pub droplet_guid: String,
    /// The package behind that droplet ([`RestageJob::package_guid`]).
    #[serde(skip)]
    pub package_guid: Option<String>,
    /// Why a sweep leaves it alone (stopped, docker, no package, opted out);
    /// `None` when a sweep restages it.
    pub blocked: Option<String>,
    /// Its space's `restager.io/wave` label, which orders the sweep's waves.
    #[serde(skip)]
    pub wave_label: Option<String>,
    /// When its restage may start ([`RestageJob::window`]); `None`: any time.
    pub window: Option<String>,
    /// Its owners' Slack channel ([`RestageJob::slack_channel`]).
    pub slack_channel: Option<String>,
}

impl OutdatedApp {
    /// When a new build of it may next start, in its window's zone, as
    /// `restager outdated` shows it.
    pub fn next_window(&self, now: DateTime<Utc>, cutoff: Duration) -> String {
        match self.window.as_deref().map(Windows::parse) {
            None => Windows::always().next_opening_description(now, cutoff),
            Some(Ok(w)) => w.next_opening_description(now, cutoff),
            Some(Err(e)) => format!("unknown ({e})"),
        }
    }
}

/// Outdated apps in `scope`. Droplets with a buildpack version that does not
/// parse are left out: nothing shows they are behind.
pub async fn outdated(
    cf: &CfClient,
    scope: &ScopeSettings,
) -> Result<Vec<OutdatedApp>, DiscoveryError> {
    let installed = Installed::fetch(cf).await?;
    if installed.names().is_empty() {
        return Ok(Vec::new());
    }
    let query = AppQuery {
        lifecycle_type: Some("buildpack".to_string()),
        ..AppQuery::default()
    };
    let inventory = Inventory::fetch(cf, &query, |app, place| {
        rules::excluded(app, place, scope).is_none() && app.state == crate::cf::AppState::Started
    })
    .await?;
    let owners = Owners::read(&inventory.listing, &scope.windows);
    let mut found = Vec::new();
    for app in inventory.apps() {
        let Some(droplet) = inventory.droplet_of(app) else {
            continue;
        };
        let place = inventory.app_ref(app);
        if !scope.allows(&place.org_name, &place.space_name) {
            continue;
        }
        let stack = rules::stack_of(app, Some(droplet));
        // One entry per app: restaging once updates all of its buildpacks.
        let behind = installed.names().into_iter().find_map(|name| {
            let current = rules::droplet_buildpack(droplet, name)?.parsed_version()?;
            let newest = installed.version_for(name, stack)?;
            (current < *newest).then(|| (name, current, newest.clone()))
        });
        let Some((name, current, newest)) = behind else {
            continue;
        };
        let space = owners.of_space(&place.space_guid);
        let bad_window = space.windows.as_ref().err().map(|e| {
            format!(
                "{e}; fix it on {}/{} (README, \"Maintenance windows\") and the next sweep plans the app",
                place.org_name, place.space_name
            )
        });
        found.push(OutdatedApp {
            blocked: rules::excluded(app, &place, scope)
                .or_else(|| rules::blocker(app, Some(droplet), Action::Restage))
                .or(bad_window),
            window: space.job_window(),
            slack_channel: space.slack_channel,
            app: place,
            buildpack: name.to_string(),
            stack: stack.map(str::to_string),
            current,
            installed: newest,
            droplet_guid: droplet.guid.clone(),
            package_guid: droplet.package_guid().map(str::to_string),
            wave_label: app
                .space_guid()
                .and_then(|g| inventory.listing.spaces.get(g))
                .and_then(|s| s.metadata.labels.get(WAVE_LABEL).cloned()),
        });
    }
    Ok(found)
}

/// The sweep: outdated apps grouped into one run per buildpack, installed
/// version and stack, each a restage to that version. Run ids derive from
/// `sweep:` + the group's release key, so a repeated sweep extends the same
/// runs and [`fan_out`](super::fan_out) skips jobs that already finished.
/// Groups where every app is blocked yield a run with no jobs, so every
/// app `outdated` lists is in some run, queued or skipped with its reason.
pub async fn sweep_plan(
    cf: &CfClient,
    scope: &ScopeSettings,
) -> Result<Vec<RunPlan>, DiscoveryError> {
    let apps = outdated(cf, scope).await?;
    let mut groups: BTreeMap<(String, String, Option<String>), Vec<OutdatedApp>> = BTreeMap::new();
    for app in apps {
        let key = (
            app.buildpack.clone(),
            app.installed.to_string(),
            app.stack.clone(),
        );
        groups.entry(key).or_default().push(app);
    }
    let created_at = Utc::now();
    let mut runs = Vec::new();
    for apps in groups.into_values() {
        let Some(first) = apps.first() else {
            continue;
        };
        let notice = Notice::Buildpack {
            buildpack: first.buildpack.clone(),
            version: first.installed.clone(),
            stack: first.stack.clone(),
        };
        let run_id = RunId::for_release(&format!("sweep:{}", notice.release_key()));
        let mut jobs = Vec::new();
        let mut skipped = Vec::new();
        let mut labels = std::collections::HashMap::new();
        for app in apps {
            if let Some(label) = &app.wave_label {
                labels.insert(app.app.space_guid.clone(), label.clone());
            }
            match app.blocked {
                Some(reason) => skipped.push(SkippedApp {
                    app: app.app,
                    reason,
                }),
                None => jobs.push(
                    RestageJob::new(
                        &run_id,
                        notice.clone(),
                        Action::Restage,
                        app.app,
                        app.droplet_guid,
                        Some(app.buildpack),
                        Some(app.installed),
                    )
                    .with_package(app.package_guid)
                    .for_owners(app.window, app.slack_channel),
                ),
            }
        }
        // A group whose every app is blocked is still a run (with nothing
        // queued), so each outdated app is accounted for in some run.
        let note = jobs.is_empty().then(|| {
            format!("every outdated app of {notice} is left alone (see the skipped apps)")
        });
        let assignment = super::waves::assign(&jobs, &scope.rollout.waves, |space| {
            labels.get(space).map(String::as_str)
        });
        runs.push(RunPlan {
            record: RunRecord {
                run_id,
                notice,
                action: Action::Restage,
                created_at,
                expected: assignment.expected(&jobs),
                skipped,
                note,
                released_at: None,
                release_url: None,
            },
            rollout: assignment.rollout(&scope.rollout, &scope.windows),
            jobs,
        });
    }
    Ok(runs)
}
