//! The admin API of `restager serve`: the operator's view while a run is
//! going, and `GET /metrics`. Serve-only (the Lambda functions have none):
//! [`AdminApi::handle`] answers its routes and leaves every other request to
//! the webhook router.
//!
//! | route | who | answers |
//! |---|---|---|
//! | `GET /runs[?limit=N]` | the admin token | newest runs first: id, notice, started, state, counts by outcome, waves (JSON; HTML for a browser) |
//! | `GET /runs/{id}` | the admin token | the run and each app: org/space/app, wave, phase, outcome and reason, build/deployment guids, start and end (JSON; the run page for `Accept: text/html`) |
//! | `POST /runs/{id}/pause`, `…/resume`, `…/abort` | the admin token | the run control's report (`rollout::apply`), recorded as `admin API` (or the `X-Restager-Actor` header's name) |
//! | `GET /metrics` | anyone who can reach serve | Prometheus text format: no secrets, no app names |
//!
//! - [`auth`]: `RESTAGER_ADMIN_TOKEN` (off, `404`, when unset);
//! - [`routes`]: the route table and its handlers;
//! - [`page`]: the run page (HTML, inline SVG, no script);
//! - [`metrics`]: the Prometheus recorder and the gauges read when scraped;
//! - [`client`]: the other end, for `restager status --server`.

pub mod auth;
pub mod client;
pub mod metrics;
pub mod page;
mod reply;
pub mod routes;

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use restager_shared::cf::CfClient;
use restager_shared::config::Secret;
use restager_shared::ledger::Ledger;
use restager_shared::notify::Notifier;
use restager_shared::queue::{JobQueue, JobSource};
use restager_shared::rollout::Ports;

use self::metrics::Prometheus;

/// What the admin routes read.
pub struct AdminApi {
    pub ledger: Arc<dyn Ledger>,
    pub queue: Arc<dyn JobSource>,
    /// `None`: the routes behind the token answer 404.
    pub token: Option<Secret>,
    /// `None`: `GET /metrics` answers 404 (no recorder could be installed).
    pub prometheus: Option<Prometheus>,
    /// What the run controls act through.
    pub controls: Controls,
}

/// The ports `POST /runs/{id}/pause|resume|abort` act through.
pub struct Controls {
    pub cf: CfClient,
    pub jobs: Arc<dyn JobQueue>,
    pub notifier: Arc<dyn Notifier>,
    pub max_in_flight: u32,
}

impl AdminApi {
    pub fn ports(&self) -> Ports<'_> {
        Ports {
            cf: &self.controls.cf,
            ledger: self.ledger.as_ref(),
            queue: self.controls.jobs.as_ref(),
            notifier: self.controls.notifier.as_ref(),
            max_in_flight: self.controls.max_in_flight,
        }
    }
}

impl AdminApi {
    /// The answer to an admin route; `None` for any other request (the
    /// webhook router's).
    pub async fn handle(&self, request: &Request<Bytes>) -> Option<Response<Bytes>> {
        let route = routes::Route::of(request.method(), request.uri().path())?;
        Some(routes::answer(self, route, request).await)
    }
}
