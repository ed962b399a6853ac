//! What happens to a verified notice, whichever route it came by:
//! de-duplicate, plan, record and queue, answer.
//!
//! De-duplication keys are claimed with `Ledger::remember` (an atomic
//! conditional put) *before* the work, so two concurrent deliveries of one
//! release cannot both fan out; if the work then fails, or the notice cannot
//! act yet (version not installed, action `none`), the keys are forgotten
//! again so a later delivery is processed in full. The key of the message
//! itself (`webhook-id`, GitHub's delivery GUID) is forgotten only after an
//! outage: a replay is answered `200` with the run id of the original.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::{Router, reply};
use crate::discovery::{self, DiscoveryError, FanOutError, Plan};
use crate::domain::{Notice, RunId};
use crate::ledger::{Ledger, SkippedApp};

/// Log target of accepted notices (one line each, duplicates included).
pub const ACCEPTED: &str = "restager::accepted";

/// How long delivery ids, message ids and releases are remembered: longer
/// than GitHub's redelivery window and Standard Webhooks' retry schedule.
pub const DEDUP_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// One de-duplication key and how to explain a hit on it.
pub(crate) struct DedupKey {
    pub key: String,
    pub duplicate: &'static str,
    /// The sender's id of this very message (`webhook-id`, GitHub's delivery
    /// GUID): kept even when the notice could not act yet, so a replay is
    /// answered as one; only an outage (503) forgets it.
    pub delivery: bool,
}

impl DedupKey {
    pub fn new(key: String, duplicate: &'static str) -> Self {
        Self {
            key,
            duplicate,
            delivery: false,
        }
    }

    /// The key for the message itself; see [`DedupKey::delivery`].
    pub fn delivery(key: String, duplicate: &'static str) -> Self {
        Self {
            delivery: true,
            ..Self::new(key, duplicate)
        }
    }

    /// The key for a release whatever announced it (GitHub, a feed, CI).
    pub fn release(notice: &Notice) -> Self {
        Self::new(
            format!("release:{}", notice.release_key()),
            "this release was already fanned out (announced before by this or another sender)",
        )
    }
}

/// Labels for logs: where the notice came from, never its body.
pub(crate) struct Origin<'a> {
    pub route: &'static str,
    pub id: &'a str,
}

pub(crate) async fn accept(
    router: &Router,
    origin: Origin<'_>,
    notice: Notice,
    keys: Vec<DedupKey>,
) -> Response<Bytes> {
    let ledger = router.deps.ledger.as_ref();
    let mut claimed: Vec<&DedupKey> = Vec::new();
    for key in &keys {
        match ledger.remember(&key.key, DEDUP_TTL).await {
            Ok(true) => claimed.push(key),
            Ok(false) => {
                release_claims(ledger, &claimed).await;
                // The same release always plans the same run: this is the
                // run the original delivery answered with.
                let run_id = RunId::for_release(&notice.release_key());
                tracing::info!(target: ACCEPTED, route = origin.route, delivery = origin.id, notice = %notice,
                    run = %run_id, replay = key.delivery, "duplicate; nothing to do");
                return reply::json(
                    StatusCode::OK,
                    &json!({ "status": "duplicate", "notice": notice, "run_id": run_id, "reason": key.duplicate }),
                );
            }
            Err(e) => {
                release_claims(ledger, &claimed).await;
                tracing::warn!(route = origin.route, id = origin.id, error = %e, "ledger unavailable");
                return reply::unavailable(format!("the run ledger is unavailable ({e})"));
            }
        }
    }

    let deps = &router.deps;
    let action = deps.intake.action_for(notice.kind());
    let plan = match discovery::plan(&deps.cf, &notice, action, &deps.intake.scope).await {
        Ok(plan) => plan,
        Err(e) => {
            release_claims(ledger, &claimed).await;
            tracing::warn!(route = origin.route, id = origin.id, notice = %notice, error = %e, "discovery failed");
            return discovery_failed(&e);
        }
    };
    // Every plan is recorded, even one that queues nothing, so the run id
    // in the answer is one `restager status` can show (with the reason).
    let created_at: DateTime<Utc> = router.now().into();
    let run = plan.clone().into_run(created_at);
    match discovery::fan_out(&run, ledger, deps.queue.as_ref(), deps.notifier.as_ref()).await {
        Ok(_) if !plan.is_definitive() => {
            // Nothing was done; a later delivery (after the install, or with
            // another action configured) must not be taken for a duplicate.
            // A replay of this very message still is one.
            let release_keys: Vec<&DedupKey> =
                claimed.iter().copied().filter(|k| !k.delivery).collect();
            release_claims(ledger, &release_keys).await;
            tracing::info!(target: ACCEPTED, route = origin.route, delivery = origin.id, notice = %notice,
                run = %plan.run_id, queued = 0, why = plan.not_installed.as_deref().or(plan.note.as_deref()).unwrap_or_default(),
                "notice accepted; nothing to queue");
            accepted(&plan, 0)
        }
        Ok(done) => {
            tracing::info!(target: ACCEPTED, route = origin.route, delivery = origin.id, notice = %notice,
                run = %plan.run_id, queued = done.queued, skipped = plan.skipped.len(),
                cf_requests = plan.cf_requests, "notice accepted");
            accepted(&plan, done.queued)
        }
        Err(e) => {
            release_claims(ledger, &claimed).await;
            tracing::warn!(route = origin.route, id = origin.id, notice = %notice, run = %plan.run_id, error = %e, "fan-out failed");
            fan_out_failed(&e)
        }
    }
}

/// Forgets keys claimed by a request that then changed nothing. If the
/// ledger fails here too, the sender's retry will be taken for a duplicate
/// until the key expires; that is logged loudly, since only an operator
/// (or the scheduled sweep) can then catch up.
async fn release_claims(ledger: &dyn Ledger, claimed: &[&DedupKey]) {
    for DedupKey { key, .. } in claimed.iter().copied() {
        if let Err(e) = ledger.forget(key).await {
            tracing::error!(key = %key, error = %e,
                "could not forget a de-duplication key after a failure: a retry of this notice will be ignored until it expires; the scheduled sweep will catch up");
        }
    }
}

fn discovery_failed(e: &DiscoveryError) -> Response<Bytes> {
    if e.is_retryable() {
        reply::unavailable(format!("Cloud Foundry could not be read ({e})"))
    } else {
        reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("restager is misconfigured: {e}; nothing was queued"),
        )
    }
}

fn fan_out_failed(e: &FanOutError) -> Response<Bytes> {
    if e.is_retryable() {
        reply::unavailable(format!("the run could not be queued ({e})"))
    } else {
        reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the run could not be queued ({e}); retrying the same request is safe"),
        )
    }
}

fn skipped_json(skipped: &[SkippedApp]) -> Value {
    Value::Array(
        skipped
            .iter()
            .map(|s| {
                json!({
                    "app": s.app.name,
                    "app_guid": s.app.guid,
                    "space": s.app.space_name,
                    "org": s.app.org_name,
                    "reason": s.reason,
                })
            })
            .collect(),
    )
}

/// `202`: the notice was processed; `queued` jobs are on the queue.
fn accepted(plan: &Plan, queued: usize) -> Response<Bytes> {
    let mut body = json!({
        "status": "accepted",
        "notice": plan.notice,
        "action": plan.action,
        "run_id": plan.run_id,
        "queued": queued,
        "planned": plan.jobs.len(),
        "waves": plan.waves,
        "max_failures": plan.max_failures,
        "skipped": skipped_json(&plan.skipped),
    });
    if let Some(obj) = body.as_object_mut() {
        if let Some(why) = &plan.not_installed {
            obj.insert("not_installed".into(), json!(why));
        }
        if let Some(note) = &plan.note {
            obj.insert("note".into(), json!(note));
        }
        if !plan.notes.is_empty() {
            obj.insert("notes".into(), json!(plan.notes));
        }
    }
    reply::json(StatusCode::ACCEPTED, &body)
}
