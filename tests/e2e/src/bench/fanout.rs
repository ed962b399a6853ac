//! Figure 3b: fan-out throughput. A signed notice goes through the real
//! webhook router (signature, de-duplication, discovery against the
//! simulator, ledger, `SqsQueue` → SendMessageBatch into moto's SQS) and is
//! timed from request to 202. The anchor is a plain loop of
//! SendMessageBatch calls putting the same messages (same bodies, groups
//! and deduplication ids) into the same moto server with the same
//! parallelism: how fast SQS itself can take them here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use bytes::Bytes;
use cf_sim::{AppSpec, CfSim, SimConfig};
use futures::StreamExt;
use restager_shared::config::{Env, IntakeSettings, ScopeSettings};
use restager_shared::discovery;
use restager_shared::domain::{Action, RestageJob};
use restager_shared::ledger::MemoryLedger;
use restager_shared::notify::LogNotifier;
use restager_shared::queue::JobQueue;
use restager_shared::queue::sqs::SqsQueue;
use restager_shared::webhook::{Router, RouterDeps};
use serde_json::json;

use super::BenchError;
use super::foundation::{self, BUILDPACK, NEW_VERSION, OLD_VERSION};
use super::moto::Moto;
use super::report::{Figure, Goal, Line};

/// SQS takes at most 10 messages per SendMessageBatch.
const BATCH: usize = 10;

#[derive(Debug, Clone)]
pub struct FanoutArgs {
    pub apps: usize,
    pub spaces: usize,
    pub seed: u64,
    /// Alternating plain / webhook / adapter runs.
    pub rounds: usize,
}

/// The JobQueue under test, on `url`.
fn sqs_queue(moto: &Moto, url: &str) -> Arc<dyn JobQueue> {
    Arc::new(SqsQueue::from_sdk_config(&moto.sdk_config(), url))
}

/// SendMessageBatch calls `SqsQueue` keeps in flight (`PARALLEL_BATCHES`
/// in shared/src/queue/sqs.rs); the plain loop uses the same.
const PARALLEL_BATCHES: usize = 8;

pub async fn run(args: &FanoutArgs) -> Result<Figure, BenchError> {
    let started = Instant::now();
    let sim = CfSim::start(SimConfig {
        seed: args.seed,
        apps: 0,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| BenchError::Setup(format!("simulator: {e}")))?;
    for i in 0..args.apps {
        let space = i % args.spaces.max(1);
        let mut spec = AppSpec::new(format!("app-{i:05}"));
        spec.org = format!("org-{:03}", space / 5);
        spec.space = format!("space-{space:03}");
        spec.buildpack_version = Some(OLD_VERSION.to_owned());
        sim.add_app(spec);
    }
    sim.install_buildpack(BUILDPACK, NEW_VERSION);
    let moto = Moto::start_linear().await?;

    // The messages the fan-out will send, for the plain loop: planned by
    // the same discovery, so bodies, groups and dedup ids are identical.
    let notice = foundation::release_notice()?;
    let probe = foundation::client(&sim)?;
    let t_plan = Instant::now();
    let plan = discovery::plan(&probe, &notice, Action::Restage, &ScopeSettings::default())
        .await
        .map_err(|e| BenchError::Run(format!("discovery: {e}")))?;
    let plan_took = t_plan.elapsed();
    let jobs = plan.jobs;
    if jobs.len() != args.apps {
        return Err(BenchError::Setup(format!(
            "discovery planned {} jobs for {} apps",
            jobs.len(),
            args.apps
        )));
    }
    let parallelism = PARALLEL_BATCHES;

    // Rounds alternate plain loop → webhook → adapter alone, with one more
    // plain loop at the end, each on a freshly reset server: every webhook
    // run sits between two plain runs, so drift on a shared machine hits
    // both sides, and the headline ratio pairs each run with its neighbours.
    let rounds = args.rounds.max(1);
    let mut plain = Vec::with_capacity(rounds + 1);
    let mut webhook: Vec<WebhookRun> = Vec::with_capacity(rounds);
    let mut adapter = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let url = moto.fresh_queue(&format!("plain-{round}")).await?;
        plain.push(plain_loop(&moto, &url, &jobs, parallelism).await?);

        let url = moto.fresh_queue(&format!("webhook-{round}")).await?;
        let run = webhook_run(&sim, &moto, &url, round).await?;
        let depth = moto.queue_depth(&url).await?;
        if depth != args.apps as u64 {
            return Err(BenchError::Run(format!(
                "{depth} messages on the queue after fanning out {} apps ({})",
                args.apps, run.body
            )));
        }
        webhook.push(run);

        let url = moto.fresh_queue(&format!("adapter-{round}")).await?;
        let t0 = Instant::now();
        sqs_queue(&moto, &url)
            .enqueue(&jobs)
            .await
            .map_err(|e| BenchError::Run(format!("SqsQueue::enqueue: {e}")))?;
        adapter.push(t0.elapsed());
    }
    let url = moto.fresh_queue(&format!("plain-{rounds}")).await?;
    plain.push(plain_loop(&moto, &url, &jobs, parallelism).await?);
    sim.shutdown().await;

    let n = args.apps as f64;
    let rate = |d: &Duration| n / d.as_secs_f64();
    // Each webhook run against the mean of the plain runs either side of it.
    let around = |r: usize| (plain[r].as_secs_f64() + plain[r + 1].as_secs_f64()) / 2.0;
    let ratios_e2e: Vec<f64> = (0..rounds)
        .map(|r| around(r) / webhook[r].took.as_secs_f64())
        .collect();
    let ratios_own: Vec<f64> = (0..rounds)
        .map(|r| around(r) / webhook[r].own().as_secs_f64())
        .collect();
    let plain_rate = median(plain.iter().map(rate).collect());
    let webhook_ms = median(webhook.iter().map(|w| ms(&w.took)).collect());
    let cc_ms = median(webhook.iter().map(|w| ms(&w.cloud_controller)).collect());

    let mut fig = Figure::new(
        "webhook_fanout",
        format!(
            "3b. Fan-out into moto's SQS: {} apps, signed notice → router → discovery → SendMessageBatch",
            args.apps
        ),
    );
    fig.settings = json!({
        "apps": args.apps, "spaces": args.spaces, "seed": args.seed, "rounds": rounds,
        "batch": BATCH, "parallel_batches": parallelism, "queue": "FIFO (as infra/template.yaml)",
        "ledger": "MemoryLedger", "sqs_server": "moto_server via src/bench/moto_linear.py",
    });
    fig.line(
        Line::new(
            "restager's fan-out throughput (median)",
            median(webhook.iter().map(|w| rate(&w.own())).collect()),
            "jobs/s",
        )
        .against("plain SendMessageBatch loop (median)", plain_rate),
    );
    fig.line(
        Line::new(
            format!("  ÷ plain loop, paired per round (median of {rounds})"),
            median(ratios_own.clone()),
            "×",
        )
        .goal(Goal::RatioAtLeast(0.9))
        .against("the plain loop itself", 1.0),
    );
    let lowest = ratios_own.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = ratios_own.iter().copied().fold(0.0, f64::max);
    fig.line(Line::new(
        format!("  lowest of the {rounds} paired ratios"),
        lowest,
        "×",
    ));
    fig.line(Line::new(
        format!("  highest of the {rounds} paired ratios"),
        highest,
        "×",
    ));
    fig.line(
        Line::new(
            "request → 202, Cloud Controller included (median)",
            median(webhook.iter().map(|w| rate(&w.took)).collect()),
            "jobs/s",
        )
        .against("plain SendMessageBatch loop (median)", plain_rate),
    );
    fig.line(
        Line::new(
            "  ÷ plain loop, paired per round (median)",
            median(ratios_e2e.clone()),
            "×",
        )
        .against("the plain loop itself", 1.0),
    );
    fig.line(
        Line::new(
            "SqsQueue::enqueue alone (median)",
            median(adapter.iter().map(rate).collect()),
            "jobs/s",
        )
        .against("plain SendMessageBatch loop (median)", plain_rate),
    );
    fig.line(Line::new(
        "webhook request → 202 (median)",
        webhook_ms,
        "ms",
    ));
    fig.line(
        Line::new(
            "  of which Cloud Controller answering (median)",
            cc_ms,
            "ms",
        )
        .against("webhook request → 202 (median)", webhook_ms),
    );
    fig.line(Line::new(
        "discovery alone, measured apart",
        ms(&plan_took),
        "ms",
    ));
    fig.note(
        "restager's throughput = apps ÷ (request → 202 less the time at least one Cloud Controller request was being answered, from the simulator's request log): the plain loop reads no Cloud Controller, a real one answers at its own pace",
    );
    fig.note("moto, the simulator and restager share this machine's 2 cores");
    fig.note(
        "moto runs with its O(queue length) scans on the send path replaced by lookups (src/bench/moto_linear.py); stock moto reaches ~7 messages/s near 1,000 queued",
    );
    fig.details = json!({
        "plain_ms": plain.iter().map(ms).collect::<Vec<_>>(),
        "webhook_ms": webhook.iter().map(|w| ms(&w.took)).collect::<Vec<_>>(),
        "cloud_controller_ms": webhook.iter().map(|w| ms(&w.cloud_controller)).collect::<Vec<_>>(),
        "cloud_controller_requests": webhook.iter().map(|w| w.cc_requests).collect::<Vec<_>>(),
        "adapter_ms": adapter.iter().map(ms).collect::<Vec<_>>(),
        "paired_ratios_restager": ratios_own,
        "paired_ratios_request": ratios_e2e,
        "discovery_ms": ms(&plan_took),
        "response": webhook.last().map(|w| w.body.clone()),
    });
    fig.wall_secs = started.elapsed().as_secs_f64();
    Ok(fig)
}

/// One timed webhook request.
struct WebhookRun {
    took: Duration,
    /// Time at least one Cloud Controller request was being answered.
    cloud_controller: Duration,
    cc_requests: usize,
    body: serde_json::Value,
}

impl WebhookRun {
    /// The request's time less the time spent waiting on Cloud Controller.
    fn own(&self) -> Duration {
        self.took.saturating_sub(self.cloud_controller)
    }
}

/// Total length of the union of `[start, start + len)` intervals.
pub(super) fn covered(mut spans: Vec<(Instant, Duration)>) -> Duration {
    spans.sort_by_key(|(start, _)| *start);
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, len) in spans {
        let end = start + len;
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    super::stats::percentile(&values, 50.0).unwrap_or(0.0)
}

/// One signed notice through a fresh router (its own de-duplication
/// ledger, so every round is a first delivery) into the queue at `url`.
async fn webhook_run(
    sim: &CfSim,
    moto: &Moto,
    url: &str,
    round: usize,
) -> Result<WebhookRun, BenchError> {
    let router = router(sim, sqs_queue(moto, url))?;
    let request = signed_notice(round)?;
    sim.clear_requests();
    let t0 = Instant::now();
    let response = router.handle(request).await;
    let took = t0.elapsed();
    let cc = sim.requests();
    let status = response.status();
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
    if status != http::StatusCode::ACCEPTED {
        return Err(BenchError::Run(format!(
            "the webhook answered {status}: {body}"
        )));
    }
    Ok(WebhookRun {
        took,
        cloud_controller: covered(cc.iter().map(|r| (r.received_at, r.handling)).collect()),
        cc_requests: cc.len(),
        body,
    })
}

fn router(sim: &CfSim, queue: Arc<dyn JobQueue>) -> Result<Router, BenchError> {
    let vars: HashMap<String, String> = HashMap::from([(
        "RESTAGER_NOTICE_SECRETS".to_owned(),
        foundation::NOTICE_SECRET.to_owned(),
    )]);
    let intake = IntakeSettings::from_env(&Env(&vars))
        .map_err(|e| BenchError::Setup(format!("intake settings: {e}")))?;
    Ok(Router::new(RouterDeps {
        intake,
        cf: foundation::client(sim)?,
        queue,
        ledger: Arc::new(MemoryLedger::new()),
        notifier: Arc::new(LogNotifier),
        slack_actions: None,
    }))
}

fn signed_notice(round: usize) -> Result<http::Request<Bytes>, BenchError> {
    let (body, headers) = foundation::signed_notice(&format!("msg_bench_fanout_{round}"))?;
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/webhooks/notice")
        .header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(name, value);
    }
    req.body(Bytes::from(body))
        .map_err(|e| BenchError::Setup(format!("building the request: {e}")))
}

/// The same messages as SendMessageBatch calls of 10, `parallelism` at once.
async fn plain_loop(
    moto: &Moto,
    url: &str,
    jobs: &[RestageJob],
    parallelism: usize,
) -> Result<Duration, BenchError> {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let batches: Vec<Vec<SendMessageBatchRequestEntry>> = jobs
        .chunks(BATCH)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .map(|(i, job)| {
                    let attr = |v: &str| {
                        MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(v)
                            .build()
                            .map_err(|e| BenchError::Setup(e.to_string()))
                    };
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(job.to_json())
                        .message_attributes("run_id", attr(job.run_id.as_str())?)
                        .message_attributes("job_id", attr(job.job_id.as_str())?)
                        .message_group_id(job.message_group())
                        .message_deduplication_id(job.job_id.as_str())
                        .build()
                        .map_err(|e| BenchError::Setup(e.to_string()))
                })
                .collect()
        })
        .collect::<Result<_, _>>()?;
    let t0 = Instant::now();
    let results: Vec<Result<usize, BenchError>> = futures::stream::iter(batches)
        .map(|entries| {
            let sqs = sqs.clone();
            async move {
                let out = sqs
                    .send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| BenchError::Run(format!("SendMessageBatch: {e}")))?;
                Ok(out.failed().len())
            }
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    let took = t0.elapsed();
    let failed: usize = results.into_iter().sum::<Result<usize, _>>()?;
    if failed > 0 {
        return Err(BenchError::Run(format!(
            "{failed} messages refused by the plain loop"
        )));
    }
    Ok(took)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_counts_overlaps_once() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(covered(vec![]), Duration::ZERO);
        // [0,10) ∪ [5,20) ∪ [30,40) = 20 + 10 ms, in any order.
        let spans = vec![(t + ms(30), ms(10)), (t, ms(10)), (t + ms(5), ms(15))];
        assert_eq!(covered(spans), ms(30));
        // A span inside another adds nothing.
        assert_eq!(covered(vec![(t, ms(50)), (t + ms(10), ms(5))]), ms(50));
    }
}
