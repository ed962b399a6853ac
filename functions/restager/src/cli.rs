//! Command-line interface. Every setting has a flag named after its
//! environment variable; a flag wins over the variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "restager",
    version,
    about = "Keep Cloud Foundry apps patched: rolling restages when a buildpack, stack or stemcell is released",
    long_about = "restager verifies signed release notices, finds the affected apps through the Cloud Controller v3 API \
and performs rolling (zero-downtime) restages with bounded concurrency.\n\n\
Start with `restager demo`: it needs no AWS account and no Cloud Foundry.\n\n\
Exit codes: 0 ok, 1 a failure (an app failed, a foundation unreachable), 2 a usage or configuration error."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingFlags,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole flow against a simulated foundation: no AWS, no Cloud Foundry needed.
    Demo(DemoArgs),
    /// Serve the webhook routes and run the worker in this process.
    Serve,
    /// Dry run: which apps a notice would restage, and which it would skip and why.
    Plan(PlanArgs),
    /// Apps whose droplet was staged with an older buildpack than the one installed.
    Outdated(OutputArgs),
    /// Queue a restage of every outdated app (what the scheduled sweep does on AWS).
    Sweep(SweepArgs),
    /// Runs and per-app outcomes from the ledger.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Apps in the simulated foundation.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=20000))]
    pub apps: u32,
    /// Restages at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub concurrency: u32,
    /// Seed of the simulated foundation.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Print the final outcomes as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar (for logs and CI).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A notice file in the format of `POST /webhooks/notice` (see shared/schema/notice.schema.json).
    #[arg(long, conflicts_with_all = ["buildpack", "stack"])]
    pub notice: Option<PathBuf>,
    /// Plan for a buildpack release, e.g. ruby_buildpack (with --version).
    #[arg(long, requires = "version")]
    pub buildpack: Option<String>,
    /// The released version, e.g. 1.10.29.
    #[arg(long)]
    pub version: Option<String>,
    /// Only apps on this stack (with --buildpack).
    #[arg(long)]
    pub stack: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Show the runs and apps a sweep would queue or skip, and why; queue nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A run id; without it, the most recent runs.
    pub run: Option<String>,
    /// How many runs to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Everything, unwrapped: full ids, every column (default: fits 100 columns).
    #[arg(long)]
    pub wide: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// One flag per environment variable the functions read. They are global so
/// they can be given before or after the subcommand.
#[derive(Debug, Args, Default)]
pub struct SettingFlags {
    /// Cloud Controller API root [env: CF_API_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub cf_api_url: Option<String>,
    /// UAA client id [env: CF_CLIENT_ID]
    #[arg(long, global = true, value_name = "ID")]
    pub cf_client_id: Option<String>,
    /// UAA client secret; prefer the environment variable [env: CF_CLIENT_SECRET]
    #[arg(long, global = true, value_name = "SECRET", hide_env_values = true)]
    pub cf_client_secret: Option<String>,
    /// Accept self-signed certificates (lab foundations only) [env: CF_SKIP_SSL_VALIDATION]
    #[arg(long, global = true, value_name = "BOOL")]
    pub cf_skip_ssl_validation: Option<String>,
    /// Listen address of `serve` [env: RESTAGER_LISTEN, default 127.0.0.1:8080]
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// SQS queue URL; unset = the embedded on-disk queue [env: RESTAGER_QUEUE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub queue_url: Option<String>,
    /// DynamoDB ledger table; unset = the embedded store [env: RESTAGER_LEDGER_TABLE]
    #[arg(long, global = true, value_name = "TABLE")]
    pub ledger_table: Option<String>,
    /// Directory of the embedded queue and ledger [env: RESTAGER_DATA_DIR, default .restager]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// GitHub webhook secrets, comma-separated [env: RESTAGER_GITHUB_SECRETS]
    #[arg(long, global = true, value_name = "SECRETS")]
    pub github_secrets: Option<String>,
    /// Standard Webhooks secrets (whsec_...), comma-separated [env: RESTAGER_NOTICE_SECRETS]
    #[arg(long, global = true, value_name = "SECRETS")]
    pub notice_secrets: Option<String>,
    /// Restages at once in this process [env: RESTAGER_MAX_CONCURRENT_RESTAGES, default 10]
    #[arg(long, global = true, value_name = "N")]
    pub max_concurrent_restages: Option<String>,
    /// Deployment max_in_flight [env: RESTAGER_MAX_IN_FLIGHT, default 1]
    #[arg(long, global = true, value_name = "N")]
    pub max_in_flight: Option<String>,
    /// Build/deployment poll interval [env: RESTAGER_POLL_INTERVAL, default 10s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub poll_interval: Option<String>,
    /// Staging timeout [env: RESTAGER_STAGING_TIMEOUT, default 15m]
    #[arg(long, global = true, value_name = "DURATION")]
    pub staging_timeout: Option<String>,
    /// Deployment timeout before cancelling [env: RESTAGER_DEPLOY_TIMEOUT, default 10m]
    #[arg(long, global = true, value_name = "DURATION")]
    pub deploy_timeout: Option<String>,
    /// Slack bot token (xoxb-...) [env: SLACK_BOT_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN", hide_env_values = true)]
    pub slack_bot_token: Option<String>,
    /// Slack channel id [env: SLACK_CHANNEL]
    #[arg(long, global = true, value_name = "CHANNEL")]
    pub slack_channel: Option<String>,
    /// Slack Web API base URL [env: SLACK_API_URL, default https://slack.com/api]
    #[arg(long, global = true, value_name = "URL")]
    pub slack_api_url: Option<String>,
    /// Slack signing secret for /slack/actions [env: SLACK_SIGNING_SECRET]
    #[arg(long, global = true, value_name = "SECRET", hide_env_values = true)]
    pub slack_signing_secret: Option<String>,
    /// `serve`: the request head must arrive within this [env: RESTAGER_HEADER_READ_TIMEOUT, default 10s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub header_read_timeout: Option<String>,
    /// `serve`: the whole body must arrive within this, else 408 [env: RESTAGER_BODY_READ_TIMEOUT, default 30s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub body_read_timeout: Option<String>,
    /// `serve`: connections held at once; one more gets 503 [env: RESTAGER_MAX_CONNECTIONS, default 256]
    #[arg(long, global = true, value_name = "N")]
    pub max_connections: Option<String>,
    /// `serve`: how long a shutdown waits for requests in progress [env: RESTAGER_SHUTDOWN_GRACE, default 10s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub shutdown_grace: Option<String>,
    /// Log lines as `text` or `json`; RUST_LOG sets what is logged (`serve` logs accepted notices,
    /// finished restages and refused requests under restager::accepted, restager::restage and
    /// restager::refused) [env: RESTAGER_LOG_FORMAT, default text]
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

impl SettingFlags {
    /// The flags that were given, by environment variable name.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        let pairs: [(&'static str, &Option<String>); 23] = [
            ("CF_API_URL", &self.cf_api_url),
            ("CF_CLIENT_ID", &self.cf_client_id),
            ("CF_CLIENT_SECRET", &self.cf_client_secret),
            ("CF_SKIP_SSL_VALIDATION", &self.cf_skip_ssl_validation),
            ("RESTAGER_LISTEN", &self.listen),
            ("RESTAGER_QUEUE_URL", &self.queue_url),
            ("RESTAGER_LEDGER_TABLE", &self.ledger_table),
            ("RESTAGER_DATA_DIR", &self.data_dir),
            ("RESTAGER_GITHUB_SECRETS", &self.github_secrets),
            ("RESTAGER_NOTICE_SECRETS", &self.notice_secrets),
            (
                "RESTAGER_MAX_CONCURRENT_RESTAGES",
                &self.max_concurrent_restages,
            ),
            ("RESTAGER_MAX_IN_FLIGHT", &self.max_in_flight),
            ("RESTAGER_POLL_INTERVAL", &self.poll_interval),
            ("RESTAGER_STAGING_TIMEOUT", &self.staging_timeout),
            ("RESTAGER_DEPLOY_TIMEOUT", &self.deploy_timeout),
            ("SLACK_BOT_TOKEN", &self.slack_bot_token),
            ("SLACK_CHANNEL", &self.slack_channel),
            ("SLACK_API_URL", &self.slack_api_url),
            ("SLACK_SIGNING_SECRET", &self.slack_signing_secret),
            ("RESTAGER_HEADER_READ_TIMEOUT", &self.header_read_timeout),
            ("RESTAGER_BODY_READ_TIMEOUT", &self.body_read_timeout),
            ("RESTAGER_MAX_CONNECTIONS", &self.max_connections),
            ("RESTAGER_SHUTDOWN_GRACE", &self.shutdown_grace),
        ];
        pairs
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
            .collect()
    }
}
