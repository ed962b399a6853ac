//! Where a delivery meets its run's rollout: whether it may start (the
//! run paused, halted or aborted; its maintenance window), parking it in the
//! ledger when not, and after a final outcome the error budget and the wave
//! gate (`crate::rollout`).

use super::*;

/// What the run's rollout and the job's window say about starting it.
pub(super) enum Gate {
    Go,
    /// Paused or halted (`None`), or until its window opens or its release
    /// is old enough (the time): keep the job in the ledger, off the queue.
    Hold(String, Option<DateTime<Utc>>),
    /// Its window opens within a minute: back on the queue until then.
    Soon(Duration),
    /// Aborted, or its window cannot be read: the job ends skipped.
    Abort(String),
}

impl Engine {
    /// Whether the run, and the job's window, let a new restage start now.
    /// A job delivered late (a retry, a slow queue) is held again rather
    /// than started past its window's cutoff.
    pub(super) async fn gate(&self, job: &RestageJob) -> Result<Gate, crate::ledger::LedgerError> {
        let Some(rollout) = self.ledger.rollout(&job.run_id).await? else {
            return Ok(Gate::Go);
        };
        match (&rollout.state, rollout.state.hold_reason()) {
            (RunState::Running, _) | (_, None) => {}
            (RunState::Aborted { .. }, Some(reason)) => return Ok(Gate::Abort(reason)),
            (_, Some(reason)) => return Ok(Gate::Hold(reason, None)),
        }
        let windows = match job.window.as_deref().map(Windows::parse) {
            None => Windows::always(),
            Some(Ok(w)) => w,
            Some(Err(e)) => {
                return Ok(Gate::Abort(format!(
                    "not started: the job's maintenance window cannot be read ({e}); \
                     a sweep or the notice plans the app again"
                )));
            }
        };
        let now = self.now();
        Ok(
            match window::start(&windows, rollout.cutoff(), rollout.not_before, now) {
                Start::Now => Gate::Go,
                Start::Soon { at } => Gate::Soon((at - now).to_std().unwrap_or_default()),
                Start::Hold { until, reason, .. } => Gate::Hold(reason, Some(until)),
            },
        )
    }

    /// Parks a job in the ledger, off the queue: recorded as held, its
    /// delivery done. A resume queues it again (a paused or halted run), or
    /// the tick once `until` has come (its window opened).
    pub(super) async fn hold(
        &self,
        job: &RestageJob,
        owner: &str,
        delivery: Delivery,
        reason: String,
        until: Option<DateTime<Utc>>,
    ) -> ItemResult {
        let held = Outcome::Held {
            reason: reason.clone(),
            until,
        };
        let recorded = self
            .ledger
            .record_outcome(&job.run_id, &job.job_id, &held)
            .await;
        if let Err(e) = self
            .ledger
            .release_job(&job.run_id, &job.job_id, owner)
            .await
        {
            tracing::warn!(job = %job.job_id, error = %e, "could not release the job's lease; it expires on its own");
        }
        let (disposition, note) = match recorded {
            Ok(_) => {
                crate::metrics::jobs_held(1);
                tracing::info!(target: crate::engine::restage::RESTAGE_LOG, app = %job.app.name, org = %job.app.org_name,
                    space = %job.app.space_name, job = %job.job_id, run = %job.run_id, %reason, "job held");
                (Disposition::Complete, reason)
            }
            Err(e) => (
                Disposition::RetryAfter(self.backoff(delivery.receive_count)),
                format!("could not record the job as held: {e}"),
            ),
        };
        ItemResult {
            delivery,
            disposition,
            job_id: Some(job.job_id.clone()),
            outcome: Some(held),
            note,
        }
    }

    /// After a final outcome: a failure may spend the run's budget, and the
    /// last job of a wave may let the next one go.
    pub(super) async fn after_final(
        &self,
        job: &RestageJob,
        outcome: &Outcome,
        recorded: Recorded,
    ) {
        let Some(queue) = &self.queue else {
            return;
        };
        let ports = Ports {
            cf: &self.cf,
            ledger: self.ledger.as_ref(),
            queue: queue.as_ref(),
            notifier: self.notifier.as_ref(),
            max_in_flight: self.settings.max_in_flight,
        };
        let now = self.now();
        if outcome.is_failure()
            && let Err(e) = rollout::after_failure(ports, &job.run_id, now).await
        {
            tracing::warn!(run = %job.run_id, error = %e, "could not check the run's error budget; the next failure or the tick will");
        }
        if recorded.finished == 0 {
            return;
        }
        match self.ledger.rollout(&job.run_id).await {
            Ok(Some(r)) if r.waves.len() > 1 && recorded.finished >= r.released_jobs() => {
                match rollout::advance(ports, &job.run_id, now).await {
                    Ok(advance) => {
                        tracing::debug!(run = %job.run_id, ?advance, "asked the wave gate")
                    }
                    Err(e) => {
                        tracing::warn!(run = %job.run_id, error = %e, "could not ask the wave gate; the tick will")
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(run = %job.run_id, error = %e, "could not read the run's rollout; the tick asks its gate")
            }
        }
    }
}
