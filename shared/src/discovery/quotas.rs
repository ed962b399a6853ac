//! Reading what the quotas of the run's spaces and orgs leave free, and the
//! apps' web processes: per org with jobs, its space quotas, its quota,
//! its apps (their states) and its processes, each one listing per batch
//! of orgs (O(pages), never per app or space). `allowance` turns the
//! numbers into how many restages at once each space holds.
//!
//! Why discovery and not the worker: discovery already has every job's
//! space and org and reads whole orgs in a few pages, and an org's
//! headroom is shared by all its spaces, which only the planner sees
//! together; a worker sees one job at a time and would read the same
//! quotas again per space and per Lambda container. The allowance goes to
//! the worker in the job's hints. It is a reading at planning time: if
//! Cloud Controller's usage moves meanwhile, a refusal defers the job and
//! the worker lowers the space's allowance for the rest of the run.
//!
//! What cannot be read leaves the space at one restage at a time: a space
//! quota or org quota the client cannot see, a resource that does not
//! parse, a failed request. A client with Space Developer in only some of
//! an org's spaces sees only their processes, so the org's usage it adds
//! up is a lower bound; with a binding org quota such a client relies on
//! the refusal path. Running tasks count against quotas too and are not
//! read (restaged apps seldom run tasks; a refusal covers them).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::allowance::{self, Limits, Need, SpaceDemand, Usage};
use crate::cf::{
    AppListing, AppState, Batch, CfClient, CfError, OrganizationQuota, Process, SpaceQuota,
};
use crate::config::CapacitySettings;
use crate::domain::RestageJob;

/// What the quota reading found.
#[derive(Debug, Default)]
pub(crate) struct Reading {
    /// Restages at once, by space guid, for spaces whose numbers were all read.
    pub allowances: HashMap<String, u32>,
    /// Each app's web process as a deployment would roll it, by app guid.
    pub web: HashMap<String, Web>,
    /// How the spaces came out, for the log.
    pub summary: String,
    /// What to tell the operator: only when something could not be read.
    pub note: Option<String>,
}

/// What a rolling deployment of an app starts from: the instances of its
/// oldest web process (DeploymentCreate `desired_instances`) and the memory
/// of its newest (`clone_existing_web_process`); they are the same process
/// unless a deployment is under way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Web {
    pub instances: u32,
    pub memory_mb: Option<u64>,
}

/// Reads the quotas and usage of `jobs`' orgs (spaces and orgs named by
/// `listing`). Never fails: what cannot be read is noted and left at 1.
pub(crate) async fn read(
    cf: &CfClient,
    listing: &AppListing,
    jobs: &[RestageJob],
    capacity: &CapacitySettings,
) -> Reading {
    let orgs: Vec<String> = jobs
        .iter()
        .map(|j| j.app.org_guid.clone())
        .filter(|g| !g.is_empty())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if orgs.is_empty() {
        return Reading::default();
    }
    let (space_quotas, org_quotas, apps, processes) = futures::join!(
        cf.list_space_quotas_of_orgs(&orgs),
        cf.list_organization_quotas_of_orgs(&orgs),
        cf.list_apps_of_orgs(&orgs),
        cf.list_processes_of_orgs(&orgs),
    );
    match (space_quotas, org_quotas, apps, processes) {
        (Ok(sq), Ok(oq), Ok(apps), Ok(procs)) => {
            let found = Found::gather(sq, oq, apps, procs);
            let counted = found.allowances(listing, jobs, capacity);
            Reading {
                web: found.web(),
                summary: counted.summary(),
                note: (counted.unread > 0).then(|| {
                    format!(
                        "quotas of {} space{} not readable: one restage at a time there",
                        counted.unread,
                        if counted.unread == 1 { "" } else { "s" }
                    )
                }),
                allowances: counted.allowances,
            }
        }
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
            tracing::warn!(error = %e, "could not read the spaces' quotas; one restage at a time per space");
            Reading {
                note: Some(unread_note(&e)),
                ..Reading::default()
            }
        }
    }
}

fn unread_note(e: &CfError) -> String {
    format!("quotas not read ({e}): one restage at a time per space")
}

/// The listings, indexed.
struct Found {
    space_quotas: HashMap<String, SpaceQuota>,
    /// Space quota guid by space guid, from the quotas' side.
    quota_of_space: HashMap<String, String>,
    org_quotas: HashMap<String, OrganizationQuota>,
    quota_of_org: HashMap<String, String>,
    /// STARTED apps' space, by app guid.
    started: HashMap<String, String>,
    /// The org of every space seen, by space guid.
    org_of_space: HashMap<String, String>,
    /// Processes by app guid.
    processes: HashMap<String, Vec<Process>>,
    /// Orgs a listing could not fully read.
    unsure: HashSet<String>,
}

impl Found {
    fn gather(
        space_quotas: Vec<Batch<SpaceQuota>>,
        org_quotas: Vec<Batch<OrganizationQuota>>,
        apps: Vec<Batch<crate::cf::App>>,
        processes: Vec<Batch<Process>>,
    ) -> Self {
        let mut f = Found {
            space_quotas: HashMap::new(),
            quota_of_space: HashMap::new(),
            org_quotas: HashMap::new(),
            quota_of_org: HashMap::new(),
            started: HashMap::new(),
            org_of_space: HashMap::new(),
            processes: HashMap::new(),
            unsure: HashSet::new(),
        };
        let doubt = |asked: &[String], unreadable: bool, unsure: &mut HashSet<String>| {
            if unreadable {
                unsure.extend(asked.iter().cloned());
            }
        };
        for b in space_quotas {
            doubt(&b.asked, !b.listed.unreadable.is_empty(), &mut f.unsure);
            for q in b.listed.items {
                for space in q.relationships.spaces.guids() {
                    f.quota_of_space.insert(space.to_string(), q.guid.clone());
                }
                f.space_quotas.insert(q.guid.clone(), q);
            }
        }
        for b in org_quotas {
            doubt(&b.asked, !b.listed.unreadable.is_empty(), &mut f.unsure);
            for q in b.listed.items {
                for org in q.relationships.organizations.guids() {
                    f.quota_of_org.insert(org.to_string(), q.guid.clone());
                }
                f.org_quotas.insert(q.guid.clone(), q);
            }
        }
        for b in apps {
            doubt(&b.asked, !b.listed.unreadable.is_empty(), &mut f.unsure);
            for s in &b.listed.included.spaces {
                if let Some(org) = s.organization_guid() {
                    f.org_of_space.insert(s.guid.clone(), org.to_string());
                }
            }
            for a in b.listed.items {
                if a.state == AppState::Started
                    && let Some(space) = a.space_guid()
                {
                    f.started.insert(a.guid.clone(), space.to_string());
                }
            }
        }
        for b in processes {
            doubt(&b.asked, !b.listed.unreadable.is_empty(), &mut f.unsure);
            for p in b.listed.items {
                let Some(app) = p.relationships.app.guid().map(str::to_string) else {
                    continue;
                };
                f.processes.entry(app).or_default().push(p);
            }
        }
        f
    }

    /// Every app's web process shape (see [`Web`]).
    fn web(&self) -> HashMap<String, Web> {
        self.processes
            .iter()
            .filter_map(|(app, procs)| {
                let webs = || procs.iter().filter(|p| p.kind == "web");
                let oldest = webs().min_by_key(|p| p.created_at)?;
                let newest = webs().max_by_key(|p| p.created_at)?;
                Some((
                    app.clone(),
                    Web {
                        instances: oldest.instances,
                        memory_mb: newest.memory_in_mb,
                    },
                ))
            })
            .collect()
    }

    /// Memory and instances of STARTED apps' processes, by space guid;
    /// `None` for a space with a process of unknown memory.
    fn usage_by_space(&self) -> HashMap<&str, Option<Usage>> {
        let mut by_space: HashMap<&str, Option<Usage>> = HashMap::new();
        for (app, space) in &self.started {
            let entry = by_space
                .entry(space.as_str())
                .or_insert(Some(Usage::default()));
            for p in self.processes.get(app).into_iter().flatten() {
                let Some(u) = entry.as_mut() else { break };
                match p.memory_in_mb {
                    Some(mb) => {
                        u.memory_mb += mb * u64::from(p.instances);
                        u.instances += u64::from(p.instances);
                    }
                    None => *entry = None,
                }
            }
        }
        by_space
    }

    fn allowances(
        &self,
        listing: &AppListing,
        jobs: &[RestageJob],
        capacity: &CapacitySettings,
    ) -> Counted {
        let usage = self.usage_by_space();
        let web = self.web();
        // The run's spaces, by org, in a stable order.
        let mut demand: BTreeMap<&str, BTreeMap<&str, (usize, Option<u64>)>> = BTreeMap::new();
        for job in jobs {
            let memory = web.get(&job.app.guid).and_then(|w| w.memory_mb);
            let entry = demand
                .entry(job.app.org_guid.as_str())
                .or_default()
                .entry(job.app.space_guid.as_str())
                .or_insert((0, Some(0)));
            entry.0 += 1;
            entry.1 = entry.1.zip(memory).map(|(a, b)| a.max(b));
        }
        let mut counted = Counted::default();
        for (org, spaces) in demand {
            let org_usage = usage
                .iter()
                .filter(|(space, _)| self.org_of(listing, space) == Some(org))
                .try_fold(Usage::default(), |acc, (_, u)| {
                    u.map(|u| Usage {
                        memory_mb: acc.memory_mb + u.memory_mb,
                        instances: acc.instances + u.instances,
                    })
                });
            let org_limits = self.org_limits(listing, org);
            let mut read: Vec<(&str, SpaceDemand)> = Vec::new();
            for (space, (jobs, memory)) in &spaces {
                let limits = self.space_limits(listing, space);
                let space_usage = usage.get(space).copied().unwrap_or(Some(Usage::default()));
                match (limits, space_usage, memory, self.unsure.contains(org)) {
                    (Some(limits), Some(usage), Some(mb), false) if *mb > 0 => read.push((
                        space,
                        SpaceDemand {
                            jobs: *jobs,
                            need: Need::rolling(capacity.max_in_flight, *mb),
                            limits,
                            usage,
                        },
                    )),
                    _ => counted.unread += 1,
                }
            }
            let (Some(org_limits), Some(org_usage), false) =
                (org_limits, org_usage, self.unsure.contains(org))
            else {
                counted.unread += read.len();
                continue;
            };
            let demands: Vec<SpaceDemand> = read.iter().map(|(_, d)| *d).collect();
            let granted =
                allowance::allowances(org_limits, org_usage, &demands, capacity.max_per_space);
            for ((space, _), n) in read.iter().zip(granted) {
                counted.by_allowance[n.min(counted.by_allowance.len() - 1)] += 1;
                counted
                    .allowances
                    .insert(space.to_string(), u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
        counted
    }

    fn org_of<'a>(&'a self, listing: &'a AppListing, space: &str) -> Option<&'a str> {
        self.org_of_space
            .get(space)
            .map(String::as_str)
            .or_else(|| {
                listing
                    .spaces
                    .get(space)
                    .and_then(|s| s.organization_guid())
            })
    }

    /// The space quota's limits; unlimited without one, `None` when the
    /// space has one the client cannot read.
    fn space_limits(&self, listing: &AppListing, space: &str) -> Option<Limits> {
        let named = listing.spaces.get(space).and_then(|s| s.quota_guid());
        let quota = named.or_else(|| self.quota_of_space.get(space).map(String::as_str));
        match quota {
            None => Some(Limits::default()),
            Some(guid) => self.space_quotas.get(guid).map(|q| limits(&q.apps)),
        }
    }

    /// The org quota's limits; `None` when it cannot be read (every org has one).
    fn org_limits(&self, listing: &AppListing, org: &str) -> Option<Limits> {
        let named = listing.orgs.get(org).and_then(|o| o.quota_guid());
        let guid = named.or_else(|| self.quota_of_org.get(org).map(String::as_str))?;
        self.org_quotas.get(guid).map(|q| limits(&q.apps))
    }
}

fn limits(apps: &crate::cf::AppLimits) -> Limits {
    Limits {
        memory_mb: apps.total_memory_in_mb,
        instances: apps.total_instances,
    }
}

#[derive(Debug, Default)]
struct Counted {
    allowances: HashMap<String, u32>,
    /// Spaces by allowance: [unused, 1, 2, 3 or more].
    by_allowance: [usize; 4],
    unread: usize,
}

impl Counted {
    fn summary(&self) -> String {
        let [_, one, two, more] = self.by_allowance;
        let mut parts = vec![format!(
            "{one} space{} one at a time",
            if one == 1 { "" } else { "s" }
        )];
        if two > 0 {
            parts.push(format!("{two} two at once"));
        }
        if more > 0 {
            parts.push(format!("{more} three or more"));
        }
        if self.unread > 0 {
            parts.push(format!("{} not readable (one at a time)", self.unread));
        }
        parts.join(", ")
    }
}
