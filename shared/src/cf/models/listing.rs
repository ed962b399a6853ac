//! List pages (pagination, `included`) and the API root (`GET /`).

use serde::{Deserialize, Deserializer, Serialize};

use super::*;

/// `pagination` of a list response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    #[serde(default, deserialize_with = "null_default")]
    pub total_results: u64,
    #[serde(default, deserialize_with = "null_default")]
    pub total_pages: u64,
    #[serde(default)]
    pub next: Option<Link>,
}

/// The `included` block of `GET /v3/apps?include=space.organization`. A
/// space or org that does not parse is left out: the apps in it are still
/// listed, named by GUID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Included {
    #[serde(default, deserialize_with = "readable_only")]
    pub spaces: Vec<Space>,
    #[serde(default, deserialize_with = "readable_only")]
    pub organizations: Vec<Organization>,
}

pub(super) fn readable_only<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let records = Option::<Vec<Record<T>>>::deserialize(d)?.unwrap_or_default();
    Ok(records.into_iter().filter_map(Record::ok).collect())
}

/// One page of a list endpoint, each resource parsed on its own.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "T: serde::de::DeserializeOwned"))]
pub struct Page<T> {
    #[serde(default, deserialize_with = "null_default")]
    pub pagination: Pagination,
    #[serde(default = "Vec::new", deserialize_with = "null_vec")]
    pub resources: Vec<Record<T>>,
    #[serde(default)]
    pub included: Option<Included>,
}

impl<T> Page<T> {
    /// The resources that parsed, and those that did not.
    pub fn into_parts(self) -> (Vec<T>, Vec<Unreadable>, Option<Included>) {
        let (read, unreadable) = split(self.resources);
        (read, unreadable, self.included)
    }

    pub fn next_href(&self) -> Option<&str> {
        self.pagination
            .next
            .as_ref()
            .map(|l| l.href.as_str())
            .filter(|h| !h.is_empty())
    }
}

/// `GET /`: where UAA lives and which API version this is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootInfo {
    #[serde(default, deserialize_with = "null_default")]
    pub links: RootLinks,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootLinks {
    #[serde(default)]
    pub login: Option<Link>,
    #[serde(default)]
    pub uaa: Option<Link>,
    #[serde(default)]
    pub cloud_controller_v3: Option<VersionedLink>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedLink {
    pub href: String,
    #[serde(default)]
    pub meta: Option<LinkMeta>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkMeta {
    #[serde(default)]
    pub version: Option<String>,
}

impl RootInfo {
    /// Where tokens are requested: the login link, else the uaa link (as the CLI does).
    pub fn token_base(&self) -> Option<&str> {
        self.links
            .login
            .as_ref()
            .or(self.links.uaa.as_ref())
            .map(|l| l.href.as_str())
            .filter(|h| !h.is_empty())
    }

    /// The CAPI version, e.g. 3.180.0, for gating features.
    pub fn api_version(&self) -> Option<Version> {
        let raw = self
            .links
            .cloud_controller_v3
            .as_ref()?
            .meta
            .as_ref()?
            .version
            .as_deref()?;
        Version::parse(raw).ok()
    }
}
