//! The two bulk reads every discovery starts from: apps (with their spaces
//! and orgs) and their current droplets. Cost: the app listing's pages plus
//! one request per `guid_batch_size` droplets — never one per app.

use std::collections::HashMap;

use crate::cf::{App, AppListing, AppQuery, CfClient, CfError, Droplet};
use crate::domain::AppRef;

pub(crate) struct Inventory {
    pub listing: AppListing,
    /// Current droplets by GUID.
    droplets: HashMap<String, Droplet>,
}

impl Inventory {
    pub async fn fetch(cf: &CfClient, query: &AppQuery) -> Result<Self, CfError> {
        let listing = cf.list_apps(query).await?;
        let guids: Vec<String> = listing
            .apps
            .iter()
            .filter_map(|a| a.current_droplet_guid().map(str::to_string))
            .collect();
        let droplets = cf
            .list_droplets_by_guids(&guids)
            .await?
            .into_iter()
            .map(|d| (d.guid.clone(), d))
            .collect();
        Ok(Self { listing, droplets })
    }

    pub fn apps(&self) -> &[App] {
        &self.listing.apps
    }

    /// The app's current droplet, when it has one and it could be read.
    pub fn droplet_of(&self, app: &App) -> Option<&Droplet> {
        self.droplets.get(app.current_droplet_guid()?)
    }

    /// Where the app lives, named. Names fall back to GUIDs if CC left the
    /// space or org out of `included` (it should not).
    pub fn app_ref(&self, app: &App) -> AppRef {
        let space = self.listing.space_of(app);
        let org = self.listing.org_of(app);
        let space_guid = app.space_guid().unwrap_or_default().to_string();
        let org_guid = space
            .and_then(|s| s.organization_guid())
            .unwrap_or_default()
            .to_string();
        AppRef {
            guid: app.guid.clone(),
            name: app.name.clone(),
            space_name: space.map_or_else(|| space_guid.clone(), |s| s.name.clone()),
            space_guid,
            org_name: org.map_or_else(|| org_guid.clone(), |o| o.name.clone()),
            org_guid,
        }
    }
}
