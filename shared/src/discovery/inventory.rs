//! The two bulk reads every discovery starts from: apps (with their spaces
//! and orgs) and their current droplets. Cost: the app listing's pages plus
//! one request per `guid_batch_size` droplets — never one per app, except on
//! a Cloud Controller whose app objects do not name their current droplet
//! (before the relationship joined the app presenter), where each candidate
//! app's droplet is asked for on its own and the cost is reported.

use std::collections::HashMap;

use futures::StreamExt;

use crate::cf::{App, AppListing, AppQuery, CfClient, CfError, CurrentDroplet, Droplet};
use crate::domain::AppRef;

pub(crate) struct Inventory {
    pub listing: AppListing,
    /// Current droplets by GUID.
    droplets: HashMap<String, Droplet>,
    /// Current droplet GUIDs found by asking per app, by app GUID.
    looked_up: HashMap<String, String>,
    /// Why an app's current droplet could not be read, by app GUID.
    unreadable_droplets: HashMap<String, String>,
    /// What the plan should say about how the foundation was read.
    pub notes: Vec<String>,
}

impl Inventory {
    /// Lists the apps and reads their current droplets. `candidate` says
    /// which apps are worth a request of their own when CC does not name
    /// their droplet in the listing.
    pub async fn fetch(
        cf: &CfClient,
        query: &AppQuery,
        candidate: impl Fn(&App, &AppRef) -> bool,
    ) -> Result<Self, CfError> {
        let listing = cf.list_apps(query).await?;
        for bad in &listing.unreadable {
            tracing::warn!(%bad, "an app Cloud Controller listed cannot be read; it is reported as skipped");
        }
        let guids: Vec<String> = listing
            .apps
            .iter()
            .filter_map(|a| a.current_droplet_guid().map(str::to_string))
            .collect();
        let (found, unreadable) = cf.list_droplet_records_by_guids(&guids).await?;
        let droplets: HashMap<String, Droplet> =
            found.into_iter().map(|d| (d.guid.clone(), d)).collect();
        let mut inventory = Self {
            listing,
            droplets,
            looked_up: HashMap::new(),
            unreadable_droplets: HashMap::new(),
            notes: Vec::new(),
        };
        for bad in unreadable {
            tracing::warn!(%bad, "a current droplet cannot be read; its app is reported as skipped");
            let Some(droplet_guid) = bad.guid.as_deref() else {
                continue;
            };
            let reason = format!("current droplet {droplet_guid} {}", bad.reason());
            for app in &inventory.listing.apps {
                if app.current_droplet_guid() == Some(droplet_guid) {
                    inventory
                        .unreadable_droplets
                        .insert(app.guid.clone(), reason.clone());
                }
            }
        }
        inventory.look_up_unreported(cf, candidate).await?;
        Ok(inventory)
    }

    /// Older Cloud Controllers list apps without a `current_droplet`
    /// relationship and offer no bulk way to find the droplets (`current=true`
    /// exists only on one app's droplets), so each candidate costs a request.
    async fn look_up_unreported(
        &mut self,
        cf: &CfClient,
        candidate: impl Fn(&App, &AppRef) -> bool,
    ) -> Result<(), CfError> {
        let unreported: Vec<&App> = self
            .listing
            .apps
            .iter()
            .filter(|a| a.current_droplet() == CurrentDroplet::NotReported)
            .collect();
        if unreported.is_empty() {
            return Ok(());
        }
        let wanted: Vec<String> = unreported
            .iter()
            .filter(|a| candidate(a, &self.app_ref(a)))
            .map(|a| a.guid.clone())
            .collect();
        let results: Vec<(String, Result<Option<Droplet>, CfError>)> =
            futures::stream::iter(wanted.iter().cloned())
                .map(|guid| async move {
                    let found = cf.get_current_droplet(&guid).await;
                    (guid, found)
                })
                .buffer_unordered(cf.options().batch_concurrency.max(1))
                .collect()
                .await;
        for (app_guid, found) in results {
            match found {
                Ok(Some(d)) => {
                    self.looked_up.insert(app_guid, d.guid.clone());
                    self.droplets.insert(d.guid.clone(), d);
                }
                Ok(None) => {}
                Err(CfError::Unreadable { detail, .. }) => {
                    tracing::warn!(app = %app_guid, %detail, "a current droplet cannot be read; its app is reported as skipped");
                    self.unreadable_droplets
                        .insert(app_guid, format!("current droplet {detail}"));
                }
                Err(e) => return Err(e),
            }
        }
        let who = match cf.capabilities().await {
            Ok(c) => c.describe(),
            Err(_) => "this Cloud Controller".to_string(),
        };
        let note = format!(
            "{who} lists apps without their current droplet (the relationship arrived in API {}): \
             looked up the droplets of {} candidate app{} one by one ({} request{}; {} other app{} needed none)",
            crate::cf::since::APP_CURRENT_DROPLET,
            wanted.len(),
            plural(wanted.len()),
            wanted.len(),
            plural(wanted.len()),
            unreported.len() - wanted.len(),
            plural(unreported.len() - wanted.len()),
        );
        tracing::info!("{note}");
        self.notes.push(note);
        Ok(())
    }

    pub fn apps(&self) -> &[App] {
        &self.listing.apps
    }

    /// The app's current droplet GUID, from its object or from a lookup.
    pub fn current_droplet_guid<'a>(&'a self, app: &'a App) -> Option<&'a str> {
        app.current_droplet_guid()
            .or_else(|| self.looked_up.get(&app.guid).map(String::as_str))
    }

    /// The app's current droplet, when it has one and it could be read.
    pub fn droplet_of(&self, app: &App) -> Option<&Droplet> {
        self.droplets.get(self.current_droplet_guid(app)?)
    }

    /// Why this app cannot be judged: its current droplet does not parse.
    pub fn unreadable_reason(&self, app: &App) -> Option<&str> {
        self.unreadable_droplets.get(&app.guid).map(String::as_str)
    }

    /// Apps whose own object could not be read, placed as well as the
    /// listing allows, each with the reason to report.
    pub fn unreadable_apps(&self) -> Vec<(AppRef, String)> {
        self.listing
            .unreadable
            .iter()
            .map(|bad| {
                let guid = bad.guid.clone().unwrap_or_default();
                let name = bad.name.clone().unwrap_or_else(|| guid.clone());
                let place = self.place(guid, name, bad.space_guid.as_deref());
                (place, bad.reason())
            })
            .collect()
    }

    /// Where the app lives, named. Names fall back to GUIDs if CC left the
    /// space or org out of `included` (it should not).
    pub fn app_ref(&self, app: &App) -> AppRef {
        self.place(app.guid.clone(), app.name.clone(), app.space_guid())
    }

    fn place(&self, guid: String, name: String, space_guid: Option<&str>) -> AppRef {
        let space = space_guid.and_then(|g| self.listing.spaces.get(g));
        let org_guid = space
            .and_then(|s| s.organization_guid())
            .unwrap_or_default()
            .to_string();
        let org = self.listing.orgs.get(&org_guid);
        let space_guid = space_guid.unwrap_or_default().to_string();
        AppRef {
            guid,
            name,
            space_name: space.map_or_else(|| space_guid.clone(), |s| s.name.clone()),
            space_guid,
            org_name: org.map_or_else(|| org_guid.clone(), |o| o.name.clone()),
            org_guid,
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
