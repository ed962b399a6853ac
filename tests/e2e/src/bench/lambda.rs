//! Figure 4: the Lambda functions' footprint. Release binary sizes; the
//! time from process start until the first Runtime API poll (a local
//! Runtime API stands in for Lambda's); the worker's peak RSS while it
//! runs 50 restages at once; and the webhook's peak RSS while it plans and
//! fans out one notice over a large foundation (50,000 apps by default).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cf_sim::CfSim;
use serde_json::json;
use tokio::process::{Child, Command};

use super::BenchError;
use super::moto::Moto;
use super::report::{Figure, Goal, Line};
use super::runtime_api::RuntimeApi;
use super::stats::Summary;

/// The two functions SAM deploys.
pub const FUNCTIONS: [&str; 2] = ["webhook", "worker"];

/// Limits on waiting for a function: generous, because a loaded 2-core
/// machine can take seconds to start a debug binary; the time measured is
/// the time it took, these only stop a run that hangs.
const FIRST_POLL_LIMIT: Duration = Duration::from_secs(60);
const REPORT_LIMIT: Duration = Duration::from_secs(600);
/// Lambda's limit for a zipped deployment package uploaded directly.
const ZIP_LIMIT_MB: f64 = 50.0;

/// Where the binaries are and how to start them.
pub struct Binaries {
    /// `target/release`.
    pub dir: PathBuf,
    /// infra/build-lambdas output (`target/lambda/<fn>/bootstrap`, arm64), if built.
    pub lambda_dir: Option<PathBuf>,
}

/// Builds the release binaries with cargo (the bench may run from any cwd).
pub fn build_release(workspace: &Path) -> Result<(), BenchError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "bench: cargo build --release --bin webhook --bin worker (once; --no-build skips it)"
    );
    let status = std::process::Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--bin", "webhook", "--bin", "worker"])
        .env("CARGO_TERM_COLOR", "never")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| BenchError::Setup(format!("cannot run cargo: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(BenchError::Setup(format!(
            "cargo build --release --bin webhook --bin worker failed ({status})"
        )))
    }
}

fn size_mb(path: &Path) -> Option<f64> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
}

/// Environment both functions need to start, pointing at local stand-ins.
#[derive(Debug, Clone)]
pub struct FunctionEnv {
    pub vars: Vec<(String, String)>,
}

impl FunctionEnv {
    /// Lambda's own variables plus the settings of `function`.
    pub fn lambda(function: &str, runtime_api: &str, settings: &[(String, String)]) -> Self {
        let mut vars: Vec<(String, String)> = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("RUST_LOG", "warn"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        vars.extend(settings.iter().cloned());
        Self { vars }
    }
}

/// Starts `binary` with exactly `env` (nothing inherited but PATH).
pub fn spawn(binary: &Path, env: &FunctionEnv, stderr: Stdio) -> Result<Child, BenchError> {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.spawn()
        .map_err(|e| BenchError::Setup(format!("cannot start {}: {e}", binary.display())))
}

/// Start → first `GET …/invocation/next`, `runs` times.
pub async fn cold_starts(
    binary: &Path,
    function: &str,
    settings: &[(String, String)],
    runs: usize,
) -> Result<Summary, BenchError> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let api = RuntimeApi::start().await?;
        let env = FunctionEnv::lambda(function, &api.host_port(), settings);
        let t0 = Instant::now();
        let mut child = spawn(binary, &env, Stdio::null())?;
        let polled = api.wait_first_poll(FIRST_POLL_LIMIT).await;
        let _ = child.start_kill();
        let _ = child.wait().await;
        samples.push(polled?.saturating_duration_since(t0));
    }
    Ok(Summary::of(&samples))
}

/// Spawn-to-exit of a process that does nothing: what starting any process costs here.
pub async fn process_floor(runs: usize) -> Result<Summary, BenchError> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        let status = Command::new("true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .await
            .map_err(|e| BenchError::Setup(format!("cannot run `true`: {e}")))?;
        samples.push(t0.elapsed());
        if !status.success() {
            return Err(BenchError::Setup("`true` failed".to_owned()));
        }
    }
    Ok(Summary::of(&samples))
}

/// A function started on its own Runtime API and polling for its first
/// invocation, with its VmHWM by then.
struct Waiting {
    api: RuntimeApi,
    child: Child,
    pid: u32,
    idle_mb: f64,
}

impl Waiting {
    /// Starts `function` from `binary` and waits for its first poll.
    async fn start(
        binary: &Path,
        function: &str,
        settings: &[(String, String)],
    ) -> Result<Self, BenchError> {
        let api = RuntimeApi::start().await?;
        let env = FunctionEnv::lambda(function, &api.host_port(), settings);
        let child = spawn(binary, &env, Stdio::inherit())?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Run(format!("the {function} exited at once")))?;
        api.wait_first_poll(FIRST_POLL_LIMIT).await?;
        let idle_mb = peak_rss_mb(pid)?;
        Ok(Self {
            api,
            child,
            pid,
            idle_mb,
        })
    }

    /// One invocation, measured: the function's answer, how long it took
    /// and its peak RSS after it. The function is stopped either way,
    /// before an error is returned.
    async fn invoke_once(self, request_id: &str, event: String) -> Result<Invoked, BenchError> {
        let Self {
            api,
            mut child,
            pid,
            idle_mb,
        } = self;
        let t0 = Instant::now();
        api.invoke(request_id, event, Duration::from_secs(15 * 60))?;
        let reported = api.wait_reported(request_id, REPORT_LIMIT).await;
        let invocation_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let peak_mb = peak_rss_mb(pid);
        let _ = child.start_kill();
        let _ = child.wait().await;
        let reported = reported?;
        let peak_mb = peak_mb?;
        let answer = serde_json::from_str(&reported.body).unwrap_or_default();
        Ok(Invoked {
            ok: reported.ok,
            body: reported.body,
            answer,
            idle_mb,
            invocation_ms,
            peak_mb,
        })
    }
}

struct Invoked {
    /// The function reported a result, not an error.
    ok: bool,
    body: String,
    /// The body as JSON (`null` when it is not).
    answer: serde_json::Value,
    /// VmHWM before the invocation.
    idle_mb: f64,
    invocation_ms: f64,
    peak_mb: f64,
}

impl Invoked {
    /// This invocation, if the function reported a result `accepts` takes;
    /// else a run error: `refusal`, then the body.
    fn accepted(
        self,
        accepts: impl FnOnce(&serde_json::Value) -> bool,
        refusal: &str,
    ) -> Result<Self, BenchError> {
        if self.ok && accepts(&self.answer) {
            Ok(self)
        } else {
            Err(BenchError::Run(format!("{refusal}: {}", self.body)))
        }
    }
}

/// The ledger table in moto both functions are pointed at.
const TABLE: &str = "restager-ledger";

/// A function's settings pointing at the simulator and moto, then `own`.
fn stand_in_settings(
    sim: &CfSim,
    moto: &Moto,
    queue_url: &str,
    own: Vec<(&str, String)>,
) -> Vec<(String, String)> {
    [
        ("CF_API_URL", sim.url()),
        ("CF_CLIENT_ID", sim.client_id().to_owned()),
        ("CF_CLIENT_SECRET", sim.client_secret().to_owned()),
        ("RESTAGER_QUEUE_URL", queue_url.to_owned()),
        ("RESTAGER_LEDGER_TABLE", TABLE.to_owned()),
        ("AWS_ENDPOINT_URL", moto.endpoint().to_owned()),
    ]
    .into_iter()
    .chain(own)
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Peak resident set (VmHWM) of a running process, in MiB.
pub fn peak_rss_mb(pid: u32) -> Result<f64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| BenchError::Run(format!("cannot read /proc/{pid}/status: {e}")))?;
    parse_vm_hwm_kb(&status)
        .map(|kb| kb as f64 / 1024.0)
        .ok_or_else(|| BenchError::Run(format!("no VmHWM line in /proc/{pid}/status")))
}

fn parse_vm_hwm_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Sizes of the release binaries (and the arm64 Lambda builds when present).
pub fn size_lines(fig: &mut Figure, bins: &Binaries) -> Result<serde_json::Value, BenchError> {
    let mut details = serde_json::Map::new();
    for f in FUNCTIONS {
        let path = bins.dir.join(f);
        let mb = size_mb(&path).ok_or_else(|| {
            BenchError::Setup(format!(
                "{} is missing: build it with `cargo build --release --bin {f}` or drop --no-build",
                path.display()
            ))
        })?;
        fig.line(
            Line::new(format!("{f}: host binary"), mb, "MiB")
                .against("Lambda's 50 MB zip limit", ZIP_LIMIT_MB),
        );
        details.insert(format!("{f}_host_mib"), json!(mb));
        if let Some(mb) = bins
            .lambda_dir
            .as_ref()
            .and_then(|d| size_mb(&d.join(f).join("bootstrap")))
        {
            fig.line(
                Line::new(
                    format!("{f}: arm64 bootstrap (infra/build-lambdas)"),
                    mb,
                    "MiB",
                )
                .against("Lambda's 50 MB zip limit", ZIP_LIMIT_MB),
            );
            details.insert(format!("{f}_arm64_mib"), json!(mb));
        }
    }
    Ok(serde_json::Value::Object(details))
}

/// The 64 MB goal, with the line that shows it.
pub fn rss_line(mb: f64, restages: usize) -> Line {
    Line::new(
        format!("worker peak RSS, {restages} restages at once"),
        mb,
        "MiB",
    )
    .goal(Goal::ValueBelow(64.0))
    .against("Lambda's smallest memory size (128 MB)", 128.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_hwm() {
        let status =
            "Name:\tworker\nVmPeak:\t  300000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 10000 kB\n";
        assert_eq!(parse_vm_hwm_kb(status), Some(20480));
        assert_eq!(parse_vm_hwm_kb("Name: x\n"), None);
    }
}

/// Settings for figure 4.
#[derive(Debug, Clone)]
pub struct LambdaArgs {
    pub workspace: PathBuf,
    pub build: bool,
    /// Where the binaries are; `None` = `<target>/release`.
    pub bin_dir: Option<PathBuf>,
    pub cold_start_runs: usize,
    pub restages: usize,
    pub seed: u64,
    /// Apps in the foundation the webhook plans for its peak RSS (0: skip).
    pub webhook_apps: usize,
}

pub async fn run(args: &LambdaArgs) -> Result<Figure, BenchError> {
    // The build is not part of the figure's time: it is mostly compiling
    // what the bench binary itself already compiled.
    let build_secs = if args.build {
        let t0 = Instant::now();
        build_release(&args.workspace)?;
        Some(t0.elapsed().as_secs_f64())
    } else {
        None
    };
    let started = Instant::now();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| args.workspace.join("target"));
    let bins = Binaries {
        dir: args
            .bin_dir
            .clone()
            .unwrap_or_else(|| target.join("release")),
        lambda_dir: Some(target.join("lambda")),
    };
    let mut fig = Figure::new(
        "lambda_footprint",
        "4. Cold start and footprint of the Lambda functions",
    );
    let sizes = size_lines(&mut fig, &bins)?;

    let stage = rss::Stage::start(args.restages, args.seed).await?;
    let floor = process_floor(args.cold_start_runs).await?;
    let mut cold = serde_json::Map::new();
    for f in FUNCTIONS {
        let s = cold_starts(
            &bins.dir.join(f),
            f,
            &stage.settings(f),
            args.cold_start_runs,
        )
        .await?;
        fig.line(
            Line::new(
                format!("{f}: start → first Runtime API poll (median)"),
                s.median_us / 1000.0,
                "ms",
            )
            .against("spawn-to-exit of `true`", floor.median_us / 1000.0),
        );
        fig.line(
            Line::new(
                format!("{f}: start → first poll (p99)"),
                s.p99_us / 1000.0,
                "ms",
            )
            .against("Lambda's 10 s init limit", 10_000.0),
        );
        cold.insert(f.to_owned(), json!(s));
    }

    let peak = stage.worker_peak(&bins.dir.join("worker")).await?;
    fig.line(Line::new(
        "worker RSS after start-up (idle)",
        peak.idle_mb,
        "MiB",
    ));
    fig.line(rss_line(peak.peak_mb, args.restages));
    fig.line(
        Line::new(
            "restages active at once (sim peak)",
            peak.sim_peak as f64,
            "apps",
        )
        .against("restages handed to the worker", args.restages as f64),
    );
    let webhook = if args.webhook_apps > 0 {
        let w = webhook_rss::peak(&bins.dir.join("webhook"), args.webhook_apps, args.seed).await?;
        fig.line(Line::new(
            "webhook RSS after start-up (idle)",
            w.idle_mb,
            "MiB",
        ));
        fig.line(
            Line::new(
                format!(
                    "webhook peak RSS, one notice over {} apps ({} jobs fanned out)",
                    args.webhook_apps, w.jobs
                ),
                w.peak_mb,
                "MiB",
            )
            .against(
                "the webhook's 512 MB (infra/template.yaml WebhookMemorySize)",
                512.0,
            ),
        );
        fig.line(Line::new(
            "webhook invocation: request → 202 (discovery, ledger, fan-out)",
            w.invocation_ms,
            "ms",
        ));
        Some(w)
    } else {
        None
    };
    fig.settings = json!({
        "cold_start_runs": args.cold_start_runs,
        "restages": args.restages,
        "binaries": bins.dir,
        "profile": if args.bin_dir.is_some() { "as found in binaries" } else { "release (opt-level s, thin LTO, panic=abort, stripped)" },
        "runtime_api": "local stand-in for the 2018-06-01 Runtime API",
        "build_secs": build_secs,
    });
    fig.details = json!({
        "sizes": sizes,
        "cold_start": cold,
        "process_floor": floor,
        "worker": { "idle_mib": peak.idle_mb, "peak_mib": peak.peak_mb, "invocation_ms": peak.invocation_ms },
        "webhook": webhook.as_ref().map(|w| json!({ "apps": args.webhook_apps, "jobs": w.jobs,
            "idle_mib": w.idle_mb, "peak_mib": w.peak_mb, "invocation_ms": w.invocation_ms })),
    });
    fig.note("host (x86_64) binaries are what runs here; arm64 sizes are those of the last infra/build-lambdas, when it has run");
    fig.note("cold start here excludes Lambda's own sandbox start and code download");
    fig.wall_secs = started.elapsed().as_secs_f64();
    Ok(fig)
}

/// The worker under load: a simulator, moto's SQS and DynamoDB, and an SQS
/// event of N jobs in N different spaces (so none waits for another).
mod rss {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use cf_sim::{AppSpec, AppTiming, CfSim, SimConfig};
    use restager_shared::config::ScopeSettings;
    use restager_shared::discovery;
    use restager_shared::domain::{Action, RestageJob};
    use restager_shared::ledger::{DynamoLedger, Ledger};
    use serde_json::json;

    use super::super::BenchError;
    use super::super::foundation::{self, BUILDPACK, NEW_VERSION, OLD_VERSION};
    use super::super::moto::Moto;
    use super::{TABLE, Waiting, stand_in_settings};

    pub struct Stage {
        sim: CfSim,
        moto: Moto,
        queue_url: String,
        jobs: Vec<RestageJob>,
    }

    pub struct Peak {
        pub idle_mb: f64,
        pub peak_mb: f64,
        pub sim_peak: usize,
        pub invocation_ms: f64,
    }

    impl Stage {
        pub async fn start(restages: usize, seed: u64) -> Result<Self, BenchError> {
            let sim = CfSim::start(SimConfig {
                seed,
                apps: 0,
                tick: Duration::from_millis(50),
                ..SimConfig::default()
            })
            .await
            .map_err(|e| BenchError::Setup(format!("simulator: {e}")))?;
            for i in 0..restages {
                let mut spec = AppSpec::new(format!("app-{i:03}"));
                spec.space = format!("space-{i:03}");
                spec.instances = 2;
                spec.buildpack_version = Some(OLD_VERSION.to_owned());
                let guid = sim.add_app(spec);
                // Long enough that all of them overlap.
                sim.set_app_timing(
                    &guid,
                    AppTiming {
                        staging: Duration::from_millis(1500),
                        instance_startup: Duration::from_millis(500),
                    },
                )
                .map_err(|e| BenchError::Setup(e.to_string()))?;
            }
            sim.install_buildpack(BUILDPACK, NEW_VERSION);
            let cf = foundation::client(&sim)?;
            let notice = foundation::release_notice()?;
            let plan = discovery::plan(&cf, &notice, Action::Restage, &ScopeSettings::default())
                .await
                .map_err(|e| BenchError::Setup(format!("discovery: {e}")))?;
            let moto = Moto::start().await?;
            let queue_url = moto.fifo_queue("jobs").await?;
            moto.ledger_table(TABLE).await?;
            let ledger: Arc<dyn Ledger> =
                Arc::new(DynamoLedger::from_sdk_config(&moto.sdk_config(), TABLE));
            let jobs = plan.jobs.clone();
            let run = plan.into_run(chrono::Utc::now());
            ledger
                .put_run(&run.record)
                .await
                .map_err(|e| BenchError::Setup(format!("ledger: {e}")))?;
            Ok(Self {
                sim,
                moto,
                queue_url,
                jobs,
            })
        }

        /// The function's settings, pointing at the simulator and moto.
        pub fn settings(&self, function: &str) -> Vec<(String, String)> {
            let own = if function == "webhook" {
                vec![(
                    "RESTAGER_NOTICE_SECRETS",
                    foundation::NOTICE_SECRET.to_owned(),
                )]
            } else {
                vec![
                    (
                        "RESTAGER_MAX_CONCURRENT_RESTAGES",
                        self.jobs.len().to_string(),
                    ),
                    ("RESTAGER_POLL_INTERVAL", "200ms".to_owned()),
                    // Memory under 50 restages, not a two-minute watch of each.
                    ("RESTAGER_VERIFY_FOR", "0s".to_owned()),
                ]
            };
            stand_in_settings(&self.sim, &self.moto, &self.queue_url, own)
        }

        /// Runs the worker on one SQS event holding every job; its VmHWM after.
        pub async fn worker_peak(self, binary: &Path) -> Result<Peak, BenchError> {
            let waiting = Waiting::start(binary, "worker", &self.settings("worker")).await?;
            self.sim.reset_peaks();
            let run = waiting
                .invoke_once("bench-1", sqs_event(&self.jobs))
                .await?
                .accepted(
                    |answer| {
                        answer["batchItemFailures"]
                            .as_array()
                            .is_none_or(Vec::is_empty)
                    },
                    "the worker did not complete the batch",
                )?;
            let sim_peak = self.sim.peak_active_restages();
            self.sim.shutdown().await;
            Ok(Peak {
                idle_mb: run.idle_mb,
                peak_mb: run.peak_mb,
                sim_peak,
                invocation_ms: run.invocation_ms,
            })
        }
    }

    /// An SQS event as the FIFO event source mapping delivers it.
    fn sqs_event(jobs: &[RestageJob]) -> String {
        let records: Vec<serde_json::Value> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                json!({
                    "messageId": format!("00000000-0000-4000-8000-{i:012}"),
                    "receiptHandle": format!("bench-receipt-{i}"),
                    "body": job.to_json(),
                    "attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": "1700000000000",
                        "SenderId": "AIDAEXAMPLE",
                        "ApproximateFirstReceiveTimestamp": "1700000000001",
                        "MessageGroupId": job.message_group(),
                        "MessageDeduplicationId": job.job_id.as_str(),
                        "SequenceNumber": format!("{:020}", i + 1),
                    },
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs.fifo",
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        json!({ "Records": records }).to_string()
    }
}

/// The webhook under a large foundation: a seeded simulator of N apps, moto's
/// SQS (FIFO, linear sends) and DynamoDB, and one signed notice delivered as
/// a Function URL event.
mod webhook_rss {
    use std::path::Path;

    use serde_json::json;

    use super::super::BenchError;
    use super::super::foundation;
    use super::super::moto::Moto;
    use super::{TABLE, Waiting, stand_in_settings};

    pub struct Peak {
        pub idle_mb: f64,
        pub peak_mb: f64,
        pub invocation_ms: f64,
        pub jobs: usize,
    }

    pub async fn peak(binary: &Path, apps: usize, seed: u64) -> Result<Peak, BenchError> {
        let sim = foundation::released_sim(apps, seed).await?;
        let moto = Moto::start_linear().await?;
        let queue_url = moto.fifo_queue("jobs").await?;
        moto.ledger_table(TABLE).await?;
        let settings = stand_in_settings(
            &sim,
            &moto,
            &queue_url,
            vec![(
                "RESTAGER_NOTICE_SECRETS",
                foundation::NOTICE_SECRET.to_owned(),
            )],
        );
        let run = Waiting::start(binary, "webhook", &settings)
            .await?
            .invoke_once("bench-webhook-1", notice_event()?)
            .await?
            .accepted(
                |answer| answer["statusCode"] == 202,
                "the webhook did not accept the notice",
            )?;
        let jobs = moto.queue_depth(&queue_url).await? as usize;
        sim.shutdown().await;
        Ok(Peak {
            idle_mb: run.idle_mb,
            peak_mb: run.peak_mb,
            invocation_ms: run.invocation_ms,
            jobs,
        })
    }

    /// A signed notice as a Function URL (payload 2.0) event.
    fn notice_event() -> Result<String, BenchError> {
        let (body, signed) = foundation::signed_notice("msg_bench_webhook_rss")?;
        let mut headers = serde_json::Map::new();
        headers.insert("content-type".into(), json!("application/json"));
        headers.insert("host".into(), json!("bench.lambda-url.us-east-1.on.aws"));
        for (name, value) in signed {
            headers.insert(name.to_string(), json!(value));
        }
        Ok(json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/webhooks/notice",
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "bench",
                "domainName": "bench.lambda-url.us-east-1.on.aws",
                "domainPrefix": "bench",
                "http": {"method": "POST", "path": "/webhooks/notice", "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.10", "userAgent": "restager-bench"},
                "requestId": "bench-webhook-1",
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": 1_767_225_600_000u64
            },
            "body": body,
            "isBase64Encoded": false
        })
        .to_string())
    }
}
