//! `restager demo`: the whole flow on a simulated foundation, in one process.
//!
//! Nothing here is demo-only logic: the simulator stands in for Cloud
//! Foundry, a local stand-in for Slack's Web API records what would have
//! been posted, and everything between them is what `serve` runs — the same
//! HTTP routes (the notice goes over real HTTP, signed), the same embedded
//! queue and ledger, the same worker.

mod foundation;
mod progress;
mod slack_capture;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use restager_shared::config::Secret;
use restager_shared::domain::{Notice, Outcome, OutcomeKind, RunId};
use restager_shared::ledger::RunView;
use restager_shared::signature::standard_webhooks;
use restager_shared::slack::OutboxConfig;
use restager_shared::slack::latest::latest_jobs;
use serde::Serialize;

use self::foundation::{AppPhase, Foundation};
use self::progress::{Phases, Progress};
use self::slack_capture::SlackCapture;
use super::CommandError;
use crate::cli::DemoArgs;
use crate::render::{outcome_name, place, plural, print_json, table};
use crate::running;
use crate::settings::{Layered, ServeSettings};
use crate::shutdown;
use restager_shared::startup::Adapters;

/// The buildpack the demo "releases".
const BUILDPACK: &str = "ruby_buildpack";
const SLACK_CHANNEL: &str = "C0DEMO00001";
/// Give up rather than hang if something is badly wrong; a default demo takes seconds.
const DEMO_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn run(env: &mut Layered, args: DemoArgs) -> Result<(), CommandError> {
    let data = tempfile::tempdir()
        .map_err(|e| CommandError::failed("cannot create a temporary directory", e))?;
    let slack = SlackCapture::start()
        .await
        .map_err(|e| CommandError::failed("cannot start the Slack stand-in", e))?;
    let foundation = Foundation::start(args.apps as usize, args.seed).await?;
    let secret = generated_secret();

    // The demo's own foundation and stores, whatever the environment says;
    // worker tuning (poll interval, timeouts...) may still come from it.
    env.set("CF_API_URL", foundation.api_url());
    env.set("CF_CLIENT_ID", foundation.client_id());
    env.set("CF_CLIENT_SECRET", foundation.client_secret());
    env.set("CF_SKIP_SSL_VALIDATION", "false");
    env.set("RESTAGER_LISTEN", "127.0.0.1:0");
    env.set("RESTAGER_QUEUE_URL", "");
    env.set("RESTAGER_LEDGER_TABLE", "");
    env.set("RESTAGER_DATA_DIR", data.path().display().to_string());
    env.set("RESTAGER_NOTICE_SECRETS", secret.expose());
    env.set("SLACK_API_URL", slack.api_url());
    env.set("SLACK_BOT_TOKEN", "xoxb-restager-demo");
    env.set("SLACK_CHANNEL", SLACK_CHANNEL);
    env.set(
        "RESTAGER_MAX_CONCURRENT_RESTAGES",
        args.concurrency.to_string(),
    );
    // Simulated builds take milliseconds: poll accordingly.
    env.default_value("RESTAGER_POLL_INTERVAL", "20ms");
    // Simulated instances crash, if at all, within milliseconds too.
    env.default_value("RESTAGER_VERIFY_FOR", "200ms");
    // dev first, then staging, then the rest, each after a short soak: the
    // order an operator would give a production foundation.
    env.default_value("RESTAGER_WAVES", "*/dev*;*/staging*;*");
    env.default_value("RESTAGER_WAVE_SOAK", "300ms");
    env.default_value("RESTAGER_TICK_INTERVAL", "100ms");
    // The demo foundation plants a few failures on purpose; a quarter of
    // the run may fail before it halts.
    env.default_value("RESTAGER_MAX_FAILURES", "25%");
    let settings = ServeSettings::read(&*env)?;

    let before = foundation.snapshot().await;
    let version = foundation.install_newer(BUILDPACK).await?;
    let notice = Notice::Buildpack {
        buildpack: BUILDPACK.to_string(),
        version,
        stack: None,
    };

    let ports = Adapters::open(&settings.adapters().with_outbox(demo_outbox())).await?;
    let listener = crate::server::bind(settings.listen).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| CommandError::failed("cannot read the listen address", e))?;
    let (trigger, stop) = shutdown::channel();
    let trigger = Arc::new(trigger);
    let running = running::start(&ports, &settings, listener, Arc::clone(&trigger), stop)?;
    let quiet = args.quiet || args.json;
    if !quiet {
        eprintln!(
            "Simulated foundation: {} apps at {}; installed {notice}.",
            args.apps,
            foundation.api_url()
        );
        eprintln!(
            "restager listening on http://{addr}; sending a signed notice to /webhooks/notice"
        );
    }

    let outcome = tokio::time::timeout(
        DEMO_TIMEOUT,
        drive(&ports, &foundation, &secret, &notice, addr, quiet),
    )
    .await;
    trigger.fire();
    let joined = running.join().await;
    let flushed = running::flush(&ports).await;
    let run_id = match outcome {
        Ok(result) => result?,
        Err(_) => {
            return Err(CommandError::Failed(format!(
                "the demo did not finish within {}",
                humantime::format_duration(DEMO_TIMEOUT)
            )));
        }
    };
    joined?;

    let view = ports
        .ledger
        .get_run(&run_id)
        .await
        .map_err(|e| CommandError::failed("cannot read the run back", e))?
        .ok_or_else(|| CommandError::Failed(format!("run {run_id} vanished from the ledger")))?;
    let after = foundation.snapshot().await;
    let report = DemoReport::build(&view, &before, &after, &slack, flushed);
    if args.json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    if report.failed > 0 {
        return Err(CommandError::Failed(format!(
            "{} failed; see the table above",
            plural(report.failed, "app")
        )));
    }
    Ok(())
}

/// Sends the notice, then follows the run until every app has a final outcome.
async fn drive(
    ports: &Adapters,
    foundation: &Foundation,
    secret: &Secret,
    notice: &Notice,
    addr: std::net::SocketAddr,
    quiet: bool,
) -> Result<RunId, CommandError> {
    let accepted = send_notice(addr, secret, notice).await?;
    let run_id = accepted.run_id;
    // Later waves are held, not queued: every planned app counts.
    let total = accepted.planned.max(accepted.queued) + accepted.skipped.len();
    let progress = Progress::new(total, !quiet);
    loop {
        let view = ports
            .ledger
            .get_run(&run_id)
            .await
            .map_err(|e| CommandError::failed("cannot read the run's progress", e))?;
        let phases = match &view {
            Some(view) => phases(view, &foundation.phases().await),
            None => Phases {
                queued: accepted.queued,
                skipped: accepted.skipped.len(),
                ..Phases::default()
            },
        };
        progress.update(phases);
        if phases.settled() >= phases.total() && phases.total() >= total {
            progress.finish();
            if !quiet {
                eprintln!("{}", phases.describe());
            }
            return Ok(run_id);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The part of the webhook's 202 answer the demo needs.
#[derive(Debug, serde::Deserialize)]
struct Accepted {
    run_id: RunId,
    queued: usize,
    #[serde(default)]
    planned: usize,
    /// Apps the plan left alone; only their number is used.
    #[serde(default)]
    skipped: Vec<serde_json::Value>,
}

async fn send_notice(
    addr: std::net::SocketAddr,
    secret: &Secret,
    notice: &Notice,
) -> Result<Accepted, CommandError> {
    let body = serde_json::to_vec(notice)
        .map_err(|e| CommandError::failed("cannot write the notice", e))?;
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let headers = standard_webhooks::signed_headers(std::slice::from_ref(secret), &id, now, &body)
        .map_err(|e| CommandError::failed("cannot sign the notice", e))?;
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/notice"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| CommandError::failed("cannot POST the notice", e))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| CommandError::failed("cannot read the webhook's answer", e))?;
    if status != reqwest::StatusCode::ACCEPTED {
        return Err(CommandError::Failed(format!(
            "the webhook answered {status}: {text}"
        )));
    }
    serde_json::from_str(&text)
        .map_err(|e| CommandError::failed(&format!("unexpected webhook answer `{text}`"), e))
}

/// Slack pacing for the local stand-in: Slack's own limits do not apply.
fn demo_outbox() -> OutboxConfig {
    OutboxConfig {
        min_interval: Duration::from_millis(20),
        batch_window: Duration::from_millis(200),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        ..OutboxConfig::default()
    }
}

/// A fresh `whsec_` secret for this demo only.
fn generated_secret() -> Secret {
    // Two v4 UUIDs: 244 random bits from the OS generator, enough for a demo key.
    let mut key = Vec::with_capacity(32);
    key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    Secret::new(format!("whsec_{}", STANDARD.encode(key)))
}

/// Counts per phase: outcomes from the ledger, building/deploying from the
/// foundation, waiting when another app of the space is building or
/// deploying; the plan's skipped apps count as skipped from the start.
fn phases(view: &RunView, live: &BTreeMap<String, AppPhase>) -> Phases {
    let mut p = Phases {
        skipped: view.record.skipped.len(),
        ..Phases::default()
    };
    let jobs = latest_jobs(view);
    let busy: std::collections::BTreeSet<&str> = jobs
        .iter()
        .filter(|l| !l.job.outcome.as_ref().is_some_and(Outcome::is_final))
        .filter(|l| {
            matches!(
                live.get(&l.job.app.guid),
                Some(AppPhase::Staging | AppPhase::Deploying)
            )
        })
        .map(|l| l.job.app.space_guid.as_str())
        .collect();
    for latest in &jobs {
        match &latest.job.outcome {
            Some(o) if o.is_final() => match o.kind() {
                OutcomeKind::Failed => p.failed += 1,
                OutcomeKind::Skipped => p.skipped += 1,
                OutcomeKind::RolledBack => p.rolled_back += 1,
                _ => p.done += 1,
            },
            _ => match live.get(&latest.job.app.guid) {
                Some(AppPhase::Staging) => p.staging += 1,
                Some(AppPhase::Deploying) => p.deploying += 1,
                _ if busy.contains(latest.job.app.space_guid.as_str()) => p.waiting += 1,
                _ => p.queued += 1,
            },
        }
    }
    p
}

/// What the demo prints; `--json` prints exactly this.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    pub run_id: String,
    pub notice: Notice,
    pub apps: Vec<AppResult>,
    pub restaged: usize,
    pub already_current: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Restaged, crashed while verified, and put back on the previous droplet.
    pub rolled_back: usize,
    /// The order the apps went in.
    pub waves: Vec<restager_shared::rollout::view::WaveStatus>,
    pub slack: SlackReport,
}

#[derive(Debug, Serialize)]
pub struct AppResult {
    pub app: String,
    pub app_guid: String,
    pub org: String,
    pub space: String,
    pub outcome: String,
    pub reason: Option<String>,
    /// The buildpack version of the app's droplet before the run.
    pub old_version: Option<String>,
    /// The version the restage reported (restaged apps).
    pub new_version: Option<String>,
    /// The buildpack version of the app's current droplet after the run, read from the foundation.
    pub current_version: Option<String>,
    /// Its wave (1 went first).
    pub wave: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct SlackReport {
    pub channel: String,
    /// Web API calls made (`chat.postMessage` and `chat.update`).
    pub calls: usize,
    pub posts: usize,
    pub updates: usize,
    /// The root message's final text: the run's summary.
    pub summary: Option<String>,
    /// Messages still waiting when the demo stopped (should be 0).
    pub undelivered: usize,
}

impl DemoReport {
    fn build(
        view: &RunView,
        before: &BTreeMap<String, foundation::AppVersion>,
        after: &BTreeMap<String, foundation::AppVersion>,
        slack: &SlackCapture,
        undelivered: usize,
    ) -> Self {
        let version_of = |map: &BTreeMap<String, foundation::AppVersion>, guid: &str| {
            map.get(guid).and_then(|a| a.buildpack_version.clone())
        };
        let mut apps: Vec<AppResult> = latest_jobs(view)
            .into_iter()
            .map(|latest| {
                let job = latest.job;
                AppResult {
                    app: job.app.name.clone(),
                    app_guid: job.app.guid.clone(),
                    org: job.app.org_name.clone(),
                    space: job.app.space_name.clone(),
                    outcome: outcome_name(job.outcome.as_ref()).to_string(),
                    reason: job
                        .outcome
                        .as_ref()
                        .and_then(Outcome::reason)
                        .map(str::to_string),
                    old_version: version_of(before, &job.app.guid),
                    new_version: match &job.outcome {
                        Some(Outcome::Restaged { version, .. }) => version.clone(),
                        _ => None,
                    },
                    current_version: version_of(after, &job.app.guid),
                    wave: restager_shared::rollout::view::wave_of(view, job),
                }
            })
            .collect();
        apps.extend(view.record.skipped.iter().map(|s| AppResult {
            app: s.app.name.clone(),
            app_guid: s.app.guid.clone(),
            org: s.app.org_name.clone(),
            space: s.app.space_name.clone(),
            outcome: "skipped".into(),
            reason: Some(s.reason.clone()),
            old_version: version_of(before, &s.app.guid),
            new_version: None,
            current_version: version_of(after, &s.app.guid),
            wave: None,
        }));
        apps.sort_by(|a, b| {
            (a.wave.is_none(), a.wave, &a.org, &a.space, &a.app).cmp(&(
                b.wave.is_none(),
                b.wave,
                &b.org,
                &b.space,
                &b.app,
            ))
        });
        let count = |name: &str| apps.iter().filter(|a| a.outcome == name).count();
        let calls = slack.calls();
        let root_ts = calls
            .iter()
            .find(|c| c.method == "chat.postMessage" && c.thread_ts.is_none())
            .map(|c| c.ts.clone());
        let summary = calls
            .iter()
            .rev()
            .find(|c| Some(&c.ts) == root_ts.as_ref() && c.thread_ts.is_none())
            .map(|c| c.text.clone());
        Self {
            run_id: view.record.run_id.to_string(),
            notice: view.record.notice.clone(),
            restaged: count("restaged"),
            already_current: count("already_current"),
            skipped: count("skipped"),
            failed: count("failed"),
            rolled_back: count("rolled_back"),
            waves: restager_shared::rollout::view::waves(view),
            apps,
            slack: SlackReport {
                channel: SLACK_CHANNEL.to_string(),
                calls: calls.len(),
                posts: calls
                    .iter()
                    .filter(|c| c.method == "chat.postMessage")
                    .count(),
                updates: calls.iter().filter(|c| c.method == "chat.update").count(),
                summary,
                undelivered,
            },
        }
    }
}

fn print_report(report: &DemoReport) {
    let rows = report.apps.iter().map(|a| {
        let versions = match (&a.old_version, &a.new_version) {
            (Some(old), Some(new)) => format!("{old} → {new}"),
            (Some(old), None) => old.clone(),
            (None, Some(new)) => format!("→ {new}"),
            (None, None) => String::new(),
        };
        vec![
            a.wave.map(|w| w.to_string()).unwrap_or_else(|| "-".into()),
            a.app.clone(),
            place(&a.org, &a.space),
            a.outcome.clone(),
            a.reason.clone().unwrap_or_default(),
            versions,
        ]
    });
    println!(
        "{}",
        table(
            &["wave", "app", "org/space", "outcome", "reason", BUILDPACK],
            rows
        )
    );
    if !report.waves.is_empty() {
        let waves: Vec<String> = report
            .waves
            .iter()
            .map(|w| format!("{}. {} ({})", w.wave, w.name, plural(w.jobs, "app")))
            .collect();
        println!("Waves, in order: {}.", waves.join(" → "));
    }
    println!(
        "{}: {} restaged, {} already current, {} skipped, {} rolled back, {} failed (run {}).",
        report.notice,
        report.restaged,
        report.already_current,
        report.skipped,
        report.rolled_back,
        report.failed,
        report.run_id
    );
    let s = &report.slack;
    println!(
        "Slack: {} would have gone to channel {} ({}, {}).",
        plural(s.calls, "message"),
        s.channel,
        plural(s.posts, "post"),
        plural(s.updates, "update")
    );
    if let Some(summary) = &s.summary {
        println!("Summary posted: {summary}");
    }
    println!(
        "\nNext: `restager serve` against your foundation (see README, \"Running locally against a real foundation\")."
    );
}

#[cfg(test)]
mod tests {
    use restager_shared::domain::{Action, AppRef, JobId, Version};
    use restager_shared::ledger::{ExpectedJob, JobRecord, RunRecord, SkippedApp};

    use super::*;

    fn app(n: u32, space: &str) -> AppRef {
        AppRef {
            guid: format!("app-{n}"),
            name: format!("shop-{n}"),
            space_guid: space.into(),
            space_name: space.into(),
            org_guid: "org".into(),
            org_name: "org".into(),
        }
    }

    #[test]
    fn every_app_is_in_one_phase_and_a_busy_space_makes_the_others_wait() {
        let run_id = RunId::for_release("demo-phases");
        let jobs: Vec<(AppRef, Option<Outcome>)> = vec![
            (app(1, "a"), None), // staging
            (app(2, "a"), None), // waits for space a
            (app(3, "b"), None), // queued: space b is free
            (app(4, "c"), Some(Outcome::AlreadyCurrent)),
            (
                app(5, "c"),
                Some(Outcome::Skipped {
                    reason: "someone pushed".into(),
                }),
            ),
            (
                app(6, "d"),
                Some(Outcome::Failed {
                    reason: "NoAppDetectedError".into(),
                    permanent: true,
                }),
            ),
        ];
        let view = RunView {
            record: RunRecord {
                run_id: run_id.clone(),
                notice: Notice::Buildpack {
                    buildpack: BUILDPACK.into(),
                    version: Version::parse("1.0.1").expect("version"),
                    stack: None,
                },
                action: Action::Restage,
                created_at: chrono::Utc::now(),
                expected: jobs
                    .iter()
                    .map(|(a, _)| ExpectedJob {
                        job_id: JobId::for_app(&run_id, &a.guid),
                        app: a.clone(),
                        droplet_guid: None,
                        buildpack: None,
                        target_version: None,
                        retry: 0,
                        wave: 0,
                        window: None,
                        slack_channel: None,
                    })
                    .collect(),
                skipped: vec![SkippedApp {
                    app: app(7, "e"),
                    reason: "stopped".into(),
                }],
                note: None,
                released_at: None,
                release_url: None,
            },
            jobs: jobs
                .iter()
                .map(|(a, outcome)| JobRecord {
                    job_id: JobId::for_app(&run_id, &a.guid),
                    app: a.clone(),
                    outcome: outcome.clone(),
                    attempts: 0,
                    updated_at: None,
                    progress: None,
                })
                .collect(),
            completed_at: None,
            slack_thread: None,
            rollout: None,
        };
        let live = BTreeMap::from([("app-1".to_string(), AppPhase::Staging)]);
        let p = phases(&view, &live);
        assert_eq!(
            p,
            Phases {
                queued: 1,
                waiting: 1,
                staging: 1,
                deploying: 0,
                done: 1,
                skipped: 2,
                rolled_back: 0,
                failed: 1,
            }
        );
        assert_eq!(p.total(), 7, "the table's every app");
        assert!(
            p.describe().contains("waiting for its space 1"),
            "{}",
            p.describe()
        );
    }
}
