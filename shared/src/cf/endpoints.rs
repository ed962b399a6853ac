//! Typed Cloud Controller endpoints used by discovery and the restage engine.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use url::form_urlencoded;

use super::client::{CfClient, Listed};
use super::error::CfError;
use super::models::{
    App, AuditEvent, Build, BuildState, Buildpack, Deployment, DeploymentStatusValue, Droplet,
    Organization, Package, Process, ProcessStats, Space, Stack,
};
use super::record::Unreadable;

/// Filters for `GET /v3/apps`. Empty lists mean "no filter".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppQuery {
    /// `buildpack`, `cnb` or `docker`.
    pub lifecycle_type: Option<String>,
    /// Matches the app's configured stack (case-sensitive).
    pub stacks: Vec<String>,
    pub space_guids: Vec<String>,
    pub org_guids: Vec<String>,
    pub guids: Vec<String>,
    pub names: Vec<String>,
    pub label_selector: Option<String>,
}

/// Apps with the spaces and orgs they live in (from `include=space.organization`).
#[derive(Debug, Clone, Default)]
pub struct AppListing {
    pub apps: Vec<App>,
    /// Apps in the listing whose object could not be read, each with why.
    pub unreadable: Vec<Unreadable>,
    /// By GUID.
    pub spaces: HashMap<String, Space>,
    /// By GUID.
    pub orgs: HashMap<String, Organization>,
}

impl AppListing {
    pub fn space_of(&self, app: &App) -> Option<&Space> {
        self.spaces.get(app.space_guid()?)
    }

    pub fn org_of(&self, app: &App) -> Option<&Organization> {
        self.orgs.get(self.space_of(app)?.organization_guid()?)
    }
}

/// What `POST /v3/deployments` should create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentRequest {
    pub app_guid: String,
    /// `None`: redeploy the current droplet (a rolling restart).
    pub droplet_guid: Option<String>,
    /// `Some(steps)` for a canary (instance weights in percent; empty: one
    /// pause, as CC before 3.189 does); `None` for rolling.
    pub canary_steps: Option<Vec<u32>>,
    pub max_in_flight: u32,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Builds `path?k=v&...`, leaving out empty values and joining lists with commas.
pub(super) struct Query {
    path: String,
    ser: form_urlencoded::Serializer<'static, String>,
}

impl Query {
    pub(super) fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            ser: form_urlencoded::Serializer::new(String::new()),
        }
    }

    pub(super) fn param(mut self, key: &str, value: impl AsRef<str>) -> Self {
        let v = value.as_ref();
        if !v.is_empty() {
            self.ser.append_pair(key, v);
        }
        self
    }

    fn opt(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.param(key, v),
            None => self,
        }
    }

    pub(super) fn list<S: AsRef<str>>(self, key: &str, values: &[S]) -> Self {
        let joined = values
            .iter()
            .map(|v| v.as_ref())
            .collect::<Vec<_>>()
            .join(",");
        self.param(key, joined)
    }

    pub(super) fn build(mut self) -> String {
        let q = self.ser.finish();
        if q.is_empty() {
            self.path
        } else {
            format!("{}?{q}", self.path)
        }
    }
}

fn labels_metadata(labels: &BTreeMap<String, String>) -> Option<Value> {
    (!labels.is_empty()).then(|| json!({ "labels": labels }))
}

impl CfClient {
    pub(super) fn per_page(&self) -> String {
        self.options().per_page.clamp(1, 5000).to_string()
    }

    /// `GET /v3/apps` with `include=space.organization`, across all pages.
    /// An explicit `guids` filter longer than `guid_batch_size` is split into
    /// several listings (merged) to keep URLs short.
    pub async fn list_apps(&self, query: &AppQuery) -> Result<AppListing, CfError> {
        let batch = self.options().guid_batch_size.max(1);
        let guid_batches: Vec<&[String]> = if query.guids.is_empty() {
            vec![&[]]
        } else {
            query.guids.chunks(batch).collect()
        };
        let urls: Vec<String> = guid_batches
            .into_iter()
            .map(|guids| {
                Query::new("/v3/apps")
                    .opt("lifecycle_type", query.lifecycle_type.as_deref())
                    .list("stacks", &query.stacks)
                    .list("space_guids", &query.space_guids)
                    .list("organization_guids", &query.org_guids)
                    .list("guids", guids)
                    .list("names", &query.names)
                    .opt("label_selector", query.label_selector.as_deref())
                    .param("include", "space.organization")
                    // A stable order limits skips and duplicates while apps change.
                    .param("order_by", "created_at")
                    .param("per_page", self.per_page())
                    .build()
            })
            .collect();
        let parts: Vec<Listed<App>> = futures::stream::iter(urls)
            .map(|url| async move { self.list_records::<App>(&url).await })
            .buffered(self.options().batch_concurrency.max(1))
            .try_collect()
            .await?;
        let mut listing = AppListing::default();
        // Offset pagination can repeat an app when others are created meanwhile.
        let mut seen = HashSet::new();
        for Listed {
            items: apps,
            unreadable,
            included,
        } in parts
        {
            listing
                .apps
                .extend(apps.into_iter().filter(|a| seen.insert(a.guid.clone())));
            listing.unreadable.extend(
                unreadable
                    .into_iter()
                    .filter(|u| u.guid.as_ref().is_none_or(|g| seen.insert(g.clone()))),
            );
            listing
                .spaces
                .extend(included.spaces.into_iter().map(|s| (s.guid.clone(), s)));
            listing.orgs.extend(
                included
                    .organizations
                    .into_iter()
                    .map(|o| (o.guid.clone(), o)),
            );
        }
        Ok(listing)
    }

    pub async fn get_app(&self, app_guid: &str) -> Result<App, CfError> {
        self.get(&format!("/v3/apps/{}", seg(app_guid))).await
    }

    /// Droplets by GUID, in batches of `guid_batch_size` fetched concurrently
    /// (at most `batch_concurrency` at once). Unknown GUIDs are simply absent;
    /// a droplet that cannot be read is an error (see
    /// [`list_droplet_records_by_guids`](Self::list_droplet_records_by_guids)).
    pub async fn list_droplets_by_guids(&self, guids: &[String]) -> Result<Vec<Droplet>, CfError> {
        let (droplets, unreadable) = self.list_droplet_records_by_guids(guids).await?;
        match unreadable.into_iter().next() {
            None => Ok(droplets),
            Some(bad) => Err(CfError::Unreadable {
                request: "GET /v3/droplets?guids=…".to_string(),
                detail: bad.to_string(),
            }),
        }
    }

    /// Like [`list_droplets_by_guids`](Self::list_droplets_by_guids), with the
    /// droplets that could not be read returned beside the others.
    pub async fn list_droplet_records_by_guids(
        &self,
        guids: &[String],
    ) -> Result<(Vec<Droplet>, Vec<Unreadable>), CfError> {
        let mut seen = HashSet::new();
        let unique: Vec<&str> = guids
            .iter()
            .map(String::as_str)
            .filter(|g| !g.is_empty() && seen.insert(*g))
            .collect();
        if unique.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let batch = self.options().guid_batch_size.max(1);
        let per_page = self.per_page();
        let urls: Vec<String> = unique
            .chunks(batch)
            .map(|chunk| {
                Query::new("/v3/droplets")
                    .list("guids", chunk)
                    .param("per_page", &per_page)
                    .build()
            })
            .collect();
        let batches: Vec<Listed<Droplet>> = futures::stream::iter(urls)
            .map(|url| async move { self.list_records::<Droplet>(&url).await })
            .buffer_unordered(self.options().batch_concurrency.max(1))
            .try_collect()
            .await?;
        let mut droplets = Vec::new();
        let mut unreadable = Vec::new();
        for b in batches {
            droplets.extend(b.items);
            unreadable.extend(b.unreadable);
        }
        Ok((droplets, unreadable))
    }

    pub async fn get_droplet(&self, droplet_guid: &str) -> Result<Droplet, CfError> {
        self.get(&format!("/v3/droplets/{}", seg(droplet_guid)))
            .await
    }

    /// The app's current droplet; `None` when it has none (404).
    pub async fn get_current_droplet(&self, app_guid: &str) -> Result<Option<Droplet>, CfError> {
        self.get_optional(&format!("/v3/apps/{}/droplets/current", seg(app_guid)))
            .await
    }

    pub async fn get_package(&self, package_guid: &str) -> Result<Package, CfError> {
        self.get(&format!("/v3/packages/{}", seg(package_guid)))
            .await
    }

    /// Installed buildpacks in position order. One that cannot be read is
    /// logged and left out: the others still say what is installed.
    pub async fn list_buildpacks(&self) -> Result<Vec<Buildpack>, CfError> {
        let url = Query::new("/v3/buildpacks")
            .param("order_by", "position")
            .param("per_page", self.per_page())
            .build();
        self.list_readable(&url, "buildpack").await
    }

    /// Installed stacks; like buildpacks, an unreadable one is logged and left out.
    pub async fn list_stacks(&self) -> Result<Vec<Stack>, CfError> {
        let url = Query::new("/v3/stacks")
            .param("per_page", self.per_page())
            .build();
        self.list_readable(&url, "stack").await
    }

    async fn list_readable<T>(&self, url: &str, what: &str) -> Result<Vec<T>, CfError>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        let listed = self.list_records::<T>(url).await?;
        for bad in &listed.unreadable {
            tracing::warn!(%bad, "left out a {what} Cloud Controller listed");
        }
        Ok(listed.items)
    }

    /// `POST /v3/builds` for a package, with the app's own lifecycle. Never
    /// retried after it may have reached CC: a repeat would answer
    /// StagingInProgress (see [`CfError::is_staging_in_progress`]).
    pub async fn create_build(
        &self,
        package_guid: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Build, CfError> {
        let mut body = json!({ "package": { "guid": package_guid } });
        if let (Some(meta), Some(obj)) = (labels_metadata(labels), body.as_object_mut()) {
            obj.insert("metadata".into(), meta);
        }
        self.post("/v3/builds", &body).await
    }

    pub async fn get_build(&self, build_guid: &str) -> Result<Build, CfError> {
        self.get(&format!("/v3/builds/{}", seg(build_guid))).await
    }

    /// Builds of an app, newest first, optionally by state and label selector.
    pub async fn list_builds(
        &self,
        app_guid: &str,
        states: &[BuildState],
        label_selector: Option<&str>,
    ) -> Result<Vec<Build>, CfError> {
        let states: Vec<&str> = states.iter().map(BuildState::as_str).collect();
        let url = Query::new("/v3/builds")
            .param("app_guids", app_guid)
            .list("states", &states)
            .opt("label_selector", label_selector)
            .param("order_by", "-created_at")
            .param("per_page", self.per_page())
            .build();
        self.list_all(&url).await
    }

    /// `POST /v3/deployments` with the rolling strategy. Without a droplet
    /// CC redeploys the current one (a rolling restart). Never retried after
    /// it may have reached CC: a second deployment would supersede the first.
    /// `max_in_flight` is sent only where CC accepts deployment options
    /// (see [`Capabilities::max_in_flight_note`](super::Capabilities::max_in_flight_note)).
    pub async fn create_deployment(
        &self,
        app_guid: &str,
        droplet_guid: Option<&str>,
        max_in_flight: u32,
        labels: &BTreeMap<String, String>,
    ) -> Result<Deployment, CfError> {
        self.create_deployment_as(&DeploymentRequest {
            app_guid: app_guid.to_string(),
            droplet_guid: droplet_guid.map(str::to_string),
            canary_steps: None,
            max_in_flight,
            labels: labels.clone(),
            annotations: BTreeMap::new(),
        })
        .await
    }

    /// `POST /v3/deployments` as `request` says. Options CC does not accept
    /// at its version are left out (`max_in_flight` before 3.173, canary
    /// steps before 3.189); whether a canary is possible at all is the
    /// caller's decision ([`Capabilities::canary`](super::Capabilities::canary)).
    pub async fn create_deployment_as(
        &self,
        request: &DeploymentRequest,
    ) -> Result<Deployment, CfError> {
        let caps = self.capabilities().await?;
        let strategy = if request.canary_steps.is_some() {
            "canary"
        } else {
            "rolling"
        };
        let mut body = json!({
            "strategy": strategy,
            "relationships": { "app": { "data": { "guid": request.app_guid } } },
        });
        let mut options = serde_json::Map::new();
        if caps.deployment_options() {
            options.insert("max_in_flight".into(), json!(request.max_in_flight.max(1)));
        }
        if let Some(steps) = request
            .canary_steps
            .as_ref()
            .filter(|s| !s.is_empty() && caps.canary_steps())
        {
            let steps: Vec<Value> = steps
                .iter()
                .map(|w| json!({ "instance_weight": w }))
                .collect();
            options.insert("canary".into(), json!({ "steps": steps }));
        }
        if let Some(obj) = body.as_object_mut() {
            if !options.is_empty() {
                obj.insert("options".into(), Value::Object(options));
            }
            if let Some(d) = &request.droplet_guid {
                obj.insert("droplet".into(), json!({ "guid": d }));
            }
            let mut metadata = serde_json::Map::new();
            if !request.labels.is_empty() {
                metadata.insert("labels".into(), json!(request.labels));
            }
            if !request.annotations.is_empty() {
                metadata.insert("annotations".into(), json!(request.annotations));
            }
            if !metadata.is_empty() {
                obj.insert("metadata".into(), Value::Object(metadata));
            }
        }
        self.post("/v3/deployments", &body).await
    }

    pub async fn get_deployment(&self, deployment_guid: &str) -> Result<Deployment, CfError> {
        self.get(&format!("/v3/deployments/{}", seg(deployment_guid)))
            .await
    }

    /// Deployments of an app, newest first, optionally by status value and label selector.
    pub async fn list_deployments(
        &self,
        app_guid: &str,
        status_values: &[DeploymentStatusValue],
        label_selector: Option<&str>,
    ) -> Result<Vec<Deployment>, CfError> {
        let values: Vec<&str> = status_values
            .iter()
            .map(DeploymentStatusValue::as_str)
            .collect();
        let url = Query::new("/v3/deployments")
            .param("app_guids", app_guid)
            .list("status_values", &values)
            .opt("label_selector", label_selector)
            .param("order_by", "-created_at")
            .param("per_page", self.per_page())
            .build();
        self.list_all(&url).await
    }

    /// `audit.app.process.crash` events of an app after `since` (CC's
    /// `created_ats[gt]`, whole seconds only: a fractional timestamp is a 400),
    /// oldest first.
    pub async fn list_crash_events(
        &self,
        app_guid: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<AuditEvent>, CfError> {
        self.list_crash_events_of(&[app_guid], since).await
    }

    /// `audit.app.process.crash` events of any of `app_guids` after `since`,
    /// oldest first: one request per page whatever the number of apps (the
    /// guids travel as one comma-separated `target_guids`, in chunks that
    /// keep the URL short).
    pub async fn list_crash_events_of(
        &self,
        app_guids: &[&str],
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<AuditEvent>, CfError> {
        let mut events = Vec::new();
        for chunk in app_guids.chunks(self.options().guid_batch_size.max(1)) {
            events.extend(self.crash_events_page(&chunk.join(","), since).await?);
        }
        events.sort_by_key(|e| e.created_at);
        Ok(events)
    }

    async fn crash_events_page(
        &self,
        target_guids: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<AuditEvent>, CfError> {
        let url = Query::new("/v3/audit_events")
            .param("types", "audit.app.process.crash")
            .param("target_guids", target_guids)
            .param(
                "created_ats[gt]",
                since.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            )
            .param("order_by", "created_at")
            .param("per_page", self.per_page())
            .build();
        self.list_all(&url).await
    }

    /// `POST /v3/deployments/:guid/actions/continue`: a PAUSED canary goes
    /// to its next step; 422 when it is not PAUSED.
    pub async fn continue_deployment(&self, deployment_guid: &str) -> Result<(), CfError> {
        self.post_action(&format!(
            "/v3/deployments/{}/actions/continue",
            seg(deployment_guid)
        ))
        .await
    }

    /// `PATCH /v3/deployments/:guid` with metadata annotations (the only
    /// thing DeploymentUpdateMessage accepts): a note on the deployment
    /// itself that a later delivery reads.
    pub async fn annotate_deployment(
        &self,
        deployment_guid: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Result<Deployment, CfError> {
        self.patch(
            &format!("/v3/deployments/{}", seg(deployment_guid)),
            &json!({ "metadata": { "annotations": annotations } }),
        )
        .await
    }

    /// `POST /v3/deployments/:guid/actions/cancel`; 422 once FINALIZED.
    pub async fn cancel_deployment(&self, deployment_guid: &str) -> Result<(), CfError> {
        self.post_action(&format!(
            "/v3/deployments/{}/actions/cancel",
            seg(deployment_guid)
        ))
        .await
    }

    pub async fn list_processes(&self, app_guid: &str) -> Result<Vec<Process>, CfError> {
        let url = Query::new(format!("/v3/apps/{}/processes", seg(app_guid)))
            .param("per_page", self.per_page())
            .build();
        self.list_all(&url).await
    }

    /// `GET /v3/processes/:guid/stats`: per-instance state and readiness.
    pub async fn process_stats(&self, process_guid: &str) -> Result<ProcessStats, CfError> {
        self.get(&format!("/v3/processes/{}/stats", seg(process_guid)))
            .await
    }
}

/// A GUID as one path segment; anything that could change the path is escaped.
fn seg(guid: &str) -> String {
    form_urlencoded::byte_serialize(guid.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_skip_empty_filters_and_encode_values() {
        let url = Query::new("/v3/apps")
            .opt("lifecycle_type", Some("buildpack"))
            .list::<String>("stacks", &[])
            .list("guids", &["a", "b"])
            .opt("label_selector", Some("team=x,env!=prod"))
            .build();
        assert_eq!(
            url,
            "/v3/apps?lifecycle_type=buildpack&guids=a%2Cb&label_selector=team%3Dx%2Cenv%21%3Dprod"
        );
        assert_eq!(Query::new("/v3/stacks").build(), "/v3/stacks");
    }

    #[test]
    fn guids_cannot_escape_their_path_segment() {
        assert_eq!(seg("abc-123"), "abc-123");
        assert_eq!(seg("../x?y"), "..%2Fx%3Fy");
    }
}
