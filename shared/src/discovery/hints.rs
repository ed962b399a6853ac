//! The scheduling hints of a plan's jobs (`RestageJob::schedule`): each
//! app's history (`forecast`) and its space's allowance (`quotas`). Read
//! after the jobs are known, in bulk; nothing read here can stop a plan,
//! it only leaves hints out.

use std::collections::HashMap;

use super::forecast::{self, Planned};
use super::inventory::Inventory;
use super::quotas;
use crate::cf::CfClient;
use crate::config::CapacitySettings;
use crate::domain::{RestageJob, ScheduleHints};

/// Fills in `jobs`' hints; returns what to tell the operator.
pub(crate) async fn attach(
    cf: &CfClient,
    inventory: &Inventory,
    jobs: &mut [RestageJob],
    capacity: &CapacitySettings,
) -> Vec<String> {
    if jobs.is_empty() {
        return Vec::new();
    }
    let reading = quotas::read(cf, &inventory.listing, jobs, capacity).await;
    let apps: HashMap<&str, &crate::cf::App> = inventory
        .apps()
        .iter()
        .map(|a| (a.guid.as_str(), a))
        .collect();
    let planned: Vec<Planned<'_>> = jobs
        .iter()
        .map(|j| Planned {
            app: &j.app.guid,
            droplet: &j.droplet_guid,
            package: apps
                .get(j.app.guid.as_str())
                .and_then(|a| inventory.droplet_of(a))
                .and_then(|d| d.package_guid()),
        })
        .collect();
    let (history, history_note) = forecast::read(cf, &planned, &reading.web).await;
    let mut with_history = 0usize;
    for job in jobs.iter_mut() {
        let past = history.get(&job.app.guid).copied().unwrap_or_default();
        if past.staging_ms.is_some() {
            with_history += 1;
        }
        job.schedule = ScheduleHints {
            staging_ms: past.staging_ms,
            step_ms: past.step_ms,
            web_instances: reading.web.get(&job.app.guid).map(|w| w.instances),
            space_allowance: reading.allowances.get(&job.app.space_guid).copied(),
        };
    }
    tracing::info!(jobs = jobs.len(), with_history, spaces = ?reading.summary, "scheduling hints read");
    reading.note.into_iter().chain(history_note).collect()
}
