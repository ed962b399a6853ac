//! `POST /slack/actions`: the "Retry failed" and "Skip" buttons on a run's
//! summary, without any web framework (the webhook router and the local
//! server both call [`SlackActions::handle_action`]).
//!
//! Slack wants an answer within 3 seconds and does not retry. The ledger and
//! queue writes happen before answering (they are what the click asks for);
//! the only Slack call, refreshing the summary, is bounded by
//! `update_budget` and its failure is logged, not reported as the click's.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::api::SlackApi;
use super::latest::{LatestJob, latest_jobs};
use super::messages::{RETRY_FAILED_ACTION, SKIP_FAILED_ACTION, summary_message};
use super::news::{ABORT_RUN_ACTION, RESUME_RUN_ACTION};
use crate::config::{Secret, SlackSettings};
use crate::domain::{JOB_SCHEMA_VERSION, JobId, Outcome, RestageJob, RunId};
use crate::ledger::{ExpectedJob, Ledger, LedgerError, RunView};
use crate::queue::JobQueue;
use crate::rollout::Command;
use crate::signature::{self, SignatureError};

/// Leaves room under Slack's 3 s for the ledger and queue writes before it.
const DEFAULT_UPDATE_BUDGET: Duration = Duration::from_millis(1500);

/// What to answer Slack: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResponse {
    pub status: u16,
    /// JSON; for 200 a message for the clicking user (`response_type: ephemeral`).
    pub body: String,
}

impl ActionResponse {
    pub const CONTENT_TYPE: &'static str = "application/json";

    fn ok(text: &str) -> Self {
        Self {
            status: 200,
            body: json!({"response_type": "ephemeral", "replace_original": false, "text": text})
                .to_string(),
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Self {
            status,
            body: json!({"error": message}).to_string(),
        }
    }
}

/// Handles Slack interactivity callbacks for runs.
pub struct SlackActions {
    signing_secrets: Vec<Secret>,
    ledger: Arc<dyn Ledger>,
    queue: Arc<dyn JobQueue>,
    /// Refreshes the clicked summary; without it the next run completion does.
    summary: Option<SummaryUpdater>,
    /// What Resume and Abort act through; without it those buttons say so.
    pub(super) controls: Option<super::controls::RunControls>,
}

struct SummaryUpdater {
    api: SlackApi,
    channel: Option<String>,
    budget: Duration,
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    actions: Vec<ActionItem>,
    #[serde(default)]
    container: Option<Container>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ActionItem {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(default)]
    message_ts: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
}

/// Why a click could not be carried out; the status tells Slack's user.
#[derive(Debug, thiserror::Error)]
pub(super) enum ActionError {
    #[error("the run ledger is unavailable ({0}); try again in a minute")]
    Ledger(#[from] LedgerError),
    #[error(
        "the retried jobs could not be queued ({0}); they are marked failed again, try again later"
    )]
    Queue(String),
    #[error("the held jobs could not be queued ({0}); the run stays as it was, try again later")]
    ControlQueue(String),
}

impl SlackActions {
    pub fn new(
        signing_secrets: Vec<Secret>,
        ledger: Arc<dyn Ledger>,
        queue: Arc<dyn JobQueue>,
    ) -> Self {
        Self {
            signing_secrets,
            ledger,
            queue,
            summary: None,
            controls: None,
        }
    }

    /// After a click, edit the summary message the button was on.
    /// `channel` is used when the payload does not name one.
    pub fn with_summary_updates(
        mut self,
        api: SlackApi,
        channel: Option<String>,
        budget: Duration,
    ) -> Self {
        self.summary = Some(SummaryUpdater {
            api,
            channel,
            budget,
        });
        self
    }

    pub(super) fn ledger(&self) -> &dyn Ledger {
        self.ledger.as_ref()
    }

    pub(super) fn queue(&self) -> &dyn JobQueue {
        self.queue.as_ref()
    }

    /// `None` without `SLACK_SIGNING_SECRET`: the route then stays off.
    pub fn from_settings(
        settings: &SlackSettings,
        ledger: Arc<dyn Ledger>,
        queue: Arc<dyn JobQueue>,
    ) -> Result<Option<Self>, super::SlackApiError> {
        let Some(secret) = &settings.signing_secret else {
            return Ok(None);
        };
        let mut actions = Self::new(vec![secret.clone()], ledger, queue);
        if let Some(api) = SlackApi::from_settings(settings)? {
            actions =
                actions.with_summary_updates(api, settings.channel.clone(), DEFAULT_UPDATE_BUDGET);
        }
        Ok(Some(actions))
    }

    /// Verifies, parses and carries out one click. `raw_body` is the form body
    /// exactly as sent (base64-decoded if the gateway encoded it).
    pub async fn handle_action(
        &self,
        headers: &http::HeaderMap,
        raw_body: &[u8],
        now: SystemTime,
    ) -> ActionResponse {
        if let Err(e) = signature::slack::verify_headers(
            &self.signing_secrets,
            headers,
            raw_body,
            now,
            signature::DEFAULT_TOLERANCE,
        ) {
            return signature_failure(&e);
        }
        let payload = match parse_payload(raw_body) {
            Ok(p) => p,
            Err(reason) => return ActionResponse::error(400, &reason),
        };
        if payload.kind != "block_actions" {
            return ActionResponse::ok(&format!(
                "restager ignores `{}` interactions",
                payload.kind
            ));
        }
        let Some(action) = payload.actions.first() else {
            return ActionResponse::error(400, "block_actions payload has no actions");
        };
        let handler = match action.action_id.as_str() {
            RETRY_FAILED_ACTION => Click::Retry,
            SKIP_FAILED_ACTION => Click::Skip,
            RESUME_RUN_ACTION => Click::Control(Command::Resume),
            ABORT_RUN_ACTION => Click::Control(Command::Abort),
            other => {
                return ActionResponse::ok(&format!(
                    "restager does not handle the action `{other}`"
                ));
            }
        };
        let run_id = match action.value.as_deref().map(RunId::parse) {
            Some(Ok(run)) => run,
            Some(Err(e)) => return ActionResponse::error(400, &format!("button value: {e}")),
            None => return ActionResponse::error(400, "the button carries no run id value"),
        };
        let user = payload
            .user
            .as_ref()
            .map(|u| {
                u.username
                    .clone()
                    .or_else(|| u.name.clone())
                    .unwrap_or_else(|| u.id.clone())
            })
            .unwrap_or_else(|| "a Slack user".into());

        let result = match handler {
            Click::Retry => self.retry_failed(&run_id, &user).await,
            Click::Skip => self.skip_failed(&run_id, &user).await,
            Click::Control(command) => self.control(&run_id, command, &user).await,
        };
        match result {
            Ok(Done {
                text,
                changed: true,
            }) => {
                self.refresh_summary(&run_id, payload.container.as_ref())
                    .await;
                ActionResponse::ok(&text)
            }
            Ok(Done { text, .. }) => ActionResponse::ok(&text),
            Err(e) => {
                tracing::warn!(run = %run_id, error = %e, "Slack action failed");
                ActionResponse::error(503, &e.to_string())
            }
        }
    }

    async fn load(&self, run_id: &RunId) -> Result<Option<RunView>, ActionError> {
        Ok(self.ledger.get_run(run_id).await?)
    }

    async fn retry_failed(&self, run_id: &RunId, user: &str) -> Result<Done, ActionError> {
        let Some(view) = self.load(run_id).await? else {
            return Ok(Done::not_in_ledger(run_id));
        };
        let failed = final_failures(&view);
        if failed.is_empty() {
            return Ok(Done::nothing_failed("retry", run_id));
        }
        let mut record = view.record.clone();
        let mut jobs = Vec::new();
        let mut unrebuildable = Vec::new();
        for latest in &failed {
            let app = &latest.job.app;
            let Some(droplet_guid) = latest.expected.and_then(|e| e.droplet_guid.clone()) else {
                // Without the planned droplet the worker cannot tell our
                // rollout from someone else's push; do not guess.
                unrebuildable.push(app.name.clone());
                continue;
            };
            let expected = latest.expected;
            let retry = latest.retry() + 1;
            let job = RestageJob {
                v: JOB_SCHEMA_VERSION,
                job_id: JobId::for_app(run_id, &app.guid).retry(retry),
                run_id: run_id.clone(),
                notice: record.notice.clone(),
                action: record.action,
                app: app.clone(),
                droplet_guid: droplet_guid.clone(),
                package_guid: None,
                buildpack: expected.and_then(|e| e.buildpack.clone()),
                target_version: expected.and_then(|e| e.target_version.clone()),
                release: 0,
                // A retry keeps to the app's window: the worker holds it
                // until the window opens.
                window: expected.and_then(|e| e.window.clone()),
                slack_channel: expected.and_then(|e| e.slack_channel.clone()),
                schedule: Default::default(),
            };
            record.expected.push(ExpectedJob {
                job_id: job.job_id.clone(),
                app: app.clone(),
                droplet_guid: Some(droplet_guid),
                buildpack: job.buildpack.clone(),
                target_version: job.target_version.clone(),
                retry,
                wave: expected.map_or(0, |e| e.wave),
                window: job.window.clone(),
                slack_channel: job.slack_channel.clone(),
            });
            jobs.push(job);
        }
        if jobs.is_empty() {
            return Ok(Done::unchanged(format!(
                "Cannot retry {}: run {run_id} was recorded without the apps' planned droplets; start a new run (sweep) instead.",
                unrebuildable.join(", ")
            )));
        }
        // Ledger first: a worker that picks a job up at once must find it expected.
        self.ledger.put_run(&record).await?;
        let waiting = Outcome::Deferred {
            reason: format!("retry requested in Slack by {user}"),
            retry_after: None,
        };
        for job in &jobs {
            self.ledger
                .record_outcome(run_id, &job.job_id, &waiting)
                .await?;
        }
        if let Err(e) = self.queue.enqueue(&jobs).await {
            // Nothing may be queued: fail them again so the run completes
            // and the button comes back.
            let failed = Outcome::Failed {
                reason: format!("retry could not be queued: {e}"),
                permanent: true,
            };
            for job in &jobs {
                if let Err(le) = self
                    .ledger
                    .record_outcome(run_id, &job.job_id, &failed)
                    .await
                {
                    tracing::warn!(run = %run_id, job = %job.job_id, error = %le, "could not mark an unqueued retry as failed");
                }
            }
            return Err(ActionError::Queue(e.to_string()));
        }
        tracing::info!(run = %run_id, %user, jobs = jobs.len(), "failed apps re-queued from Slack");
        let mut text = format!(
            "Queued {} failed {} of run {run_id} again (requested by {user}).",
            jobs.len(),
            if jobs.len() == 1 { "app" } else { "apps" }
        );
        if !unrebuildable.is_empty() {
            text.push_str(&format!(
                " Not retried (no planned droplet recorded): {}.",
                unrebuildable.join(", ")
            ));
        }
        Ok(Done {
            text,
            changed: true,
        })
    }

    async fn skip_failed(&self, run_id: &RunId, user: &str) -> Result<Done, ActionError> {
        let Some(view) = self.load(run_id).await? else {
            return Ok(Done::not_in_ledger(run_id));
        };
        let failed = final_failures(&view);
        if failed.is_empty() {
            return Ok(Done::nothing_failed("skip", run_id));
        }
        let skipped = Outcome::Skipped {
            reason: format!("skipped by {user}"),
        };
        for latest in &failed {
            self.ledger
                .record_outcome(run_id, &latest.job.job_id, &skipped)
                .await?;
        }
        tracing::info!(run = %run_id, %user, apps = failed.len(), "failed apps skipped from Slack");
        Ok(Done {
            text: format!(
                "Marked {} failed {} of run {run_id} as skipped (by {user}).",
                failed.len(),
                if failed.len() == 1 { "app" } else { "apps" }
            ),
            changed: true,
        })
    }

    /// Edits the clicked summary to the run's new state, within the budget.
    async fn refresh_summary(&self, run_id: &RunId, container: Option<&Container>) {
        let Some(updater) = &self.summary else {
            return;
        };
        let work = async {
            let view = self
                .ledger
                .get_run(run_id)
                .await
                .map_err(|e| e.to_string())?;
            let Some(view) = view else {
                return Ok(());
            };
            let channel = container
                .and_then(|c| c.channel_id.clone())
                .or_else(|| updater.channel.clone());
            let ts = container
                .and_then(|c| c.message_ts.clone())
                .or_else(|| view.slack_thread.clone());
            let (Some(channel), Some(ts)) = (channel, ts) else {
                return Ok(());
            };
            updater
                .api
                .update_message(&channel, &ts, &summary_message(&view, Utc::now()))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(updater.budget, work).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(run = %run_id, error = %e, "could not refresh the Slack summary after an action")
            }
            Err(_) => {
                tracing::warn!(run = %run_id, "refreshing the Slack summary took too long; it updates when the run completes")
            }
        }
    }
}

enum Click {
    Retry,
    Skip,
    Control(Command),
}

pub(super) struct Done {
    pub(super) text: String,
    /// The ledger changed, so the summary is stale.
    pub(super) changed: bool,
}

impl Done {
    pub(super) fn unchanged(text: String) -> Self {
        Self {
            text,
            changed: false,
        }
    }

    fn not_in_ledger(run_id: &RunId) -> Self {
        Self::unchanged(format!("Run {run_id} is not in the ledger."))
    }

    /// A click on "`verb` failed" when no app's latest attempt failed for good.
    fn nothing_failed(verb: &str, run_id: &RunId) -> Self {
        Self::unchanged(format!(
            "Nothing to {verb}: no app of run {run_id} has failed."
        ))
    }
}

/// The run's apps whose latest attempt failed for good: what the buttons act on.
fn final_failures(view: &RunView) -> Vec<LatestJob<'_>> {
    latest_jobs(view)
        .into_iter()
        .filter(LatestJob::is_final_failure)
        .collect()
}

fn signature_failure(e: &SignatureError) -> ActionResponse {
    if e.is_misconfiguration() {
        tracing::error!(error = %e, "Slack actions cannot be verified");
        return ActionResponse::error(500, "Slack request verification is not configured");
    }
    tracing::info!(error = %e, "Slack action rejected");
    ActionResponse::error(401, &e.to_string())
}

/// The `payload` field of the form body, as JSON.
fn parse_payload(raw_body: &[u8]) -> Result<Payload, String> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(raw_body)
        .map_err(|e| format!("body is not form-encoded: {e}"))?;
    let payload = fields
        .into_iter()
        .find_map(|(k, v)| (k == "payload").then_some(v))
        .ok_or("form body has no `payload` field")?;
    serde_json::from_str(&payload).map_err(|e| format!("`payload` is not a Slack interaction: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_bolt_block_actions_body() {
        let json = include_str!("../../tests/fixtures/slack/bolt-python_block_actions_body.json");
        let body = serde_urlencoded::to_string([("payload", json)]).expect("encodes");
        let p = parse_payload(body.as_bytes()).expect("parses");
        assert_eq!(p.kind, "block_actions");
        assert_eq!(p.actions[0].action_id, "a");
        assert_eq!(p.actions[0].value.as_deref(), Some("click_me_123"));
        let c = p.container.expect("container");
        assert_eq!(c.message_ts.as_deref(), Some("111.222"));
        assert_eq!(c.channel_id.as_deref(), Some("C111"));
        assert_eq!(
            p.user.expect("user").username.as_deref(),
            Some("primary-owner")
        );
    }

    #[test]
    fn parses_the_java_sdk_block_actions_shape() {
        let json = include_str!(
            "../../tests/fixtures/slack/java-slack-sdk_json-logs_BlockActionPayload.json"
        );
        let body = serde_urlencoded::to_string([("payload", json)]).expect("encodes");
        let p = parse_payload(body.as_bytes()).expect("parses");
        assert_eq!(p.kind, "block_actions");
        assert_eq!(p.actions.len(), 1);
    }

    #[test]
    fn malformed_bodies_say_why() {
        assert!(
            parse_payload(b"nothing=here")
                .expect_err("no payload")
                .contains("payload")
        );
        assert!(
            parse_payload(b"payload=%7Bnot")
                .expect_err("bad json")
                .contains("payload")
        );
    }
}
