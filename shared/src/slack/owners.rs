//! The owners' side of Slack (issue #14): the advance notice of apps that
//! wait for their maintenance window, the one message per owners' channel
//! and run that lists that channel's apps (posted once, updated in place as
//! they finish, their results threaded under it), and the note in the
//! operators' thread when Slack refuses an owners' channel.
//!
//! The operators' channel keeps the whole run either way: owners get a copy
//! of their apps, never the only one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::api::{SlackApiError, SlackMessage};
use super::latest::latest_jobs;
use super::messages::{context, escape, header, result_line, section, truncate};
use crate::config::SLACK_CHANNEL_ANNOTATION;
use crate::domain::{Action, AppRef, Outcome};
use crate::ledger::{ExpectedJob, Rollout, RunRecord, RunView};
use crate::notify::Upcoming;
use crate::window::{Start, Windows, start};

/// Slack's answers that mean the channel itself cannot be posted in. Any
/// other refusal (blocks Slack rejects) is restager's fault, not the
/// channel's, and is logged like every refused message.
const CHANNEL_REFUSALS: &[&str] = &[
    "not_in_channel",
    "channel_not_found",
    "is_archived",
    "restricted_action",
    "team_access_not_granted",
];

/// Lines per section, well within Slack's 3000 characters, and apps listed
/// in one message, well within its 50 blocks.
const LINES_PER_SECTION: usize = 15;
const LISTED_APPS: usize = 150;
/// Self-service commands shown; the rest follow the same pattern.
const LISTED_COMMANDS: usize = 5;

/// The Slack error when it says the channel cannot be posted in.
pub fn channel_refusal(e: &SlackApiError) -> Option<&str> {
    match e {
        SlackApiError::Refused { error, .. } if CHANNEL_REFUSALS.contains(&error.as_str()) => {
            Some(error)
        }
        _ => None,
    }
}

/// The owners' channels a run's apps name, other than the operators'.
pub fn owner_channels(record: &RunRecord, operators: &str) -> BTreeSet<String> {
    record
        .expected
        .iter()
        .filter_map(|e| e.slack_channel.clone())
        .filter(|c| c != operators)
        .collect()
}

/// `shop (acme/prod)`, escaped.
fn place(app: &AppRef) -> String {
    format!(
        "{} ({}/{})",
        escape(&app.name),
        escape(&app.org_name),
        escape(&app.space_name)
    )
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Restart => "restarted",
        _ => "restaged",
    }
}

/// Why the apps are touched: the release, linked to its page when known.
fn why(record: &RunRecord) -> String {
    let release = escape(&record.notice.to_string());
    let release = match &record.release_url {
        Some(url) => format!("<{url}|{release}>"),
        None => release,
    };
    format!(
        "*Why:* {release} was released; these apps are {} to pick it up.",
        verb(record.action)
    )
}

/// How an owner does it now, so the window finds the app current.
fn how(record: &RunRecord, apps: &[&AppRef]) -> Option<String> {
    if apps.is_empty() {
        return None;
    }
    let command = match record.action {
        Action::Restart => "restart",
        _ => "restage",
    };
    let mut text = String::from("*Do it yourself, now:* ");
    let lines: Vec<String> = apps
        .iter()
        .take(LISTED_COMMANDS)
        .map(|a| {
            format!(
                "`cf target -o {} -s {} && cf {command} {} --strategy rolling`",
                escape(&a.org_name),
                escape(&a.space_name),
                escape(&a.name)
            )
        })
        .collect();
    text.push_str(&lines.join("\n"));
    if apps.len() > LISTED_COMMANDS {
        text.push_str(&format!(
            "\n…and likewise for the other {}",
            apps.len() - LISTED_COMMANDS
        ));
    }
    text.push_str("\nrestager then finds the app current and leaves it alone.");
    Some(text)
}

/// Lines as sections of at most [`LINES_PER_SECTION`], the list cut at
/// [`LISTED_APPS`] with a count of the rest.
fn listed(lines: &[String], rest: &str) -> Vec<Value> {
    let mut blocks: Vec<Value> = lines
        .iter()
        .take(LISTED_APPS)
        .collect::<Vec<_>>()
        .chunks(LINES_PER_SECTION)
        .map(|chunk| {
            let text: Vec<&str> = chunk.iter().map(|l| l.as_str()).collect();
            section(&text.join("\n"))
        })
        .collect();
    if lines.len() > LISTED_APPS {
        blocks.push(context(&format!(
            "…and {} more apps {rest}",
            lines.len() - LISTED_APPS
        )));
    }
    blocks
}

/// The advance notice in the operators' thread: every app that waits, by
/// when it may go, and which owners' channels were told too.
pub fn advance_message(record: &RunRecord, apps: &[Upcoming], operators: &str) -> SlackMessage {
    let mut by_when: BTreeMap<(DateTime<Utc>, &str), Vec<&Upcoming>> = BTreeMap::new();
    for app in apps {
        by_when.entry((app.at, &app.when)).or_default().push(app);
    }
    let mut lines = Vec::new();
    for ((_, when), group) in &by_when {
        lines.push(format!("*{}*", escape(when)));
        lines.extend(group.iter().map(|u| format!("• {}", place(&u.app))));
    }
    let mut blocks = vec![section(&format!(
        ":calendar: *Advance notice:* {} {} later, in {} maintenance window (or once the release is old enough).\n{}",
        apps.len(),
        if apps.len() == 1 {
            "app is restaged"
        } else {
            "apps are restaged"
        },
        if apps.len() == 1 { "its" } else { "their" },
        why(record)
    ))];
    blocks.extend(listed(&lines, "(see `restager status`)"));
    let places: Vec<&AppRef> = apps.iter().map(|u| &u.app).collect();
    if let Some(how) = how(record, &places) {
        blocks.push(section(&how));
    }
    let mut told: BTreeMap<&str, usize> = BTreeMap::new();
    for app in apps {
        if let Some(c) = app.slack_channel.as_deref().filter(|c| *c != operators) {
            *told.entry(c).or_default() += 1;
        }
    }
    if !told.is_empty() {
        let channels: Vec<String> = told.iter().map(|(c, n)| format!("<#{c}> ({n})")).collect();
        blocks.push(context(&format!(
            "Also told in their owners' channels: {}",
            channels.join(", ")
        )));
    }
    let first = by_when.keys().next().map(|(_, w)| *w).unwrap_or("later");
    SlackMessage {
        text: format!(
            "{}: {} {} wait for their maintenance window, the first {first}",
            record.notice,
            apps.len(),
            if apps.len() == 1 { "app" } else { "apps" }
        ),
        blocks,
    }
}

/// When a job without a final outcome may go, for its line.
fn pending_line(
    who: &str,
    expected: &ExpectedJob,
    rollout: Option<&Rollout>,
    now: DateTime<Utc>,
) -> String {
    let windows = match expected.window.as_deref().map(Windows::parse) {
        None => Windows::always(),
        Some(Ok(w)) => w,
        Some(Err(_)) => return format!(":grey_question: {who}: its window cannot be read"),
    };
    let (cutoff, not_before) =
        rollout.map_or((Default::default(), None), |r| (r.cutoff(), r.not_before));
    match start(&windows, cutoff, not_before, now) {
        Start::Hold { when, .. } => {
            format!(
                ":calendar: {who}: goes in its maintenance window, {}",
                escape(&when)
            )
        }
        Start::Now | Start::Soon { .. } => format!(":hourglass_flowing_sand: {who}: queued"),
    }
}

/// One app's line in its owners' message.
fn app_line(view: &RunView, latest: &super::latest::LatestJob<'_>, now: DateTime<Utc>) -> String {
    let who = place(&latest.job.app);
    let expected = latest.expected;
    match (&latest.job.outcome, expected) {
        (
            Some(Outcome::Held {
                reason,
                until: None,
            }),
            _,
        ) => {
            format!(":pause_button: {who}: {}", escape(&truncate(reason, 200)))
        }
        // Held for a time: the reason says when, as it was decided.
        (Some(Outcome::Held { reason, .. }), _) => {
            let why = reason.strip_prefix("held: ").unwrap_or(reason);
            format!(":calendar: {who}: {}", escape(&truncate(why, 200)))
        }
        (None, Some(e)) => pending_line(&who, e, view.rollout.as_ref(), now),
        (Some(outcome), Some(e)) => match e.to_job(&view.record) {
            Some(job) => result_line(&job, outcome).text,
            None => format!("{who}: {}", escape(&outcome.to_string())),
        },
        (Some(outcome), None) => format!("{who}: {}", escape(&outcome.to_string())),
        (None, None) => format!(":hourglass_flowing_sand: {who}: queued"),
    }
}

/// The run's message in one owners' channel: why, each of the channel's
/// apps as it stands now (waiting, with when; or how it ended), how to do
/// it oneself while any is still waiting.
pub fn owners_message(view: &RunView, channel: &str, now: DateTime<Utc>) -> SlackMessage {
    let record = &view.record;
    let mine: Vec<_> = latest_jobs(view)
        .into_iter()
        .filter(|l| l.expected.and_then(|e| e.slack_channel.as_deref()) == Some(channel))
        .collect();
    let open: Vec<&AppRef> = mine
        .iter()
        .filter(|l| !l.job.outcome.as_ref().is_some_and(Outcome::is_final))
        .map(|l| &l.job.app)
        .collect();
    let lines: Vec<String> = mine.iter().map(|l| app_line(view, l, now)).collect();
    let state = if open.is_empty() {
        "done"
    } else {
        "in progress"
    };
    let mut blocks = vec![
        header(&format!("{}: your apps ({state})", record.notice)),
        section(&why(record)),
    ];
    blocks.extend(listed(&lines, "(see `restager status`)"));
    if let Some(how) = how(record, &open) {
        blocks.push(section(&how));
    }
    blocks.push(context(&format!(
        "run `{}` · results in this thread · {SLACK_CHANNEL_ANNOTATION} routes these apps here; the operators' channel has the whole run",
        record.run_id
    )));
    let text = match (open.len(), mine.len()) {
        (0, 1) => format!("{}: your app is done", record.notice),
        (0, n) => format!("{}: your {n} apps are done", record.notice),
        (left, n) => format!(
            "{}: {} of your {n} apps done so far",
            record.notice,
            n - left
        ),
    };
    SlackMessage { text, blocks }
}

/// The note in the operators' thread when Slack refuses an owners' channel.
pub fn refused_message(view: Option<&RunView>, channel: &str, error: &str) -> SlackMessage {
    let spaces: BTreeSet<String> = view
        .map(|v| {
            v.record
                .expected
                .iter()
                .filter(|e| e.slack_channel.as_deref() == Some(channel))
                .map(|e| format!("{}/{}", escape(&e.app.org_name), escape(&e.app.space_name)))
                .collect()
        })
        .unwrap_or_default();
    let of = if spaces.is_empty() {
        String::new()
    } else {
        format!(" of {}", spaces.into_iter().collect::<Vec<_>>().join(", "))
    };
    let fix = match error {
        "not_in_channel" => "invite the bot there (`/invite @restager` in the channel)",
        "channel_not_found" => "check the channel id (a private channel must invite the bot first)",
        "is_archived" => "unarchive the channel or point the annotation at another",
        _ => "let the bot post there",
    };
    let text = format!(
        ":warning: Slack refused the owners' channel <#{channel}> (`{}`){of}, set by {SLACK_CHANNEL_ANNOTATION}: {fix}, or correct the annotation. Not tried again for this run; its apps' results are in this thread.",
        escape(error)
    );
    SlackMessage {
        text: format!("Slack refused the owners' channel {channel} ({error})"),
        blocks: vec![section(&text)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Notice, RestageJob, RunId, Version};
    use crate::ledger::JobRecord;

    fn job(name: &str, space: &str, channel: Option<&str>, window: Option<&str>) -> RestageJob {
        let notice = Notice::Buildpack {
            buildpack: "ruby_buildpack".into(),
            version: Version::parse("1.10.30").expect("version"),
            stack: None,
        };
        RestageJob::new(
            &RunId::for_release(&notice.release_key()),
            notice,
            Action::Restage,
            AppRef {
                guid: format!("{name}-guid"),
                name: name.into(),
                space_guid: format!("{space}-guid"),
                space_name: space.into(),
                org_guid: "acme-guid".into(),
                org_name: "acme".into(),
            },
            "droplet".into(),
            Some("ruby_buildpack".into()),
            Some(Version::parse("1.10.30").expect("version")),
        )
        .for_owners(window.map(str::to_string), channel.map(str::to_string))
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_owners_message_lists_only_its_channels_apps_with_when_and_how() {
        let jobs = [
            job(
                "shop",
                "prod",
                Some("C0SHOP0001"),
                Some("Mon-Sun 02:00-06:00 Europe/Berlin"),
            ),
            job("blog", "web", Some("C0BLOG0001"), None),
            job("cart", "prod", Some("C0SHOP0001"), None),
        ];
        let view = RunView {
            record: RunRecord {
                run_id: jobs[0].run_id.clone(),
                notice: jobs[0].notice.clone(),
                action: Action::Restage,
                created_at: at("2021-12-03T09:00:00Z"),
                expected: jobs.iter().map(ExpectedJob::for_job).collect(),
                skipped: Vec::new(),
                note: None,
                released_at: None,
                release_url: Some(
                    "https://github.com/cloudfoundry/ruby-buildpack/releases/tag/v1.10.30".into(),
                ),
            },
            jobs: jobs
                .iter()
                .map(|j| JobRecord {
                    job_id: j.job_id.clone(),
                    app: j.app.clone(),
                    outcome: (j.app.name == "cart").then_some(Outcome::Restaged {
                        droplet_guid: "d".into(),
                        deployment_guid: "x".into(),
                        version: Some("1.10.30".into()),
                        note: None,
                        deployed_at: None,
                    }),
                    attempts: 0,
                    updated_at: None,
                    progress: None,
                })
                .collect(),
            completed_at: None,
            slack_thread: None,
            rollout: None,
        };
        let message = owners_message(&view, "C0SHOP0001", at("2021-12-03T09:00:00Z"));
        let all = serde_json::to_string(&message.blocks).expect("json");
        assert!(all.contains("shop (acme/prod): goes in its maintenance window, Sat 4 Dec 02:00 CET (Europe/Berlin)"), "{all}");
        assert!(
            all.contains(":white_check_mark: cart (acme/prod) restaged"),
            "{all}"
        );
        assert!(!all.contains("blog"), "another channel's app: {all}");
        assert!(all.contains("cf restage shop --strategy rolling"), "{all}");
        assert!(
            !all.contains("cf restage cart"),
            "done apps need no command: {all}"
        );
        assert!(all.contains("<https://github.com/cloudfoundry/ruby-buildpack/releases/tag/v1.10.30|ruby_buildpack 1.10.30>"), "{all}");
        assert_eq!(
            message.text,
            "ruby_buildpack 1.10.30: 1 of your 2 apps done so far"
        );
        assert_eq!(
            owner_channels(&view.record, "C0SHOP0001")
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["C0BLOG0001".to_string()]
        );
    }

    #[test]
    fn only_channel_refusals_count_as_the_channels_fault() {
        let refused = |error: &str| SlackApiError::Refused {
            method: "chat.postMessage",
            error: error.into(),
        };
        assert_eq!(
            channel_refusal(&refused("not_in_channel")),
            Some("not_in_channel")
        );
        assert_eq!(
            channel_refusal(&refused("channel_not_found")),
            Some("channel_not_found")
        );
        assert_eq!(channel_refusal(&refused("invalid_blocks")), None);
        let text =
            serde_json::to_string(&refused_message(None, "C0SHOP0001", "not_in_channel").blocks)
                .expect("json");
        assert!(text.contains("/invite"), "{text}");
    }
}
