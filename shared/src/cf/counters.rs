//! Requests sent by a client and its clones, by kind, for benchmarks and run
//! summaries.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::Method;

/// Requests sent, by kind, for benchmarks and run summaries. Every attempt
/// counts, including retries and token requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub root: u64,
    pub token: u64,
    pub get: u64,
    pub post: u64,
    pub patch: u64,
    pub delete: u64,
    /// Attempts that were retries (already included above).
    pub retries: u64,
    /// 429 responses received.
    pub rate_limited: u64,
    /// Re-authentications after a 401.
    pub reauthentications: u64,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.root + self.token + self.get + self.post + self.patch + self.delete
    }

    /// Requests to Cloud Controller's `/v3` API (everything but `/` and tokens).
    pub fn api(&self) -> u64 {
        self.get + self.post + self.patch + self.delete
    }
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) root: AtomicU64,
    pub(super) token: AtomicU64,
    pub(super) get: AtomicU64,
    pub(super) post: AtomicU64,
    pub(super) patch: AtomicU64,
    pub(super) delete: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) rate_limited: AtomicU64,
    pub(super) reauthentications: AtomicU64,
}

impl Counters {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn sent(&self, kind: Kind, method: &Method) {
        let counter = match kind {
            Kind::Root => &self.root,
            Kind::Token => &self.token,
            Kind::Api => match *method {
                Method::POST => &self.post,
                Method::PATCH => &self.patch,
                Method::DELETE => &self.delete,
                _ => &self.get,
            },
        };
        Self::bump(counter);
    }

    pub(super) fn snapshot(&self) -> RequestCounts {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            root: n(&self.root),
            token: n(&self.token),
            get: n(&self.get),
            post: n(&self.post),
            patch: n(&self.patch),
            delete: n(&self.delete),
            retries: n(&self.retries),
            rate_limited: n(&self.rate_limited),
            reauthentications: n(&self.reauthentications),
        }
    }
}

/// The `/v3` resources a request is counted under in the metrics; any other is `other`.
const RESOURCES: &[&str] = &[
    "apps",
    "audit_events",
    "buildpacks",
    "builds",
    "deployments",
    "droplets",
    "info",
    "organization_quotas",
    "organizations",
    "packages",
    "processes",
    "revisions",
    "space_quotas",
    "spaces",
    "stacks",
];

/// The endpoint kind of a request for the metrics (`root`, `uaa_token`, or
/// the `/v3` resource such as `apps`): a bounded set, never a guid.
pub(super) fn endpoint(kind: Kind, url: &url::Url) -> &'static str {
    match kind {
        Kind::Root => "root",
        Kind::Token => "uaa_token",
        Kind::Api => {
            let mut segments = url.path_segments().into_iter().flatten();
            if segments.by_ref().find(|s| *s == "v3").is_none() {
                return "other";
            }
            match segments.next() {
                None | Some("") => "v3",
                Some(resource) => RESOURCES
                    .iter()
                    .find(|r| **r == resource)
                    .copied()
                    .unwrap_or("other"),
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Root,
    Token,
    Api,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_resources_never_guids() {
        let at = |u: &str| url::Url::parse(u).expect("url");
        assert_eq!(
            endpoint(
                Kind::Api,
                &at("https://api.x/v3/apps/1234/droplets/current")
            ),
            "apps"
        );
        assert_eq!(
            endpoint(Kind::Api, &at("https://api.x/v3/builds?states=STAGING")),
            "builds"
        );
        assert_eq!(endpoint(Kind::Api, &at("https://api.x/v3/")), "v3");
        assert_eq!(
            endpoint(Kind::Api, &at("https://api.x/v3/widgets/9")),
            "other"
        );
        assert_eq!(
            endpoint(Kind::Token, &at("https://uaa.x/oauth/token")),
            "uaa_token"
        );
        assert_eq!(endpoint(Kind::Root, &at("https://api.x/")), "root");
    }
}
