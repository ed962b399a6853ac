//! Owners' channels against the local Slack server: a run planned on the
//! simulator from spaces' and orgs' `restager.io/slack-channel`
//! annotations tells each owners' channel only its own apps (one message,
//! updated in place, results in its thread; a second process updates the
//! same message), while the operators' thread keeps every app; a channel
//! that answers `not_in_channel` is reported once in the operators' thread
//! and never tried again, by either process.

use std::sync::Arc;
use std::time::Duration;

use restager_shared::config::{ScopeSettings, WindowSettings};
use restager_shared::discovery;
use restager_shared::domain::{Action, Outcome, RestageJob};
use restager_shared::ledger::{Ledger, MemoryLedger, OwnerChannel};
use restager_shared::notify::Notifier;
use restager_shared::queue::MemoryQueue;
use restager_shared::slack::{OutboxConfig, SlackNotifier};
use restager_shared::window::Windows;
use test_support::engine::{app, notice, start};
use test_support::rollout::at;

use crate::slack::{CHANNEL, Request, SlackSim, fast};

const SHOP: &str = "C0SHOP00001";
const BLOG: &str = "C0BLOG00001";
const GONE: &str = "C0GONE00001";
const FLUSH: Duration = Duration::from_secs(10);

fn app_in(name: &str, org: &str, space: &str) -> cf_sim::AppSpec {
    let mut spec = app(name);
    spec.org = org.into();
    spec.space = space.into();
    spec
}

fn restaged() -> Outcome {
    Outcome::Restaged {
        droplet_guid: "new-droplet".into(),
        deployment_guid: "deployment".into(),
        version: Some("1.10.30".into()),
        note: None,
        deployed_at: None,
    }
}

fn to(slack: &SlackSim, channel: &str) -> Vec<Request> {
    slack
        .requests()
        .into_iter()
        .filter(|r| r.body["channel"] == channel)
        .collect()
}

fn text_of(r: &Request) -> String {
    format!("{} {}", r.body["text"], r.body["blocks"])
}

fn top_level_posts(requests: &[Request]) -> Vec<&Request> {
    requests
        .iter()
        .filter(|r| r.path.ends_with("chat.postMessage") && r.body.get("thread_ts").is_none())
        .collect()
}

/// Records what the worker would and tells `notifier`, as the worker does.
async fn finish(
    ledger: &MemoryLedger,
    notifier: &SlackNotifier,
    job: &RestageJob,
    outcome: Outcome,
) {
    ledger
        .record_outcome(&job.run_id, &job.job_id, &outcome)
        .await
        .expect("recorded");
    notifier.app_finished(job, &outcome).await.expect("queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_channels_get_only_their_apps_and_a_refused_channel_is_reported_once() {
    let slack = SlackSim::start().await;
    slack.refuse_channel(GONE, "not_in_channel");
    let h = start().await;
    for (name, org, space) in [
        ("shop-a", "acme", "shop"),
        ("shop-b", "acme", "shop"),
        ("blog-a", "acme", "blog"),
        ("ops-a", "acme", "ops"),
        ("beta-a", "beta", "web"),
    ] {
        h.sim.add_app(app_in(name, org, space));
    }
    assert!(
        h.sim
            .set_space_annotation("acme", "shop", "restager.io/slack-channel", SHOP)
    );
    assert!(h.sim.set_space_annotation(
        "acme",
        "shop",
        "restager.io/window",
        "Mon-Sun 02:00-06:00 Europe/Berlin"
    ));
    assert!(
        h.sim
            .set_space_annotation("acme", "blog", "restager.io/slack-channel", BLOG)
    );
    assert!(
        h.sim
            .set_org_annotation("beta", "restager.io/slack-channel", GONE)
    );
    let scope = ScopeSettings {
        windows: WindowSettings {
            windows: Windows::always(),
            ..WindowSettings::default()
        },
        ..ScopeSettings::default()
    };

    // 10:00 in Berlin: planned, shop held for its window, announced.
    let ledger = Arc::new(MemoryLedger::new());
    let queue = MemoryQueue::new(Duration::from_secs(600));
    let first = SlackNotifier::new(slack.api(), CHANNEL, ledger.clone(), fast());
    let now = at("2021-12-03T09:00:00Z");
    let plan = discovery::plan(&h.cf, &notice(), Action::Restage, &scope)
        .await
        .expect("plan");
    let run = plan.clone().into_run(now);
    let fanned = discovery::fan_out(&run, ledger.as_ref(), &queue, &first, now)
        .await
        .expect("fan out");
    assert_eq!((fanned.queued, fanned.held), (3, 2));
    first.flush(FLUSH).await;
    let job = |name: &str| {
        plan.jobs
            .iter()
            .find(|j| j.app.name == name)
            .expect("planned")
            .clone()
    };
    assert_eq!(
        job("beta-a").slack_channel.as_deref(),
        Some(GONE),
        "the org's channel"
    );

    // Results, some from a second process (another worker).
    let second = SlackNotifier::new(slack.api(), CHANNEL, ledger.clone(), fast());
    finish(&ledger, &first, &job("blog-a"), restaged()).await;
    finish(&ledger, &first, &job("beta-a"), restaged()).await;
    finish(&ledger, &first, &job("ops-a"), restaged()).await;
    first.flush(FLUSH).await;
    finish(&ledger, &second, &job("shop-a"), restaged()).await;
    let by_owner = Outcome::DoneByOwner {
        droplet_guid: "theirs".into(),
        note: "done by its owner".into(),
    };
    let completed = ledger
        .record_outcome(&job("shop-b").run_id, &job("shop-b").job_id, &by_owner)
        .await
        .expect("recorded");
    second
        .app_finished(&job("shop-b"), &by_owner)
        .await
        .expect("queued");
    assert!(completed.completed_run);
    let view = ledger
        .get_run(&plan.run_id)
        .await
        .expect("ledger")
        .expect("run");
    second.run_completed(&view).await.expect("queued");
    second.flush(FLUSH).await;

    // Each owners' channel: one message, about its own apps only, updated in place.
    for (channel, mine, others) in [
        (
            SHOP,
            &["shop-a", "shop-b"][..],
            &["blog-a", "ops-a", "beta-a"][..],
        ),
        (
            BLOG,
            &["blog-a"][..],
            &["shop-a", "shop-b", "ops-a", "beta-a"][..],
        ),
    ] {
        let requests = to(&slack, channel);
        let posts = top_level_posts(&requests);
        assert_eq!(posts.len(), 1, "one message in {channel}: {requests:#?}");
        for r in &requests {
            let text = text_of(r);
            for app in others {
                assert!(!text.contains(app), "{app} in {channel}: {text}");
            }
        }
        let all: String = requests.iter().map(text_of).collect();
        for app in mine {
            assert!(all.contains(app), "{app} missing from {channel}");
        }
        let updates: Vec<&Request> = requests
            .iter()
            .filter(|r| r.path.ends_with("chat.update"))
            .collect();
        assert!(!updates.is_empty(), "{channel} updated in place");
        let replies = requests
            .iter()
            .filter(|r| r.body.get("thread_ts").is_some())
            .count();
        assert!(replies >= 1, "results threaded in {channel}");
        let threads: std::collections::HashSet<String> = requests
            .iter()
            .filter_map(|r| r.body.get("thread_ts").or(r.body.get("ts")))
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            threads.len(),
            1,
            "every update and reply is on the one message: {threads:?}"
        );
        let last = text_of(updates.last().expect("an update"));
        assert!(last.contains("(done)"), "{last}");
    }
    let shop = to(&slack, SHOP);
    let advance = text_of(top_level_posts(&shop)[0]);
    assert!(
        advance.contains("waits for its maintenance window, Sat 4 Dec 02:00 CET (Europe/Berlin)"),
        "{advance}"
    );
    assert!(
        advance.contains("cf restage shop-a --strategy rolling"),
        "{advance}"
    );
    let last_shop = text_of(
        shop.iter()
            .rev()
            .find(|r| r.path.ends_with("chat.update"))
            .expect("update"),
    );
    assert!(last_shop.contains("done by its owner"), "{last_shop}");

    // The refused channel: tried once, reported once, never again.
    assert_eq!(to(&slack, GONE).len(), 1, "{:#?}", to(&slack, GONE));
    let operators = to(&slack, CHANNEL);
    let reported = operators
        .iter()
        .filter(|r| {
            text_of(r).contains(&format!(
                "refused the owners' channel <#{GONE}> (`not_in_channel`)"
            ))
        })
        .count();
    assert_eq!(reported, 1);
    // The operators' copy: every app, the advance notice and the summary.
    let all: String = operators.iter().map(text_of).collect();
    for app in ["shop-a", "shop-b", "blog-a", "ops-a", "beta-a"] {
        assert!(
            all.contains(app),
            "{app} missing from the operators' thread"
        );
    }
    assert!(all.contains("Advance notice"), "{all}");
    let rollout = ledger
        .rollout(&plan.run_id)
        .await
        .expect("ledger")
        .expect("rollout");
    assert!(matches!(
        rollout.owner_channels.get(SHOP),
        Some(OwnerChannel::Posted { .. })
    ));
    assert!(matches!(
        rollout.owner_channels.get(BLOG),
        Some(OwnerChannel::Posted { .. })
    ));
    assert_eq!(
        rollout.owner_channels.get(GONE),
        Some(&OwnerChannel::Refused {
            error: "not_in_channel".into()
        })
    );
}

/// Slack allows about a message a second per channel and a 429's
/// `Retry-After` holds for every channel: calls on one channel keep their
/// interval while another channel's may come in between, and after a 429
/// no channel is called before the wait is over. Asserted as lower bounds
/// on the server's arrival times, which a slow machine only lengthens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_channel_keeps_its_pace_and_a_retry_after_holds_for_every_channel() {
    let slack = SlackSim::start().await;
    let h = start().await;
    for (name, space) in [("a-1", "a"), ("a-2", "a"), ("b-1", "b"), ("b-2", "b")] {
        h.sim.add_app(app_in(name, "acme", space));
    }
    assert!(
        h.sim
            .set_space_annotation("acme", "a", "restager.io/slack-channel", SHOP)
    );
    assert!(
        h.sim
            .set_space_annotation("acme", "b", "restager.io/slack-channel", BLOG)
    );
    let ledger = Arc::new(MemoryLedger::new());
    let queue = MemoryQueue::new(Duration::from_secs(600));
    let config = OutboxConfig {
        min_interval: Duration::from_millis(150),
        ..fast()
    };
    let notifier = SlackNotifier::new(slack.api(), CHANNEL, ledger.clone(), config.clone());
    let now = chrono::Utc::now();
    let plan = discovery::plan(&h.cf, &notice(), Action::Restage, &ScopeSettings::default())
        .await
        .expect("plan");
    discovery::fan_out(
        &plan.clone().into_run(now),
        ledger.as_ref(),
        &queue,
        &notifier,
        now,
    )
    .await
    .expect("fan out");
    // The first call after the root is refused with a one-second wait.
    notifier.flush(FLUSH).await;
    assert_eq!(slack.requests().len(), 1, "only the root so far");
    slack.script(crate::slack::Reply::Status {
        status: 429,
        headers: vec![("retry-after", "1".into())],
        body: String::new(),
    });
    for job in &plan.jobs {
        finish(&ledger, &notifier, job, restaged()).await;
    }
    notifier.flush(FLUSH).await;

    let requests = slack.requests();
    let limited = requests[1].at;
    for r in requests.iter().skip(2) {
        assert!(
            r.at.duration_since(limited) >= Duration::from_secs(1),
            "a call to {} came {:?} after the 429",
            r.body["channel"],
            r.at.duration_since(limited)
        );
    }
    for channel in [CHANNEL, SHOP, BLOG] {
        let calls = to(&slack, channel);
        assert!(calls.len() >= 2, "{channel}: {calls:#?}");
        for pair in calls.windows(2) {
            assert!(
                pair[1].at.duration_since(pair[0].at) >= config.min_interval,
                "{channel} called twice within {:?}",
                config.min_interval
            );
        }
    }
}
