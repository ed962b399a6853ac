//! What a space's annotations say about its apps' restages: when they may
//! start (`restager.io/window`) and which Slack channel their owners read
//! (`restager.io/slack-channel`), each from the space or else its org.
//! Spaces and orgs come with the app listing's `include`, so this costs no
//! request.
//!
//! A window annotation that cannot be used is an error for the apps it
//! covers (they are skipped with it; the rest of the run goes on). A
//! channel annotation that is no channel id is a note, and those apps are
//! told in the operators' channel only.

use std::collections::{BTreeSet, HashMap};

use crate::cf::AppListing;
use crate::config::{SLACK_CHANNEL_ANNOTATION, WindowSettings, slack_channel_id};
use crate::window::{WINDOW_ANNOTATION, WindowError, Windows};

/// One space's windows and owners' channel.
#[derive(Debug, Clone)]
pub struct SpaceOwners {
    pub windows: Result<Windows, WindowError>,
    pub slack_channel: Option<String>,
}

impl SpaceOwners {
    /// The window as a job carries it: `None` for any time.
    pub fn job_window(&self) -> Option<String> {
        match &self.windows {
            Ok(w) if !w.is_always() => Some(w.to_string()),
            _ => None,
        }
    }
}

/// Every listed space's [`SpaceOwners`], by space guid.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    spaces: HashMap<String, SpaceOwners>,
    /// `RESTAGER_WINDOW`, for a space the listing did not include.
    default: Windows,
    /// Channel annotations that are no channel id, one per space or org.
    pub notes: Vec<String>,
}

impl Owners {
    pub fn read(listing: &AppListing, settings: &WindowSettings) -> Self {
        let mut notes = BTreeSet::new();
        let mut spaces = HashMap::new();
        for (guid, space) in &listing.spaces {
            let org = space.organization_guid().and_then(|g| listing.orgs.get(g));
            let org_name = org.map_or("?", |o| o.name.as_str());
            let annotation = |key: &str| {
                let on_space = space.metadata.annotations.get(key);
                let on_org = org.and_then(|o| o.metadata.annotations.get(key));
                (on_space.map(String::as_str), on_org.map(String::as_str))
            };
            let (space_window, org_window) = annotation(WINDOW_ANNOTATION);
            let windows = settings.for_space(space_window, org_window);
            let slack_channel = match annotation(SLACK_CHANNEL_ANNOTATION) {
                (Some(raw), _) => {
                    channel(raw, &format!("space {org_name}/{}", space.name), &mut notes)
                }
                (None, Some(raw)) => channel(raw, &format!("org {org_name}"), &mut notes),
                (None, None) => None,
            };
            spaces.insert(
                guid.clone(),
                SpaceOwners {
                    windows,
                    slack_channel,
                },
            );
        }
        Self {
            spaces,
            default: settings.windows.clone(),
            notes: notes.into_iter().collect(),
        }
    }

    /// The space's owners; a space the listing did not include gets
    /// `RESTAGER_WINDOW` and no channel.
    pub fn of_space(&self, space_guid: &str) -> SpaceOwners {
        self.spaces.get(space_guid).cloned().unwrap_or(SpaceOwners {
            windows: Ok(self.default.clone()),
            slack_channel: None,
        })
    }
}

fn channel(raw: &str, on: &str, notes: &mut BTreeSet<String>) -> Option<String> {
    let id = slack_channel_id(raw).map(str::to_string);
    if id.is_none() {
        let shown: String = raw.chars().take(40).collect();
        notes.insert(format!(
            "{on} has {SLACK_CHANNEL_ANNOTATION}=`{shown}`, which is not a Slack channel id \
             (such as C0123456789, shown at the bottom of the channel's details): its apps are told \
             in the operators' channel only"
        ));
    }
    id
}
