//! Reads across many apps, spaces or orgs at once, for discovery's reading
//! of history and quota headroom: each is one listing per batch of
//! `guid_batch_size` guids at the largest page size, so its cost grows with
//! pages, never with apps. Resources that do not parse come back beside
//! the others (with the guids of their batch) for the caller to judge.

use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;

use super::client::{CfClient, Listed};
use super::endpoints::Query;
use super::error::CfError;
use super::models::{App, Build, Deployment, OrganizationQuota, Process, SpaceQuota};

/// What one batch of a bulk read returned.
pub struct Batch<T> {
    /// The guids this batch asked for.
    pub asked: Vec<String>,
    pub listed: Listed<T>,
}

impl CfClient {
    /// `GET path?key=<batch>&extra...` for every batch of `guids`, all pages,
    /// at most `batch_concurrency` batches at once.
    async fn list_batched<T>(
        &self,
        path: &str,
        key: &str,
        guids: &[String],
        extra: &[(&str, &str)],
    ) -> Result<Vec<Batch<T>>, CfError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<String> = guids
            .iter()
            .filter(|g| !g.is_empty() && seen.insert(g.as_str()))
            .cloned()
            .collect();
        let batch = self.options().guid_batch_size.max(1);
        let per_page = self.per_page();
        let requests: Vec<(Vec<String>, String)> = unique
            .chunks(batch)
            .map(|chunk| {
                let mut q = Query::new(path).list(key, chunk);
                for (k, v) in extra {
                    q = q.param(k, v);
                }
                (chunk.to_vec(), q.param("per_page", &per_page).build())
            })
            .collect();
        futures::stream::iter(requests)
            .map(|(asked, url)| async move {
                let listed = self.list_records::<T>(&url).await?;
                Ok::<_, CfError>(Batch { asked, listed })
            })
            .buffer_unordered(self.options().batch_concurrency.max(1))
            .try_collect()
            .await
    }

    /// STAGED builds of these packages, newest first within each batch: the
    /// builds behind apps' live droplets (a droplet's build staged its package).
    pub async fn list_staged_builds_of_packages(
        &self,
        package_guids: &[String],
    ) -> Result<Vec<Batch<Build>>, CfError> {
        self.list_batched(
            "/v3/builds",
            "package_guids",
            package_guids,
            &[("states", "STAGED"), ("order_by", "-created_at")],
        )
        .await
    }

    /// Deployments of these apps that finished DEPLOYED, newest first within
    /// each batch.
    pub async fn list_deployed_deployments_of_apps(
        &self,
        app_guids: &[String],
    ) -> Result<Vec<Batch<Deployment>>, CfError> {
        self.list_batched(
            "/v3/deployments",
            "app_guids",
            app_guids,
            &[
                ("status_values", "FINALIZED"),
                ("status_reasons", "DEPLOYED"),
                ("order_by", "-created_at"),
            ],
        )
        .await
    }

    /// Every process in these orgs that the client can see.
    pub async fn list_processes_of_orgs(
        &self,
        org_guids: &[String],
    ) -> Result<Vec<Batch<Process>>, CfError> {
        self.list_batched("/v3/processes", "organization_guids", org_guids, &[])
            .await
    }

    /// Every app in these orgs that the client can see, with its space (for
    /// their states: only a STARTED app's processes count against a quota).
    pub async fn list_apps_of_orgs(
        &self,
        org_guids: &[String],
    ) -> Result<Vec<Batch<App>>, CfError> {
        self.list_batched(
            "/v3/apps",
            "organization_guids",
            org_guids,
            &[("include", "space")],
        )
        .await
    }

    /// The space quotas of these orgs that the client can see.
    pub async fn list_space_quotas_of_orgs(
        &self,
        org_guids: &[String],
    ) -> Result<Vec<Batch<SpaceQuota>>, CfError> {
        self.list_batched("/v3/space_quotas", "organization_guids", org_guids, &[])
            .await
    }

    /// The quotas of these orgs.
    pub async fn list_organization_quotas_of_orgs(
        &self,
        org_guids: &[String],
    ) -> Result<Vec<Batch<OrganizationQuota>>, CfError> {
        self.list_batched(
            "/v3/organization_quotas",
            "organization_guids",
            org_guids,
            &[],
        )
        .await
    }
}
