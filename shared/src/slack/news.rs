//! Messages about a run's course, threaded under its root: a wave released,
//! the run halted by its error budget (with Resume and Abort buttons),
//! paused, resumed or aborted by someone; and the waves on the root message.

use serde_json::{Value, json};

use super::api::SlackMessage;
use super::messages::escape;
use crate::ledger::{Rollout, RunView};
use crate::notify::RolloutNews;

pub const RESUME_RUN_ACTION: &str = "restager_resume_run";
pub const ABORT_RUN_ACTION: &str = "restager_abort_run";

/// Failures named in a halt message; the rest are counted.
const LISTED: usize = 10;

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn plain(text: &str) -> Value {
    json!({"type": "plain_text", "text": text, "emoji": true})
}

/// "Resume" and "Abort" buttons; both carry the run id as their value.
fn controls(run_id: &str) -> Value {
    json!({
        "type": "actions",
        "block_id": format!("restager_control:{run_id}"),
        "elements": [
            {
                "type": "button",
                "action_id": RESUME_RUN_ACTION,
                "style": "primary",
                "text": plain("Resume"),
                "value": run_id,
                "confirm": {
                    "title": plain("Resume the run?"),
                    "text": plain("Held jobs are queued again; the error budget counts failures from now on."),
                    "confirm": plain("Resume"),
                    "deny": plain("Cancel"),
                },
            },
            {
                "type": "button",
                "action_id": ABORT_RUN_ACTION,
                "style": "danger",
                "text": plain("Abort"),
                "value": run_id,
                "confirm": {
                    "title": plain("Abort the run?"),
                    "text": plain("Every job not finished is recorded as skipped; restages in flight finish."),
                    "confirm": plain("Abort"),
                    "deny": plain("Cancel"),
                },
            },
        ],
    })
}

/// The threaded message for one change of a run's course.
pub fn news_message(view: &RunView, news: &RolloutNews) -> SlackMessage {
    let run_id = view.record.run_id.as_str();
    let (text, buttons) = match news {
        RolloutNews::WaveReleased { wave, jobs } => {
            let name = view
                .rollout
                .as_ref()
                .and_then(|r| r.waves.get(*wave))
                .map(|w| format!(" ({})", escape(&w.name)))
                .unwrap_or_default();
            (
                format!(
                    ":ocean: Wave {}{name} released: {jobs} {} queued.",
                    wave + 1,
                    apps(*jobs)
                ),
                false,
            )
        }
        RolloutNews::Halted { reason, failures } => {
            let mut text = format!(
                ":octagonal_sign: *{}*. No new build or deployment starts; restages in flight finish and are verified; the rest are held.",
                escape(&capitalized(reason))
            );
            for f in failures.iter().take(LISTED) {
                text.push_str(&format!("\n• {}", escape(f)));
            }
            if failures.len() > LISTED {
                text.push_str(&format!("\n• …and {} more", failures.len() - LISTED));
            }
            text.push_str(&format!(
                "\nResume re-arms the budget; or `restager resume {run_id}` / `restager abort {run_id}`."
            ));
            (text, true)
        }
        RolloutNews::Paused { by } => (
            format!(
                ":double_vertical_bar: Paused by {}: no new restage starts until someone resumes.",
                escape(by)
            ),
            true,
        ),
        RolloutNews::Resumed { by, requeued } => (
            format!(
                ":arrow_forward: Resumed by {}: {requeued} held {} queued again.",
                escape(by),
                apps(*requeued)
            ),
            false,
        ),
        RolloutNews::Aborted { by, skipped } => (
            format!(
                ":black_square_for_stop: Aborted by {}: {skipped} {} recorded as skipped.",
                escape(by),
                apps(*skipped)
            ),
            false,
        ),
    };
    let mut blocks = vec![section(&text)];
    if buttons {
        blocks.push(controls(run_id));
    }
    SlackMessage {
        text: news.to_string(),
        blocks,
    }
}

/// The root message's line about waves and the budget; `None` for a run of
/// one wave with nothing to say.
pub fn waves_text(rollout: &Rollout) -> Option<String> {
    if rollout.waves.len() <= 1 {
        return None;
    }
    let mut text = String::from("*Waves:*");
    for (i, w) in rollout.waves.iter().enumerate() {
        text.push_str(&format!(
            "\n{}. {} — {}",
            i + 1,
            escape(&w.name),
            apps(w.jobs)
        ));
    }
    text.push_str(&format!(
        "\nEach wave waits for the one before and a {} soak; the run halts after {} {}.",
        humantime::format_duration(rollout.soak()),
        rollout.max_failures + 1,
        if rollout.max_failures == 0 {
            "failure"
        } else {
            "failures"
        }
    ));
    Some(text)
}

fn apps(n: usize) -> &'static str {
    if n == 1 { "app" } else { "apps" }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_halt_names_the_failures_and_offers_resume_and_abort() {
        let view: RunView = serde_json::from_value(json!({
            "record": {
                "run_id": "run-1", "notice": {"type": "buildpack.released", "buildpack": "ruby_buildpack", "version": "1.0.0"},
                "action": "restage", "created_at": "2026-12-01T10:00:00Z", "expected": [], "skipped": []
            },
            "jobs": [], "completed_at": null, "slack_thread": null
        }))
        .expect("view");
        let news = RolloutNews::Halted {
            reason: "run halted after 3 failures (budget 2)".into(),
            failures: vec!["shop (acme/prod): staging failed <oops>".into()],
        };
        let message = news_message(&view, &news);
        let body = serde_json::to_string(&message.blocks).expect("json");
        assert!(
            body.contains("Run halted after 3 failures (budget 2)"),
            "{body}"
        );
        assert!(body.contains("&lt;oops&gt;"), "names are escaped: {body}");
        assert!(body.contains(RESUME_RUN_ACTION) && body.contains(ABORT_RUN_ACTION));
        let released = news_message(&view, &RolloutNews::WaveReleased { wave: 1, jobs: 2 });
        assert!(
            !serde_json::to_string(&released.blocks)
                .expect("json")
                .contains(RESUME_RUN_ACTION)
        );
    }
}
