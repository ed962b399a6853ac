//! Droplets, packages and builds: what staging reads and makes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::*;

/// One entry of `droplet.buildpacks`: what actually ran at staging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropletBuildpack {
    /// The admin buildpack name, or an obfuscated URL for git/URL buildpacks.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default)]
    pub buildpack_name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub detect_output: Option<String>,
}

impl DropletBuildpack {
    /// The reported version, if it parses as a dotted number.
    pub fn parsed_version(&self) -> Option<Version> {
        self.version.as_deref().and_then(|v| Version::parse(v).ok())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRelationship {
    #[serde(default, deserialize_with = "null_default")]
    pub app: ToOne,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Droplet {
    pub guid: String,
    pub state: DropletState,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
    /// `None` for docker droplets.
    #[serde(default)]
    pub buildpacks: Option<Vec<DropletBuildpack>>,
    #[serde(default)]
    pub stack: Option<String>,
    /// Set for docker droplets only.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub relationships: AppRelationship,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "null_map")]
    pub links: BTreeMap<String, Link>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

pub(super) fn null_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Link>, D::Error> {
    // Links such as `download` may be null; keep only those with an href.
    let raw = Option::<BTreeMap<String, Option<Link>>>::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

impl Droplet {
    pub fn app_guid(&self) -> Option<&str> {
        self.relationships.app.guid()
    }

    /// The package this droplet was staged from, from `links.package.href`.
    /// `None` for droplets without a package (e.g. `cf push --droplet`).
    pub fn package_guid(&self) -> Option<&str> {
        let href = self.links.get("package")?.href.as_str();
        let path = href.split(['?', '#']).next().unwrap_or(href);
        let guid = path.trim_end_matches('/').rsplit('/').next()?;
        (!guid.is_empty() && path.contains("/packages/")).then_some(guid)
    }

    /// The entry for an admin buildpack, matched on `name`, then on `buildpack_name`.
    pub fn buildpack(&self, name: &str) -> Option<&DropletBuildpack> {
        let bps = self.buildpacks.as_deref()?;
        bps.iter().find(|b| b.name == name).or_else(|| {
            bps.iter()
                .find(|b| b.buildpack_name.as_deref() == Some(name))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub guid: String,
    #[serde(rename = "type")]
    pub kind: PackageType,
    pub state: PackageState,
    #[serde(default, deserialize_with = "null_default")]
    pub relationships: AppRelationship,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    pub guid: String,
    pub state: BuildState,
    /// `"<ErrorId> - <description>"` when FAILED.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default)]
    pub package: Option<GuidRef>,
    /// Set once STAGED.
    #[serde(default)]
    pub droplet: Option<GuidRef>,
    #[serde(default)]
    pub staging_memory_in_mb: Option<u64>,
    #[serde(default, deserialize_with = "null_default")]
    pub relationships: AppRelationship,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Build {
    pub fn droplet_guid(&self) -> Option<&str> {
        self.droplet.as_ref().and_then(GuidRef::guid)
    }

    pub fn package_guid(&self) -> Option<&str> {
        self.package.as_ref().and_then(GuidRef::guid)
    }

    pub fn app_guid(&self) -> Option<&str> {
        self.relationships.app.guid()
    }

    /// The error id of a failed build, e.g. `NoAppDetectedError`.
    pub fn error_id(&self) -> Option<&str> {
        let e = self.error.as_deref()?.trim();
        let id = e.split(" - ").next().unwrap_or(e).trim();
        (!id.is_empty()).then_some(id)
    }
}
