//! Serde models of the Cloud Controller v3 objects restager reads.
//!
//! Deliberately tolerant: unknown fields are ignored, anything CC may omit or
//! send as `null` is an `Option` or defaults, and every state is an enum with
//! an `Other` fallback, because a new CC release adding a state must never
//! turn a whole discovery page into a parse error.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::Version;

/// Declares a string-valued state enum with an `Other(String)` fallback.
macro_rules! cf_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value this version of restager does not know.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s.as_str(),
                }
            }

            pub fn from_wire(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // `null` becomes Other("") rather than a failed page.
                let raw = Option::<String>::deserialize(d)?.unwrap_or_default();
                Ok(Self::from_wire(&raw))
            }
        }
    };
}

cf_enum!(
    /// The app's desired state.
    AppState { Started => "STARTED", Stopped => "STOPPED" }
);
cf_enum!(LifecycleType { Buildpack => "buildpack", Cnb => "cnb", Docker => "docker" });
cf_enum!(DropletState {
    AwaitingUpload => "AWAITING_UPLOAD",
    ProcessingUpload => "PROCESSING_UPLOAD",
    Staged => "STAGED",
    Copying => "COPYING",
    Failed => "FAILED",
    Expired => "EXPIRED",
});
cf_enum!(PackageType { Bits => "bits", Docker => "docker" });
cf_enum!(PackageState {
    AwaitingUpload => "AWAITING_UPLOAD",
    ProcessingUpload => "PROCESSING_UPLOAD",
    Ready => "READY",
    Failed => "FAILED",
    Copying => "COPYING",
    Expired => "EXPIRED",
});
cf_enum!(BuildState { Staging => "STAGING", Staged => "STAGED", Failed => "FAILED" });
cf_enum!(
    /// `status.value` of a deployment. CC never reports a failed deployment:
    /// a crash-looping one stays ACTIVE/DEPLOYING.
    DeploymentStatusValue { Active => "ACTIVE", Finalized => "FINALIZED" }
);
cf_enum!(DeploymentStatusReason {
    Deploying => "DEPLOYING",
    Paused => "PAUSED",
    Canceling => "CANCELING",
    Deployed => "DEPLOYED",
    Canceled => "CANCELED",
    Superseded => "SUPERSEDED",
});
cf_enum!(InstanceState {
    Running => "RUNNING",
    Starting => "STARTING",
    Crashed => "CRASHED",
    Down => "DOWN",
});
cf_enum!(BuildpackState { AwaitingUpload => "AWAITING_UPLOAD", Ready => "READY" });
cf_enum!(StackState {
    Active => "ACTIVE",
    Restricted => "RESTRICTED",
    Deprecated => "DEPRECATED",
    Disabled => "DISABLED",
});

impl Default for StackState {
    /// CC releases before stack states existed report none: those stacks are usable.
    fn default() -> Self {
        Self::Active
    }
}

/// `{"guid": "..."}`, as in `build.package` or `deployment.droplet`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidRef {
    pub guid: String,
}

/// A to-one relationship: `{"data": {"guid": ...}}`, `data` may be null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToOne {
    #[serde(default)]
    pub data: Option<GuidRef>,
}

impl ToOne {
    pub fn guid(&self) -> Option<&str> {
        self.data.as_ref().map(|d| d.guid.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// Labels and annotations. Null maps and null values are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default, deserialize_with = "string_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "string_map")]
    pub annotations: BTreeMap<String, String>,
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = Option::<BTreeMap<String, Option<String>>>::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// A timestamp that CC should send as RFC 3339; anything else becomes `None`
/// instead of failing the object.
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    Ok(raw.and_then(|s| {
        DateTime::parse_from_rfc3339(&s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }))
}

/// `null` for a list field means empty.
fn null_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleData {
    /// What the developer asked for; often empty (auto-detect).
    #[serde(default, deserialize_with = "null_vec")]
    pub buildpacks: Vec<String>,
    #[serde(default)]
    pub stack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    #[serde(rename = "type")]
    pub kind: LifecycleType,
    #[serde(default)]
    pub data: LifecycleData,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRelationships {
    #[serde(default)]
    pub space: ToOne,
    #[serde(default)]
    pub current_droplet: ToOne,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub guid: String,
    pub name: String,
    pub state: AppState,
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default)]
    pub relationships: AppRelationships,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl App {
    pub fn space_guid(&self) -> Option<&str> {
        self.relationships.space.guid()
    }

    pub fn current_droplet_guid(&self) -> Option<&str> {
        self.relationships.current_droplet.guid()
    }

    pub fn lifecycle_type(&self) -> Option<&LifecycleType> {
        self.lifecycle.as_ref().map(|l| &l.kind)
    }

    /// The configured stack (what `stacks=` filters on), not the running droplet's.
    pub fn stack(&self) -> Option<&str> {
        self.lifecycle
            .as_ref()
            .and_then(|l| l.data.stack.as_deref())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceRelationships {
    #[serde(default)]
    pub organization: ToOne,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    pub guid: String,
    pub name: String,
    #[serde(default)]
    pub relationships: SpaceRelationships,
    #[serde(default)]
    pub metadata: Metadata,
}

impl Space {
    pub fn organization_guid(&self) -> Option<&str> {
        self.relationships.organization.guid()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub guid: String,
    pub name: String,
    #[serde(default)]
    pub metadata: Metadata,
}

/// One entry of `droplet.buildpacks`: what actually ran at staging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropletBuildpack {
    /// The admin buildpack name, or an obfuscated URL for git/URL buildpacks.
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
    #[serde(default)]
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
    #[serde(default)]
    pub relationships: AppRelationship,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "null_map")]
    pub links: BTreeMap<String, Link>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

fn null_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Link>, D::Error> {
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
    #[serde(default)]
    pub relationships: AppRelationship,
    #[serde(default)]
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
    #[serde(default)]
    pub relationships: AppRelationship,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Build {
    pub fn droplet_guid(&self) -> Option<&str> {
        self.droplet.as_ref().map(|d| d.guid.as_str())
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentDetails {
    /// Only present while the deployment updater hit an error (e.g. quota).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub last_successful_healthcheck: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub last_status_change: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub value: DeploymentStatusValue,
    pub reason: DeploymentStatusReason,
    #[serde(default, deserialize_with = "null_details")]
    pub details: DeploymentDetails,
}

fn null_details<'de, D: Deserializer<'de>>(d: D) -> Result<DeploymentDetails, D::Error> {
    Ok(Option::<DeploymentDetails>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentOptions {
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    #[serde(default)]
    pub web_instances: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub guid: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub guid: String,
    pub status: DeploymentStatus,
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub options: Option<DeploymentOptions>,
    #[serde(default)]
    pub droplet: Option<GuidRef>,
    #[serde(default)]
    pub previous_droplet: Option<GuidRef>,
    #[serde(default, deserialize_with = "null_vec")]
    pub new_processes: Vec<ProcessRef>,
    #[serde(default)]
    pub relationships: AppRelationship,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Deployment {
    pub fn is_active(&self) -> bool {
        self.status.value == DeploymentStatusValue::Active
    }

    pub fn is_finalized(&self) -> bool {
        self.status.value == DeploymentStatusValue::Finalized
    }

    /// FINALIZED/DEPLOYED: the only successful end.
    pub fn is_deployed(&self) -> bool {
        self.is_finalized() && self.status.reason == DeploymentStatusReason::Deployed
    }

    pub fn droplet_guid(&self) -> Option<&str> {
        self.droplet.as_ref().map(|d| d.guid.as_str())
    }

    pub fn previous_droplet_guid(&self) -> Option<&str> {
        self.previous_droplet.as_ref().map(|d| d.guid.as_str())
    }

    pub fn app_guid(&self) -> Option<&str> {
        self.relationships.app.guid()
    }

    /// The updater's last error (e.g. "memory quota_exceeded"), worth surfacing
    /// even while the deployment is still ACTIVE.
    pub fn error(&self) -> Option<&str> {
        self.status
            .details
            .error
            .as_deref()
            .filter(|e| !e.trim().is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub guid: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub instances: u32,
    #[serde(default)]
    pub memory_in_mb: Option<u64>,
    #[serde(default)]
    pub relationships: AppRelationship,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
}

/// One instance from `GET /v3/processes/:guid/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStats {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub index: u32,
    pub state: InstanceState,
    /// Readiness; older CC releases omit it, meaning RUNNING implies routable.
    #[serde(default)]
    pub routable: Option<bool>,
    #[serde(default)]
    pub uptime: Option<u64>,
    #[serde(default)]
    pub details: Option<String>,
}

impl InstanceStats {
    /// RUNNING and, where CC reports readiness, routable.
    pub fn is_routable(&self) -> bool {
        self.state == InstanceState::Running && self.routable.unwrap_or(true)
    }
}

/// The `resources` of a process stats response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStats {
    #[serde(default, deserialize_with = "null_vec")]
    pub resources: Vec<InstanceStats>,
}

impl ProcessStats {
    pub fn running(&self) -> usize {
        self.resources
            .iter()
            .filter(|i| i.state == InstanceState::Running)
            .count()
    }

    pub fn routable(&self) -> usize {
        self.resources.iter().filter(|i| i.is_routable()).count()
    }

    /// Every instance CRASHED (and there is at least one).
    pub fn all_crashed(&self) -> bool {
        !self.resources.is_empty()
            && self
                .resources
                .iter()
                .all(|i| i.state == InstanceState::Crashed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buildpack {
    #[serde(default)]
    pub guid: Option<String>,
    pub name: String,
    #[serde(default)]
    pub stack: Option<String>,
    /// Carries the version: `ruby_buildpack-cflinuxfs4-v1.10.3.zip`.
    #[serde(default)]
    pub filename: Option<String>,
    pub state: BuildpackState,
    #[serde(default)]
    pub position: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub locked: bool,
    #[serde(default)]
    pub lifecycle: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Changes when the bits are re-uploaded.
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

fn yes() -> bool {
    true
}

impl Buildpack {
    /// The version in `filename`; the buildpack object has no version field.
    pub fn version(&self) -> Option<Version> {
        self.filename.as_deref().and_then(version_from_filename)
    }
}

/// Parses the version out of an uploaded buildpack's file name, e.g.
/// `python_buildpack-cflinuxfs3-v1.7.43.zip` → 1.7.43. The version is the
/// last `-`-separated segment that starts with `v` or a digit and parses.
pub fn version_from_filename(filename: &str) -> Option<Version> {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let stem = [".zip", ".tgz", ".tar.gz"]
        .iter()
        .find_map(|ext| base.strip_suffix(ext))
        .unwrap_or(base);
    stem.rsplit(['-', '_']).find_map(|segment| {
        let digits = segment
            .strip_prefix('v')
            .or_else(|| segment.strip_prefix('V'))
            .unwrap_or(segment);
        if !digits.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        // Drop build metadata such as `+1234` before parsing.
        let core = digits.split(['+']).next().unwrap_or(digits);
        Version::parse(core).ok()
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    #[serde(default)]
    pub guid: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub state: StackState,
    #[serde(default)]
    pub state_reason: Option<String>,
    #[serde(default)]
    pub default: bool,
}

/// `pagination` of a list response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    #[serde(default)]
    pub total_results: u64,
    #[serde(default)]
    pub total_pages: u64,
    #[serde(default)]
    pub next: Option<Link>,
}

/// The `included` block of `GET /v3/apps?include=space.organization`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Included {
    #[serde(default, deserialize_with = "null_vec")]
    pub spaces: Vec<Space>,
    #[serde(default, deserialize_with = "null_vec")]
    pub organizations: Vec<Organization>,
}

/// One page of a list endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    #[serde(default)]
    pub pagination: Pagination,
    #[serde(default = "Vec::new", deserialize_with = "null_vec")]
    pub resources: Vec<T>,
    #[serde(default)]
    pub included: Option<Included>,
}

impl<T> Page<T> {
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
    #[serde(default)]
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
