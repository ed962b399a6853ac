//! Block Kit messages: the run's root message, batched per-app replies in its
//! thread, and the summary the root is edited into when the run completes.
//!
//! Slack documents 50 blocks per message and 3000 characters per section
//! text, and rejects block payloads well below its documented 40 000 total
//! (`msg_blocks_too_long` reported at ~13 k), so replies are split to stay
//! comfortably under all three.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::api::SlackMessage;
use super::latest::latest_jobs;
use crate::domain::{Action, Outcome, OutcomeKind, RestageJob};
use crate::ledger::{Rollout, RunRecord, RunView};

pub const RETRY_FAILED_ACTION: &str = "restager_retry_failed";
pub const SKIP_FAILED_ACTION: &str = "restager_skip_failed";

const MAX_BLOCKS: usize = 50;
const SECTION_TEXT_MAX: usize = 3000;
/// Total block text per reply; well under the size Slack was seen to reject.
const REPLY_TEXT_BUDGET: usize = 9000;
const REASON_MAX: usize = 300;
const HEADER_MAX: usize = 150;
const LISTED_FAILURES: usize = 10;
const LISTED_REASONS: usize = 5;

/// One app's result as a line of a threaded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultLine {
    pub kind: OutcomeKind,
    pub text: String,
}

/// A reply ready to post and how many of the given lines it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedReply {
    pub message: SlackMessage,
    pub lines: usize,
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub(super) fn header(text: &str) -> Value {
    json!({"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_MAX), "emoji": true}})
}

pub(super) fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_MAX)}})
}

fn fields(pairs: &[(&str, String)]) -> Value {
    let fields: Vec<Value> = pairs
        .iter()
        .map(|(label, value)| json!({"type": "mrkdwn", "text": format!("*{label}:*\n{value}")}))
        .collect();
    json!({"type": "section", "fields": fields})
}

pub(super) fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_MAX)}]})
}

/// The message a run starts with; replies thread under it and the summary replaces it.
pub fn root_message(run: &RunRecord, rollout: Option<&Rollout>) -> SlackMessage {
    let notice = run.notice.to_string();
    let queued = run.expected.len();
    let skipped = run.skipped.len();
    let mut blocks = vec![
        header(&format!("{notice} rollout")),
        fields(&[
            ("Action", run.action.to_string()),
            ("Queued", queued.to_string()),
            ("Skipped", skipped.to_string()),
            (
                "Started",
                run.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ),
        ]),
    ];
    let reasons = top_reasons(run.skipped.iter().map(|s| s.reason.as_str()), 3);
    if !reasons.is_empty() {
        blocks.push(section(&format!("*Top skip reasons:*\n{reasons}")));
    }
    if let Some(waves) = rollout.and_then(super::news::waves_text) {
        blocks.push(section(&waves));
    }
    blocks.push(context(&format!(
        "run `{}` · per-app results follow in this thread",
        run.run_id
    )));
    SlackMessage {
        text: format!(
            "{notice}: {} {}, {skipped} skipped",
            verb(run.action),
            apps(queued)
        ),
        blocks,
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Restage => "restaging",
        Action::Restart => "restarting",
        Action::None => "reporting on",
    }
}

/// `• reason (count)` lines for the most common reasons.
fn top_reasons<'a>(reasons: impl Iterator<Item = &'a str>, limit: usize) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut first_seen: Vec<&str> = Vec::new();
    for r in reasons {
        let n = counts.entry(r).or_insert(0);
        if *n == 0 {
            first_seen.push(r);
        }
        *n += 1;
    }
    // Stable: most frequent first, ties in order of appearance.
    let mut ranked: Vec<(usize, &str)> = first_seen
        .iter()
        .enumerate()
        .map(|(i, r)| (i, *r))
        .collect();
    ranked.sort_by_key(|(i, r)| (std::cmp::Reverse(counts[r]), *i));
    let mut out: Vec<String> = ranked
        .iter()
        .take(limit)
        .map(|(_, r)| format!("• {} ({})", escape(&truncate(r, REASON_MAX)), counts[r]))
        .collect();
    if ranked.len() > limit {
        let others = ranked.len() - limit;
        out.push(format!(
            "• …and {others} other {}",
            if others == 1 { "reason" } else { "reasons" }
        ));
    }
    out.join("\n")
}

fn place(job: &RestageJob) -> String {
    format!(
        "{} ({}/{})",
        escape(&job.app.name),
        escape(&job.app.org_name),
        escape(&job.app.space_name)
    )
}

/// One app's result, e.g. `:white_check_mark: shop (acme/prod) restaged → ruby_buildpack 1.10.29`.
pub fn result_line(job: &RestageJob, outcome: &Outcome) -> ResultLine {
    let who = place(job);
    let reason = |r: &str| escape(&truncate(r, REASON_MAX));
    let text = match outcome {
        Outcome::Restaged { version, .. } => {
            let done = match job.action {
                Action::Restart => "restarted",
                _ => "restaged",
            };
            let version = version
                .clone()
                .or_else(|| job.target_version.as_ref().map(ToString::to_string));
            match (&job.buildpack, version) {
                (Some(bp), Some(v)) => format!(
                    ":white_check_mark: {who} {done} → {} {}",
                    escape(bp),
                    escape(&v)
                ),
                (None, Some(v)) => format!(":white_check_mark: {who} {done} → {}", escape(&v)),
                _ => format!(":white_check_mark: {who} {done}"),
            }
        }
        Outcome::AlreadyCurrent => format!(":large_blue_circle: {who} already current"),
        Outcome::DoneByOwner { .. } => {
            format!(":large_blue_circle: {who} already current: done by its owner")
        }
        Outcome::Skipped { reason: r } => format!(":fast_forward: {who} skipped: {}", reason(r)),
        Outcome::Deferred {
            reason: r,
            retry_after,
        } => match retry_after {
            Some(d) => format!(
                ":hourglass_flowing_sand: {who} deferred: {} (retrying in {})",
                reason(r),
                humantime::format_duration(Duration::from_secs(d.as_secs()))
            ),
            None => format!(":hourglass_flowing_sand: {who} deferred: {}", reason(r)),
        },
        Outcome::Failed {
            reason: r,
            permanent: true,
        } => format!(":x: {who} failed: {}", reason(r)),
        Outcome::Failed { reason: r, .. } => {
            format!(":warning: {who} failed, will retry: {}", reason(r))
        }
        Outcome::RolledBack { reason: r, .. } => {
            format!(":rewind: {who} rolled back: {}", reason(r))
        }
        Outcome::Held { reason: r, .. } => format!(":pause_button: {who} {}", reason(r)),
    };
    ResultLine {
        kind: outcome.kind(),
        text: truncate(&text, SECTION_TEXT_MAX),
    }
}

/// Packs result lines into as few replies as Slack's limits allow, in order.
/// Every line lands in exactly one reply.
pub fn pack_replies(lines: &[ResultLine]) -> Vec<PackedReply> {
    let mut replies = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let mut sections: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut budget = 0usize;
        let mut end = start;
        while end < lines.len() {
            let line = &lines[end].text;
            let len = line.chars().count();
            if budget + len + 1 > REPLY_TEXT_BUDGET && end > start {
                break;
            }
            let current_len = current.chars().count();
            if current_len > 0 && current_len + 1 + len > SECTION_TEXT_MAX {
                if sections.len() + 1 >= MAX_BLOCKS {
                    break;
                }
                sections.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(line);
            budget += len + 1;
            end += 1;
        }
        if !current.is_empty() {
            sections.push(current);
        }
        let batch = &lines[start..end];
        replies.push(PackedReply {
            message: SlackMessage {
                text: tally_text(batch.iter().map(|l| l.kind)),
                blocks: sections.iter().map(|s| section(s)).collect(),
            },
            lines: batch.len(),
        });
        start = end;
    }
    replies
}

/// `3 restaged, 1 failed` in a fixed order.
fn tally_text(kinds: impl Iterator<Item = OutcomeKind>) -> String {
    let mut counts: HashMap<OutcomeKind, usize> = HashMap::new();
    for k in kinds {
        *counts.entry(k).or_insert(0) += 1;
    }
    let order = [
        OutcomeKind::Restaged,
        OutcomeKind::AlreadyCurrent,
        OutcomeKind::Skipped,
        OutcomeKind::Deferred,
        OutcomeKind::Failed,
        OutcomeKind::RolledBack,
    ];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|k| counts.get(k).map(|n| format!("{n} {k}")))
        .collect();
    parts.join(", ")
}

/// Counts of a run by each app's newest outcome; discovery's skips count as skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub restaged: usize,
    pub already_current: usize,
    /// Of those, the apps someone else (their owner) had already restaged.
    pub done_by_owner: usize,
    pub skipped: usize,
    /// Final failures, rolled-back apps included (both need an operator).
    pub failed: usize,
    /// Of those, the apps whose new droplet crashed and was rolled back.
    pub rolled_back: usize,
    /// Deferred, retryable failures and jobs with no outcome yet.
    pub in_progress: usize,
}

impl Tally {
    pub fn of(view: &RunView) -> Self {
        let mut t = Tally {
            skipped: view.record.skipped.len(),
            ..Tally::default()
        };
        for latest in latest_jobs(view) {
            match &latest.job.outcome {
                Some(Outcome::Restaged { .. }) => t.restaged += 1,
                Some(Outcome::AlreadyCurrent) => t.already_current += 1,
                Some(Outcome::DoneByOwner { .. }) => {
                    t.already_current += 1;
                    t.done_by_owner += 1;
                }
                Some(Outcome::Skipped { .. }) => t.skipped += 1,
                Some(o @ Outcome::Failed { .. }) if o.is_final() => t.failed += 1,
                // A failure too: the app runs its previous droplet again.
                Some(Outcome::RolledBack { .. }) => {
                    t.failed += 1;
                    t.rolled_back += 1;
                }
                _ => t.in_progress += 1,
            }
        }
        t
    }
}

/// The root message rewritten as the run's result, with Retry/Skip buttons
/// while apps have failed. `now` stands in for the end time of a run that has
/// not completed (a summary refreshed after an operator's action).
pub fn summary_message(view: &RunView, now: DateTime<Utc>) -> SlackMessage {
    let record = &view.record;
    let notice = record.notice.to_string();
    let tally = Tally::of(view);
    let latest = latest_jobs(view);
    let title = if tally.in_progress > 0 {
        format!("{notice} rollout: in progress")
    } else if tally.failed > 0 {
        format!("{notice} rollout: finished with failures")
    } else {
        format!("{notice} rollout: done")
    };
    let mut pairs = vec![
        ("Restaged", tally.restaged.to_string()),
        ("Already current", tally.already_current.to_string()),
        ("Skipped", tally.skipped.to_string()),
        ("Failed", tally.failed.to_string()),
    ];
    if tally.done_by_owner > 0 {
        pairs.push(("Done by owner", tally.done_by_owner.to_string()));
    }
    if tally.rolled_back > 0 {
        pairs.push(("Rolled back", tally.rolled_back.to_string()));
    }
    if tally.in_progress > 0 {
        pairs.push(("In progress", tally.in_progress.to_string()));
    }
    let mut blocks = vec![header(&title), fields(&pairs)];

    let failures: Vec<String> = latest
        .iter()
        .filter(|l| l.is_final_failure())
        .map(|l| {
            let app = &l.job.app;
            let reason = l
                .job
                .outcome
                .as_ref()
                .and_then(Outcome::reason)
                .unwrap_or("");
            format!(
                "• {} ({}/{}): {}",
                escape(&app.name),
                escape(&app.org_name),
                escape(&app.space_name),
                escape(&truncate(reason, REASON_MAX))
            )
        })
        .collect();
    if !failures.is_empty() {
        let mut text = String::from("*Failed:*");
        for f in failures.iter().take(LISTED_FAILURES) {
            text.push('\n');
            text.push_str(f);
        }
        if failures.len() > LISTED_FAILURES {
            text.push_str(&format!(
                "\n• …and {} more (see the thread)",
                failures.len() - LISTED_FAILURES
            ));
        }
        blocks.push(section(&text));
    }

    let skip_reasons =
        record
            .skipped
            .iter()
            .map(|s| s.reason.as_str())
            .chain(latest.iter().filter_map(|l| match &l.job.outcome {
                Some(Outcome::Skipped { reason }) => Some(reason.as_str()),
                _ => None,
            }));
    let reasons = top_reasons(skip_reasons, LISTED_REASONS);
    if !reasons.is_empty() {
        blocks.push(section(&format!("*Skipped because:*\n{reasons}")));
    }

    let end = view.completed_at.unwrap_or(now);
    let took = (end - record.created_at).to_std().unwrap_or_default();
    blocks.push(context(&format!(
        "run `{}` · action {} · took {}",
        record.run_id,
        record.action,
        humantime::format_duration(Duration::from_secs(took.as_secs()))
    )));
    if tally.failed > 0 {
        blocks.push(failure_actions(record.run_id.as_str(), tally.failed));
    }

    let by_owner = match tally.done_by_owner {
        0 => String::new(),
        n => format!(" ({n} done by owner)"),
    };
    let mut text = format!(
        "{notice}: {} restaged, {} already current{by_owner}, {} skipped, {} failed",
        tally.restaged, tally.already_current, tally.skipped, tally.failed
    );
    if tally.rolled_back > 0 {
        text.push_str(&format!(" ({} rolled back)", tally.rolled_back));
    }
    if tally.in_progress > 0 {
        text.push_str(&format!(", {} in progress", tally.in_progress));
    }
    SlackMessage { text, blocks }
}

fn plain(text: &str) -> Value {
    json!({"type": "plain_text", "text": text, "emoji": true})
}

/// "Retry failed" and "Skip" buttons; both carry the run id as their value.
fn failure_actions(run_id: &str, failed: usize) -> Value {
    json!({
        "type": "actions",
        "block_id": format!("restager_run:{run_id}"),
        "elements": [
            {
                "type": "button",
                "action_id": RETRY_FAILED_ACTION,
                "style": "primary",
                "text": plain(&format!("Retry failed ({failed})")),
                "value": run_id,
                "confirm": {
                    "title": plain("Retry?"),
                    "text": plain(&format!("Queue the failed {} again.", apps(failed))),
                    "confirm": plain("Retry"),
                    "deny": plain("Cancel"),
                },
            },
            {
                "type": "button",
                "action_id": SKIP_FAILED_ACTION,
                "text": plain("Skip"),
                "value": run_id,
                "confirm": {
                    "title": plain("Skip?"),
                    "text": plain(&format!("Mark the failed {} as skipped.", apps(failed))),
                    "confirm": plain("Skip"),
                    "deny": plain("Cancel"),
                },
            },
        ],
    })
}

/// `1 app`, `3 apps`.
pub(crate) fn apps(n: usize) -> String {
    format!("{n} {}", if n == 1 { "app" } else { "apps" })
}

#[cfg(test)]
mod tests {

    #[test]
    fn counts_of_apps_read_as_english() {
        assert_eq!(apps(1), "1 app");
        assert_eq!(apps(0), "0 apps");
        assert_eq!(apps(3), "3 apps");
    }

    use chrono::TimeZone;

    use super::*;
    use crate::domain::{AppRef, JobId, Notice, RunId, Version};
    use crate::ledger::{ExpectedJob, JobRecord, SkippedApp};

    fn app(i: usize) -> AppRef {
        AppRef {
            guid: format!("app-{i}"),
            name: format!("shop-{i}"),
            space_guid: "s".into(),
            space_name: "prod".into(),
            org_guid: "o".into(),
            org_name: "acme".into(),
        }
    }

    fn job(i: usize) -> RestageJob {
        let notice = Notice::Buildpack {
            buildpack: "ruby_buildpack".into(),
            version: Version::parse("1.10.29").expect("version"),
            stack: None,
        };
        let run = RunId::for_release(&notice.release_key());
        RestageJob::new(
            &run,
            notice,
            Action::Restage,
            app(i),
            format!("droplet-{i}"),
            Some("ruby_buildpack".into()),
            Some(Version::parse("1.10.29").expect("version")),
        )
    }

    #[test]
    fn result_lines_read_like_the_spec() {
        let restaged = Outcome::Restaged {
            droplet_guid: "d".into(),
            deployment_guid: "x".into(),
            version: None,
            note: None,
            deployed_at: None,
        };
        assert_eq!(
            result_line(&job(1), &restaged).text,
            ":white_check_mark: shop-1 (acme/prod) restaged → ruby_buildpack 1.10.29"
        );
        let failed = Outcome::Failed {
            reason: "staging <failed> & stopped".into(),
            permanent: true,
        };
        assert_eq!(
            result_line(&job(2), &failed).text,
            ":x: shop-2 (acme/prod) failed: staging &lt;failed&gt; &amp; stopped"
        );
    }

    #[test]
    fn replies_split_within_slack_limits_and_keep_every_line() {
        let long = Outcome::Failed {
            reason: "x".repeat(1000),
            permanent: true,
        };
        let lines: Vec<ResultLine> = (0..200).map(|i| result_line(&job(i), &long)).collect();
        let replies = pack_replies(&lines);
        assert!(replies.len() > 1);
        assert_eq!(replies.iter().map(|r| r.lines).sum::<usize>(), 200);
        for r in &replies {
            assert!(r.message.blocks.len() <= MAX_BLOCKS);
            let mut total = 0;
            for b in &r.message.blocks {
                let text = b["text"]["text"].as_str().expect("section text");
                assert!(text.chars().count() <= SECTION_TEXT_MAX);
                total += text.chars().count();
            }
            assert!(total <= REPLY_TEXT_BUDGET);
        }
        let short: Vec<ResultLine> = (0..20)
            .map(|i| result_line(&job(i), &Outcome::AlreadyCurrent))
            .collect();
        let replies = pack_replies(&short);
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].message.text, "20 already current");
    }

    #[test]
    fn summary_counts_newest_retry_and_offers_buttons_only_on_failure() {
        let j1 = job(1);
        let j2 = job(2);
        let retry_id = j2.job_id.retry(1);
        let created = Utc
            .with_ymd_and_hms(2026, 7, 20, 10, 0, 0)
            .single()
            .expect("time");
        let mut view = RunView {
            record: RunRecord {
                run_id: j1.run_id.clone(),
                notice: j1.notice.clone(),
                action: Action::Restage,
                created_at: created,
                expected: vec![
                    ExpectedJob::for_job(&j1),
                    ExpectedJob::for_job(&j2),
                    ExpectedJob {
                        retry: 1,
                        job_id: retry_id.clone(),
                        ..ExpectedJob::for_job(&j2)
                    },
                ],
                skipped: vec![SkippedApp {
                    app: app(9),
                    reason: "app is stopped".into(),
                }],
                note: None,
                released_at: None,
                release_url: None,
            },
            jobs: vec![
                JobRecord {
                    job_id: j1.job_id.clone(),
                    app: app(1),
                    outcome: Some(Outcome::AlreadyCurrent),
                    attempts: 1,
                    updated_at: None,
                    progress: None,
                },
                JobRecord {
                    job_id: j2.job_id.clone(),
                    app: app(2),
                    outcome: Some(Outcome::Failed {
                        reason: "boom".into(),
                        permanent: true,
                    }),
                    attempts: 1,
                    updated_at: None,
                    progress: None,
                },
                JobRecord {
                    job_id: retry_id,
                    app: app(2),
                    outcome: Some(Outcome::Failed {
                        reason: "boom again".into(),
                        permanent: true,
                    }),
                    attempts: 1,
                    updated_at: None,
                    progress: None,
                },
            ],
            completed_at: Some(created + chrono::Duration::seconds(252)),
            slack_thread: None,
            rollout: None,
        };
        let summary = summary_message(&view, Utc::now());
        let json = serde_json::to_string(&summary.blocks).expect("json");
        assert_eq!(
            summary.text,
            "ruby_buildpack 1.10.29: 0 restaged, 1 already current, 1 skipped, 1 failed"
        );
        assert!(
            json.contains("boom again") && !json.contains("boom\""),
            "{json}"
        );
        assert!(json.contains(RETRY_FAILED_ACTION) && json.contains(SKIP_FAILED_ACTION));
        assert!(json.contains("took 4m 12s"), "{json}");
        view.jobs[2].outcome = Some(Outcome::Skipped {
            reason: "skipped by ops".into(),
        });
        let summary = summary_message(&view, Utc::now());
        let json = serde_json::to_string(&summary.blocks).expect("json");
        assert!(!json.contains(RETRY_FAILED_ACTION), "{json}");
        assert_eq!(JobId::parse(j1.job_id.as_str()), Ok(j1.job_id));
    }
}
