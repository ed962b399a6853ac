//! Serde models of the Cloud Controller v3 objects restager reads.
//!
//! Deliberately tolerant: unknown fields are ignored, anything CC may omit or
//! send as `null` is an `Option` or defaults, and every state is an enum with
//! an `Other` fallback, because a new CC release adding a state must never
//! turn a whole discovery page into a parse error. List pages parse each
//! resource on its own ([`Record`]), so one resource that still does not fit
//! is reported for itself instead of failing the page.
//!
//! Shapes follow Cloud Controller's own presenters (`app/presenters/v3/` in
//! cloudfoundry/cloud_controller_ng); the conformance corpus in
//! `tests/support/corpus/cc/` holds real bodies with their provenance.
//!
//! This file holds the state enums, the references and metadata every object
//! shares, and the lenient serde helpers; the objects are in submodules by
//! kind (`apps`, `staging`, `deployments`, `processes`, `quotas`,
//! `platform`, `listing`), all re-exported here.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::record::Unreadable;
use super::record::{Record, split};
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

/// `{"guid": "..."}`, as in `build.package` or `deployment.droplet`. The
/// guid itself can be null: `DeploymentPresenter` renders a deployment with
/// no previous droplet as `"previous_droplet": {"guid": null}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidRef {
    #[serde(default)]
    pub guid: Option<String>,
}

impl GuidRef {
    pub fn new(guid: impl Into<String>) -> Self {
        Self {
            guid: Some(guid.into()),
        }
    }

    /// The guid, unless null or empty.
    pub fn guid(&self) -> Option<&str> {
        self.guid.as_deref().filter(|g| !g.is_empty())
    }
}

/// A to-one relationship: `{"data": {"guid": ...}}`. Both `data` and the
/// guid inside it may be null: the real `AppPresenter` renders an app that
/// never staged as `"current_droplet": {"data": {"guid": null}}`
/// (app/presenters/v3/app_presenter.rb), where older code sent `data: null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToOne {
    #[serde(default)]
    pub data: Option<GuidRef>,
}

impl ToOne {
    pub fn to(guid: impl Into<String>) -> Self {
        Self {
            data: Some(GuidRef::new(guid)),
        }
    }

    pub fn guid(&self) -> Option<&str> {
        self.data.as_ref().and_then(GuidRef::guid)
    }
}

/// What an app object says about its current droplet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentDroplet<'a> {
    /// This droplet is live.
    Guid(&'a str),
    /// The app has none (never staged, or its droplet was deleted).
    None,
    /// The app object has no `current_droplet` relationship at all, as on
    /// Cloud Controllers before it joined the app presenter: the droplet
    /// must be asked for separately.
    NotReported,
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

/// `null` for a field whose absence has an obvious meaning (0, false, "")
/// means the same as leaving it out.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `null` for a list field means empty.
fn null_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

mod apps;
mod deployments;
mod listing;
mod platform;
mod processes;
mod quotas;
mod staging;

pub use apps::*;
pub use deployments::*;
pub use listing::*;
pub use platform::*;
pub use processes::*;
pub use quotas::*;
pub use staging::*;

#[cfg(test)]
mod tests {
    //! Object shapes copied from /work/shared/reference/cf-api.md sections
    //! 1.8, 1.9, 2.1–2.3 (themselves from the CC v3 API docs).

    use super::*;
    use serde_json::json;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("valid version")
    }

    #[test]
    fn buildpack_versions_come_from_the_filename() {
        let cases = [
            ("ruby_buildpack-cflinuxfs4-v1.10.3.zip", "1.10.3"),
            ("python_buildpack-cflinuxfs3-v1.7.43.zip", "1.7.43"),
            ("go_buildpack-cached-cflinuxfs4-v1.10.1.zip", "1.10.1"),
            ("java-buildpack-offline-v4.50.zip", "4.50"),
            ("binary_buildpack-v1.1.3.zip", "1.1.3"),
            ("nodejs_buildpack-cflinuxfs4-v1.8.30+build.7.zip", "1.8.30"),
        ];
        for (file, want) in cases {
            assert_eq!(version_from_filename(file), Some(v(want)), "{file}");
        }
        for file in ["custom.zip", "staticfile_buildpack-cflinuxfs4.zip", ""] {
            assert_eq!(version_from_filename(file), None, "{file}");
        }
        let bp: Buildpack = serde_json::from_value(json!({
            "guid":"fd35","name":"ruby_buildpack","state":"READY",
            "filename":"ruby_buildpack-cflinuxfs4-v1.10.3.zip","stack":"cflinuxfs4",
            "position":42,"lifecycle":"buildpack","enabled":true,"locked":false,
            "updated_at":"2024-01-02T03:04:05Z","some_new_field":{"x":1}
        }))
        .expect("buildpack parses");
        assert_eq!(bp.version(), Some(v("1.10.3")));
        assert_eq!(bp.state, BuildpackState::Ready);
        assert!(bp.updated_at.is_some());
    }

    #[test]
    fn droplets_parse_with_buildpacks_and_package_link() {
        let d: Droplet = serde_json::from_value(json!({
            "guid": "585bc3c1", "state": "STAGED", "error": null,
            "lifecycle": { "type": "buildpack", "data": {} },
            "execution_metadata": "", "process_types": { "web": "bundle exec rackup" },
            "checksum": { "type": "sha256", "value": "e3b0" },
            "buildpacks": [ { "name": "ruby_buildpack", "detect_output": "ruby 1.6.14",
                              "buildpack_name": "ruby", "version": "1.1.1." } ],
            "stack": "cflinuxfs4", "image": null,
            "created_at": "2016-03-28T23:39:34Z", "updated_at": "2016-03-28T23:39:47Z",
            "relationships": { "app": { "data": { "guid": "7b34" } } },
            "metadata": { "labels": {}, "annotations": {} },
            "links": {
                "self": { "href": "https://api.example.org/v3/droplets/585bc3c1" },
                "package": { "href": "https://api.example.org/v3/packages/8222f76a-9e09-4360-b3aa-1ed329945e92" },
                "assign_current_droplet": { "href": "https://api.example.org/v3/apps/7b34/relationships/current_droplet", "method": "PATCH" },
                "download": null
            }
        }))
        .expect("droplet parses");
        assert_eq!(d.state, DropletState::Staged);
        assert_eq!(
            d.package_guid(),
            Some("8222f76a-9e09-4360-b3aa-1ed329945e92")
        );
        assert_eq!(d.app_guid(), Some("7b34"));
        let bp = d.buildpack("ruby_buildpack").expect("by name");
        assert_eq!(bp.parsed_version(), Some(v("1.1.1")));
        assert!(
            d.buildpack("ruby").is_some(),
            "falls back to buildpack_name"
        );
        assert_eq!(d.stack.as_deref(), Some("cflinuxfs4"));
    }

    #[test]
    fn docker_droplets_have_no_buildpacks_or_package() {
        let d: Droplet = serde_json::from_value(json!({
            "guid": "d1", "state": "STAGED", "buildpacks": null, "stack": null,
            "image": "nginx:latest", "links": {}
        }))
        .expect("docker droplet parses");
        assert!(d.buildpacks.is_none());
        assert_eq!(d.image.as_deref(), Some("nginx:latest"));
        assert_eq!(d.package_guid(), None);
        assert!(d.buildpack("ruby_buildpack").is_none());
    }

    #[test]
    fn unknown_states_fall_back_instead_of_failing() {
        let app: App = serde_json::from_value(json!({
            "guid": "a", "name": "n", "state": "HIBERNATING",
            "lifecycle": { "type": "kpack", "data": { "buildpacks": null } },
            "relationships": { "space": { "data": { "guid": "s" } }, "current_droplet": { "data": null } },
            "metadata": { "labels": { "team": "x", "gone": null }, "annotations": null }
        }))
        .expect("app parses");
        assert_eq!(app.state, AppState::Other("HIBERNATING".into()));
        assert_eq!(
            app.lifecycle_type(),
            Some(&LifecycleType::Other("kpack".into()))
        );
        assert_eq!(app.current_droplet_guid(), None);
        assert_eq!(app.space_guid(), Some("s"));
        assert_eq!(app.metadata.labels.len(), 1);
        assert_eq!(AppState::from_wire("STARTED"), AppState::Started);
        assert_eq!(
            serde_json::to_value(&app.state).expect("serializes"),
            json!("HIBERNATING")
        );
    }

    #[test]
    fn apps_from_the_docs_example() {
        let app: App = serde_json::from_value(json!({
            "guid": "1cb006ee", "name": "my_app", "state": "STOPPED",
            "created_at": "2016-03-17T21:41:30Z", "updated_at": "2016-03-18T11:32:30Z",
            "lifecycle": { "type": "buildpack", "data": { "buildpacks": ["java_buildpack"], "stack": "cflinuxfs4" } },
            "relationships": { "space": { "data": { "guid": "2f35" } },
                               "current_droplet": { "data": { "guid": "585b" } } },
            "metadata": { "labels": {}, "annotations": {} }, "links": { "self": { "href": "x" } }
        }))
        .expect("app parses");
        assert_eq!(app.state, AppState::Stopped);
        assert_eq!(app.stack(), Some("cflinuxfs4"));
        assert_eq!(app.current_droplet_guid(), Some("585b"));
    }

    #[test]
    fn deployments_parse_status_details_and_droplets() {
        let d: Deployment = serde_json::from_value(json!({
            "guid": "59c3d133", "state": "DEPLOYING",
            "created_at": "2018-04-25T22:42:10Z", "updated_at": "2018-04-25T22:42:10Z",
            "status": { "value": "ACTIVE", "reason": "DEPLOYING",
                        "details": { "last_successful_healthcheck": "2018-04-25T22:42:10Z",
                                     "last_status_change": "2018-04-25T22:42:10Z",
                                     "error": "memory quota_exceeded" } },
            "strategy": "rolling", "options": { "max_in_flight": 1 },
            "droplet": { "guid": "44ccfa61" }, "previous_droplet": { "guid": "cc6bc315" },
            "new_processes": [ { "guid": "fd5d3e60", "type": "web" } ],
            "revision": null,
            "relationships": { "app": { "data": { "guid": "305cea31" } } },
            "metadata": { "labels": { "restager.io/run": "r1" }, "annotations": {} },
            "links": { "cancel": { "href": "x/actions/cancel", "method": "POST" } }
        }))
        .expect("deployment parses");
        assert!(d.is_active() && !d.is_deployed());
        assert_eq!(d.error(), Some("memory quota_exceeded"));
        assert_eq!(d.droplet_guid(), Some("44ccfa61"));
        assert_eq!(d.previous_droplet_guid(), Some("cc6bc315"));
        assert_eq!(d.options.and_then(|o| o.max_in_flight), Some(1));
        assert!(d.status.details.last_successful_healthcheck.is_some());

        let done: Deployment = serde_json::from_value(json!({
            "guid": "g", "status": { "value": "FINALIZED", "reason": "DEPLOYED", "details": {} }
        }))
        .expect("minimal deployment parses");
        assert!(done.is_deployed());
        assert_eq!(done.error(), None);
    }

    #[test]
    fn builds_expose_error_id_and_droplet() {
        let b: Build = serde_json::from_value(json!({
            "guid": "585bc3c1", "state": "FAILED",
            "error": "NoAppDetectedError - An app was not successfully detected by any available buildpack",
            "lifecycle": { "type": "buildpack", "data": { "buildpacks": ["ruby_buildpack"], "stack": "cflinuxfs4" } },
            "package": { "guid": "8e4da443" }, "droplet": null,
            "created_by": { "guid": "u", "name": "bill", "email": "bill@example.com" },
            "relationships": { "app": { "data": { "guid": "7b34f1cf" } } },
            "metadata": { "labels": {}, "annotations": {} }
        }))
        .expect("build parses");
        assert_eq!(b.state, BuildState::Failed);
        assert_eq!(b.error_id(), Some("NoAppDetectedError"));
        assert_eq!(b.droplet_guid(), None);
        assert_eq!(b.app_guid(), Some("7b34f1cf"));
    }

    #[test]
    fn process_stats_count_routable_instances() {
        let s: ProcessStats = serde_json::from_value(json!({ "resources": [
            { "type": "web", "index": 0, "state": "RUNNING", "routable": true, "uptime": 10 },
            { "type": "web", "index": 1, "state": "RUNNING", "routable": false },
            { "type": "web", "index": 2, "state": "STARTING" },
            { "type": "web", "index": 3, "state": "RUNNING" }
        ]}))
        .expect("stats parse");
        assert_eq!(s.running(), 3);
        assert_eq!(s.routable(), 2);
        assert!(!s.all_crashed());
    }

    #[test]
    fn pages_carry_next_links_and_included_objects() {
        let p: Page<App> = serde_json::from_value(json!({
            "pagination": { "total_results": 3, "total_pages": 3,
                            "first": { "href": "https://api.example.org/v3/apps?page=1&per_page=1" },
                            "last": { "href": "https://api.example.org/v3/apps?page=3&per_page=1" },
                            "next": { "href": "https://api.example.org/v3/apps?page=2&per_page=1" },
                            "previous": null },
            "resources": [ { "guid": "a", "name": "n", "state": "STARTED" } ],
            "included": { "spaces": [ { "guid": "s", "name": "dev",
                "relationships": { "organization": { "data": { "guid": "o" } } } } ],
                "organizations": [ { "guid": "o", "name": "org" } ] }
        }))
        .expect("page parses");
        assert_eq!(
            p.next_href(),
            Some("https://api.example.org/v3/apps?page=2&per_page=1")
        );
        let inc = p.included.clone().expect("included");
        assert_eq!(inc.spaces[0].organization_guid(), Some("o"));
        assert_eq!(inc.organizations[0].name, "org");
        let last: Page<Stack> = serde_json::from_value(json!({
            "pagination": { "next": null }, "resources": [ { "name": "cflinuxfs4" } ]
        }))
        .expect("page parses");
        assert_eq!(last.next_href(), None);
        let (stacks, unreadable, _) = last.into_parts();
        assert!(unreadable.is_empty());
        assert_eq!(stacks[0].state, StackState::Active);
    }

    #[test]
    fn root_info_prefers_the_login_link() {
        let r: RootInfo = serde_json::from_value(json!({ "links": {
            "login": { "href": "https://login.sys" }, "uaa": { "href": "https://uaa.sys" },
            "cloud_controller_v3": { "href": "https://api.sys/v3", "meta": { "version": "3.180.0" } }
        }}))
        .expect("root parses");
        assert_eq!(r.token_base(), Some("https://login.sys"));
        assert_eq!(r.api_version(), Some(v("3.180.0")));
        let uaa_only: RootInfo = serde_json::from_value(
            json!({ "links": { "login": null, "uaa": { "href": "https://uaa.sys" } } }),
        )
        .expect("root parses");
        assert_eq!(uaa_only.token_base(), Some("https://uaa.sys"));
    }
}
