//! Processing a batch of queue deliveries: decode, lease, restage, record,
//! notify, and decide per delivery whether it is done or comes back later.
//!
//! Concurrency: at most `max_concurrent_restages` jobs restage at once in
//! this process (one pool per [`Engine`], shared by every batch), and at
//! most as many of one space as its quota holds (the job's allowance, 1
//! without one, at most `RESTAGER_MAX_PER_SPACE`; a quota refusal lowers
//! it); a freed slot goes to the space with the longest expected chain,
//! its longest job first (see `slots`). Across Lambda invocations the
//! bound is the event source's `MaximumConcurrency`.
//!
//! Poison messages (not JSON, or an unknown schema version) are never
//! restaged. They are reported as failures with the longest back-off so the
//! queue's redrive policy moves them to the dead-letter queue after
//! `maxReceiveCount` receives (kept equal to `RESTAGER_MAX_ATTEMPTS`); a
//! queue without a redrive policy sees them deleted, with an error log, once
//! they have been received more than `max_attempts` times.
//!
//! FIFO queues: messages of one group are processed in order, and once one
//! fails the later ones of the same group in the batch are failed too,
//! unprocessed, as SQS FIFO semantics require.

mod progress;
mod rollout_gate;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::classify::is_quota_refusal;
use super::deadline::{Deadline, Margins};
use super::poll::Calibration;
use super::restage::restage_with;
use super::slots::{Slots, Want};
use crate::cf::CfClient;
use crate::config::WorkerSettings;
use crate::domain::{JobId, Outcome, RestageJob};
use crate::ledger::{Lease, Ledger, LedgerError, Recorded, RunState};
use crate::notify::Notifier;
use crate::queue::{Delivery, JobQueue};
use crate::retry::{Backoff, Jitter};
use crate::rollout::{self, Ports};
use crate::window::{self, Start, Windows};
use rollout_gate::Gate;

/// What the engine takes for "now" when it judges windows and soaks; the
/// system clock but in tests, which set the hour.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// One delivery of a batch, with its FIFO message group if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    pub delivery: Delivery,
    pub group: Option<String>,
}

impl From<Delivery> for BatchItem {
    fn from(delivery: Delivery) -> Self {
        Self {
            delivery,
            group: None,
        }
    }
}

/// What to do with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Done: delete the message.
    Complete,
    /// Hand it back to be delivered again after this delay (on SQS: set the
    /// visibility timeout and list it in `batchItemFailures`).
    RetryAfter(Duration),
}

/// The result for one delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult {
    pub delivery: Delivery,
    pub disposition: Disposition,
    /// The job, when the body decoded.
    pub job_id: Option<JobId>,
    /// What happened to the app; `None` when nothing was attempted (poison
    /// message, lease held elsewhere, ledger unavailable, FIFO group blocked).
    pub outcome: Option<Outcome>,
    /// Why the delivery ended as it did, for logs and reports.
    pub note: String,
}

/// Results in the order of the batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchReport {
    pub items: Vec<ItemResult>,
}

impl BatchReport {
    /// Message ids to hand back (Lambda's `batchItemFailures`).
    pub fn failures(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter(|r| matches!(r.disposition, Disposition::RetryAfter(_)))
            .map(|r| r.delivery.message_id.as_str())
            .collect()
    }
}

/// Everything a worker needs to process deliveries. Build it once per
/// process (or Lambda container): the concurrency bound and space locks
/// hold across every batch it processes.
pub struct Engine {
    cf: CfClient,
    settings: WorkerSettings,
    ledger: Arc<dyn Ledger>,
    notifier: Arc<dyn Notifier>,
    margins: Margins,
    /// How long a delivery handed back waits before the next one.
    retry: Backoff,
    slots: Slots,
    /// How good this process's expectations of staging and rollout times were.
    calibration: Calibration,
    /// Where a finished wave's successor is queued; without one, the
    /// periodic tick releases waves.
    queue: Option<Arc<dyn JobQueue>>,
    clock: Clock,
}

impl Engine {
    pub fn new(
        cf: CfClient,
        settings: WorkerSettings,
        ledger: Arc<dyn Ledger>,
        notifier: Arc<dyn Notifier>,
    ) -> Self {
        Self {
            margins: Margins::for_settings(&settings),
            slots: Slots::new(settings.max_concurrent_restages),
            cf,
            settings,
            ledger,
            notifier,
            retry: Backoff::new(Duration::from_secs(30), Duration::from_secs(15 * 60))
                .with_jitter(Jitter::None),
            calibration: Calibration::default(),
            queue: None,
            clock: Arc::new(Utc::now),
        }
    }

    /// Judges windows and soaks by `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Releases the next wave from the worker that finishes one (the tick
    /// does otherwise).
    pub fn with_queue(mut self, queue: Arc<dyn JobQueue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Deadline margins other than [`Margins::for_settings`] (tests).
    pub fn with_margins(mut self, margins: Margins) -> Self {
        self.margins = margins;
        self
    }

    /// Retry back-off other than 30 s doubling up to 15 min (tests).
    pub fn with_retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.retry = Backoff::new(base, cap.max(base)).with_jitter(Jitter::None);
        self
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    pub fn margins(&self) -> Margins {
        self.margins
    }

    pub fn cf(&self) -> &CfClient {
        &self.cf
    }

    /// Where outcomes are told (flushed by the worker before it returns).
    pub fn notifier(&self) -> &dyn Notifier {
        self.notifier.as_ref()
    }

    /// A deadline `left` from now with this engine's margins.
    pub fn deadline_in(&self, left: Duration) -> Deadline {
        Deadline::after(left, self.margins)
    }

    /// The wait before the `receive_count`-th delivery's successor: `base · 2ⁿ⁻¹`, capped.
    fn backoff(&self, receive_count: u32) -> Duration {
        self.retry.delay(receive_count)
    }

    /// Processes every delivery and says what to do with each. Never fails
    /// as a whole: one bad delivery does not affect the others.
    pub async fn process_batch(&self, items: Vec<BatchItem>, deadline: &Deadline) -> BatchReport {
        // Lanes: each FIFO group in batch order; every ungrouped message alone.
        let mut lanes: Vec<(bool, Vec<(usize, BatchItem)>)> = Vec::new();
        let mut by_group: HashMap<String, usize> = HashMap::new();
        let total = items.len();
        for (idx, item) in items.into_iter().enumerate() {
            match item.group.clone() {
                Some(g) => match by_group.get(&g) {
                    Some(&lane) => lanes[lane].1.push((idx, item)),
                    None => {
                        by_group.insert(g, lanes.len());
                        lanes.push((true, vec![(idx, item)]));
                    }
                },
                None => lanes.push((false, vec![(idx, item)])),
            }
        }
        let done = futures::future::join_all(
            lanes
                .into_iter()
                .map(|(fifo, lane)| self.process_lane(fifo, lane, deadline)),
        )
        .await;
        let mut slots: Vec<Option<ItemResult>> = vec![None; total];
        for (idx, result) in done.into_iter().flatten() {
            slots[idx] = Some(result);
        }
        BatchReport {
            items: slots.into_iter().flatten().collect(),
        }
    }

    async fn process_lane(
        &self,
        fifo: bool,
        lane: Vec<(usize, BatchItem)>,
        deadline: &Deadline,
    ) -> Vec<(usize, ItemResult)> {
        let mut out = Vec::with_capacity(lane.len());
        let mut blocked: Option<Duration> = None;
        for (idx, item) in lane {
            if let Some(delay) = blocked {
                out.push((
                    idx,
                    ItemResult {
                        job_id: None,
                        outcome: None,
                        disposition: Disposition::RetryAfter(delay),
                        note:
                            "an earlier message of its FIFO group is being retried; kept in order"
                                .into(),
                        delivery: item.delivery,
                    },
                ));
                continue;
            }
            let result = self.process_one(item.delivery, deadline).await;
            if let (true, Disposition::RetryAfter(delay)) = (fifo, result.disposition) {
                blocked = Some(delay);
            }
            out.push((idx, result));
        }
        out
    }

    async fn process_one(&self, delivery: Delivery, deadline: &Deadline) -> ItemResult {
        let job = match RestageJob::from_json(&delivery.body) {
            Ok(job) => job,
            Err(e) => return self.poison(delivery, &e.to_string()),
        };
        let job_id = Some(job.job_id.clone());
        let result = |delivery, disposition, outcome, note: String| ItemResult {
            delivery,
            disposition,
            job_id: job_id.clone(),
            outcome,
            note,
        };
        // Nothing started: the delivery comes back after the usual back-off.
        let ledger_unavailable = |delivery: Delivery, e: LedgerError| {
            let delay = self.backoff(delivery.receive_count);
            result(
                delivery,
                Disposition::RetryAfter(delay),
                None,
                format!("ledger unavailable: {e}"),
            )
        };

        let _slot = self
            .slots
            .acquire(Want {
                run: job.run_id.as_str(),
                space: &job.app.space_guid,
                allowance: self.settings.capacity().cap(job.schedule.space_allowance),
                work: job.schedule.work(self.settings.max_in_flight),
            })
            .await;

        let owner = lease_owner(&delivery);
        match self
            .ledger
            .lease_job(&job.run_id, &job.job_id, &owner, self.lease_ttl(deadline))
            .await
        {
            Ok(Lease::Acquired) => {}
            Ok(Lease::HeldElsewhere) => {
                let delay = self.backoff(delivery.receive_count);
                return result(
                    delivery,
                    Disposition::RetryAfter(delay),
                    None,
                    "another delivery of this job is working on it".into(),
                );
            }
            Ok(Lease::AlreadyFinal(outcome)) => {
                return result(
                    delivery,
                    Disposition::Complete,
                    Some(outcome),
                    "duplicate delivery: the job already has a final outcome".into(),
                );
            }
            Err(e) => {
                tracing::warn!(job = %job.job_id, error = %e, "ledger unavailable; job not started");
                return ledger_unavailable(delivery, e);
            }
        }

        let mut outcome = match self.gate(&job).await {
            Ok(Gate::Go) => {
                let progress = progress::LedgerProgress {
                    ledger: self.ledger.as_ref(),
                    job: &job,
                    started_at: chrono::Utc::now(),
                };
                let outcome = restage_with(
                    &self.cf,
                    &self.settings,
                    &job,
                    deadline,
                    &self.calibration,
                    &progress,
                )
                .await;
                if is_quota_refusal(&outcome) {
                    // Still holding the slot: the space held one fewer.
                    self.slots.lower(job.run_id.as_str(), &job.app.space_guid);
                }
                outcome
            }
            Ok(Gate::Abort(reason)) => Outcome::Skipped { reason },
            Ok(Gate::Hold(reason, until)) => {
                return self.hold(&job, &owner, delivery, reason, until).await;
            }
            Ok(Gate::Soon(delay)) => {
                self.release_lease(&job, &owner).await;
                return result(
                    delivery,
                    Disposition::RetryAfter(delay),
                    None,
                    "its maintenance window opens within a minute; waiting on the queue".into(),
                );
            }
            Err(e) => {
                tracing::warn!(job = %job.job_id, error = %e, "ledger unavailable; job not started");
                self.release_lease(&job, &owner).await;
                return ledger_unavailable(delivery, e);
            }
        };
        if !outcome.is_final() && deadline.is_shutting_down() {
            return self.hand_back(&job, &owner, delivery, outcome).await;
        }
        if !outcome.is_final() && delivery.receive_count >= self.settings.max_attempts {
            let attempts = self.attempts(&job, delivery.receive_count).await;
            if attempts >= self.settings.max_attempts {
                outcome = Outcome::Failed {
                    reason: format!(
                        "gave up after {attempts} {}: {outcome}",
                        if attempts == 1 { "attempt" } else { "attempts" }
                    ),
                    permanent: true,
                };
            }
        }

        let recorded = self
            .ledger
            .record_outcome(&job.run_id, &job.job_id, &outcome)
            .await;
        // Metrics: restager_restages_total counts what the ledger took (shared/src/metrics).
        if recorded.is_ok() {
            crate::metrics::outcome_recorded(&outcome);
        }
        if let Err(e) = self.notifier.app_finished(&job, &outcome).await {
            tracing::warn!(job = %job.job_id, error = %e, "could not notify the app's outcome");
        }

        if outcome.is_final() {
            match recorded {
                Ok(r) => {
                    if r.completed_run {
                        self.run_completed(&job).await;
                    }
                    self.after_final(&job, &outcome, r).await;
                    result(
                        delivery,
                        Disposition::Complete,
                        Some(outcome),
                        "final outcome recorded".into(),
                    )
                }
                Err(e) => {
                    // Redelivery finds this job's build/deployment by label
                    // and reaches the same outcome without new work.
                    tracing::warn!(job = %job.job_id, error = %e, "could not record the final outcome; retrying the delivery");
                    let delay = self.retry.base.min(self.backoff(1));
                    result(
                        delivery,
                        Disposition::RetryAfter(delay),
                        Some(outcome),
                        format!("outcome not recorded: {e}"),
                    )
                }
            }
        } else {
            if let Err(e) = recorded {
                tracing::warn!(job = %job.job_id, error = %e, "could not record a deferral");
            }
            self.release_lease(&job, &owner).await;
            let delay = match &outcome {
                Outcome::Deferred {
                    retry_after: Some(d),
                    ..
                } => (*d).min(self.retry.cap),
                _ => self.backoff(delivery.receive_count),
            };
            result(
                delivery,
                Disposition::RetryAfter(delay),
                Some(outcome),
                "retrying later".into(),
            )
        }
    }

    /// Attempts at `job` including this one. Receives count hand-backs at
    /// shutdown too, which are never recorded, so the ledger's count of
    /// recorded outcomes is the truth; the receive count stands in when the
    /// ledger cannot say. Read only once the receive count reaches the limit.
    async fn attempts(&self, job: &RestageJob, receive_count: u32) -> u32 {
        match self.ledger.get_run(&job.run_id).await {
            Ok(Some(view)) => view
                .jobs
                .iter()
                .find(|j| j.job_id == job.job_id)
                .map_or(receive_count, |j| j.attempts.saturating_add(1)),
            Ok(None) => receive_count,
            Err(e) => {
                tracing::warn!(job = %job.job_id, error = %e, "could not read the job's attempts; counting receives");
                receive_count
            }
        }
    }

    /// Gives the job's lease back, so the next delivery need not wait it
    /// out; failing to is only that wait, so it is logged, not returned.
    async fn release_lease(&self, job: &RestageJob, owner: &str) {
        if let Err(e) = self
            .ledger
            .release_job(&job.run_id, &job.job_id, owner)
            .await
        {
            tracing::warn!(job = %job.job_id, error = %e, "could not release the job's lease; it expires on its own");
        }
    }

    /// A restage stopped by the shutdown signal: back on the queue for the
    /// next start, neither recorded nor announced (its last recorded state
    /// still stands), and not an attempt.
    async fn hand_back(
        &self,
        job: &RestageJob,
        owner: &str,
        delivery: Delivery,
        outcome: Outcome,
    ) -> ItemResult {
        self.release_lease(job, owner).await;
        tracing::info!(job = %job.job_id, app = %job.app.name, reason = %outcome, "handed back at shutdown");
        ItemResult {
            delivery,
            disposition: Disposition::RetryAfter(Duration::ZERO),
            job_id: Some(job.job_id.clone()),
            outcome: Some(outcome),
            note: "handed back at shutdown; not an attempt".into(),
        }
    }

    async fn run_completed(&self, job: &RestageJob) {
        match self.ledger.get_run(&job.run_id).await {
            Ok(Some(view)) => {
                if let Err(e) = self.notifier.run_completed(&view).await {
                    tracing::warn!(run = %job.run_id, error = %e, "could not notify the run's completion");
                }
            }
            Ok(None) => {
                tracing::warn!(run = %job.run_id, "the completed run is missing from the ledger")
            }
            Err(e) => {
                tracing::warn!(run = %job.run_id, error = %e, "could not read the completed run")
            }
        }
    }

    fn poison(&self, delivery: Delivery, why: &str) -> ItemResult {
        let excerpt: String = delivery.body.chars().take(200).collect();
        if delivery.receive_count > self.settings.max_attempts {
            tracing::error!(message = %delivery.message_id, receive_count = delivery.receive_count, error = why, body = %excerpt, "undecodable job message dropped: the queue has no dead-letter queue");
            return ItemResult {
                disposition: Disposition::Complete,
                job_id: None,
                outcome: None,
                note: format!(
                    "undecodable, dropped after {} receives: {why}",
                    delivery.receive_count
                ),
                delivery,
            };
        }
        tracing::error!(message = %delivery.message_id, receive_count = delivery.receive_count, error = why, body = %excerpt, "undecodable job message left for the dead-letter queue");
        ItemResult {
            disposition: Disposition::RetryAfter(self.retry.cap),
            job_id: None,
            outcome: None,
            note: format!("undecodable, left for the dead-letter queue: {why}"),
            delivery,
        }
    }

    /// Long enough to cover this invocation's work; a crashed worker's
    /// lease then lapses before the message is visible again.
    fn lease_ttl(&self, deadline: &Deadline) -> Duration {
        if deadline.is_bounded() {
            deadline.remaining().max(Duration::from_secs(1))
        } else {
            // Verification may end in a rollback: a second deployment.
            self.settings.staging_timeout
                + self.settings.deploy_timeout * 2
                + self.settings.verify_for * 2
                + Duration::from_secs(300)
        }
    }
}

/// One receive of a message: SQS may hand the same message (same id) to two
/// consumers at once, each with its own receipt handle.
fn lease_owner(delivery: &Delivery) -> String {
    let mut h = DefaultHasher::new();
    delivery.receipt.hash(&mut h);
    format!("{}#{:016x}", delivery.message_id, h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_owners_differ_per_receive() {
        let d = Delivery {
            message_id: "m".into(),
            receipt: "r1".into(),
            body: String::new(),
            receive_count: 1,
        };
        let again = Delivery {
            receipt: "r2".into(),
            ..d.clone()
        };
        assert_ne!(lease_owner(&d), lease_owner(&again));
        assert_eq!(lease_owner(&d), lease_owner(&d.clone()));
    }
}
