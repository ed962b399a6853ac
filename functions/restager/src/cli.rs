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
    /// Runs and per-app outcomes, from the ledger or a running serve (--server).
    Status(StatusArgs),
    /// Sign a release notice and send it to a restager (from CI or a release feed); the secret
    /// comes from RESTAGER_NOTICE_SECRET.
    Notify(NotifyArgs),
    /// Pause a run: no new restage starts (restages in flight finish) until it is resumed.
    Pause(ControlArgs),
    /// Resume a paused or halted run: held jobs are queued again, the error budget re-armed.
    Resume(ControlArgs),
    /// Abort a run: every job not finished is recorded as skipped.
    Abort(ControlArgs),
}

#[derive(Debug, Args)]
pub struct ControlArgs {
    /// The run id (`restager status` lists them; its first 4 or more characters are enough).
    pub run: String,
    /// Who is acting, as recorded in the run's history [default: cli:$USER]
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
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
pub struct NotifyArgs {
    /// The restager to notify: its base URL (…/webhooks/notice is added) or the full route.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// A buildpack release, e.g. ruby_buildpack (with --version, optionally --stack).
    #[arg(long, conflicts_with_all = ["stemcell", "notice"])]
    pub buildpack: Option<String>,
    /// A stack release (or, with --buildpack, the stack the buildpack release is for).
    #[arg(long, conflicts_with_all = ["stemcell", "notice"])]
    pub stack: Option<String>,
    /// A stemcell release, e.g. ubuntu-jammy (with --version).
    #[arg(long, conflicts_with = "notice")]
    pub stemcell: Option<String>,
    /// The released version, e.g. 1.10.29.
    #[arg(long)]
    pub version: Option<String>,
    /// A notice file in the format of `POST /webhooks/notice` instead of the flags above.
    #[arg(long, value_name = "FILE")]
    pub notice: Option<PathBuf>,
    /// The webhook-id to send: give the same one when retrying a send, so it is processed once.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
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

/// One flag per environment variable the functions read, grouped under
/// headings so each subcommand's `--help` lists its own options first. They
/// are global so they can be given before or after the subcommand.
#[derive(Debug, Args, Default)]
pub struct SettingFlags {
    /// Cloud Controller API root [env: CF_API_URL]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help_heading = "Cloud Foundry"
    )]
    pub cf_api_url: Option<String>,
    /// UAA client id [env: CF_CLIENT_ID]
    #[arg(long, global = true, value_name = "ID", help_heading = "Cloud Foundry")]
    pub cf_client_id: Option<String>,
    /// UAA client secret; prefer the environment variable [env: CF_CLIENT_SECRET]
    #[arg(
        long,
        global = true,
        value_name = "SECRET",
        help_heading = "Cloud Foundry",
        hide_env_values = true
    )]
    pub cf_client_secret: Option<String>,
    /// Accept self-signed certificates (lab foundations only) [env: CF_SKIP_SSL_VALIDATION]
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        help_heading = "Cloud Foundry"
    )]
    pub cf_skip_ssl_validation: Option<String>,
    /// SQS queue URL; unset = the embedded on-disk queue [env: RESTAGER_QUEUE_URL]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help_heading = "Queue and ledger"
    )]
    pub queue_url: Option<String>,
    /// DynamoDB ledger table; unset = the embedded store [env: RESTAGER_LEDGER_TABLE]
    #[arg(
        long,
        global = true,
        value_name = "TABLE",
        help_heading = "Queue and ledger"
    )]
    pub ledger_table: Option<String>,
    /// Directory of the embedded queue and ledger [env: RESTAGER_DATA_DIR, default .restager]
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Queue and ledger"
    )]
    pub data_dir: Option<String>,
    /// GitHub webhook secrets, comma-separated [env: RESTAGER_GITHUB_SECRETS]
    #[arg(
        long,
        global = true,
        value_name = "SECRETS",
        help_heading = "Webhooks and notices",
        hide_env_values = true
    )]
    pub github_secrets: Option<String>,
    /// Standard Webhooks secrets (whsec_...), comma-separated [env: RESTAGER_NOTICE_SECRETS]
    #[arg(
        long,
        global = true,
        value_name = "SECRETS",
        help_heading = "Webhooks and notices",
        hide_env_values = true
    )]
    pub notice_secrets: Option<String>,
    /// What a buildpack notice does: restage, restart or none [env: RESTAGER_BUILDPACK_ACTION, default restage]
    #[arg(
        long,
        global = true,
        value_name = "ACTION",
        help_heading = "Webhooks and notices"
    )]
    pub buildpack_action: Option<String>,
    /// What a stack notice does: restage, restart or none [env: RESTAGER_STACK_ACTION, default restage]
    #[arg(
        long,
        global = true,
        value_name = "ACTION",
        help_heading = "Webhooks and notices"
    )]
    pub stack_action: Option<String>,
    /// What a stemcell notice does: restage, restart or none [env: RESTAGER_STEMCELL_ACTION, default none]
    #[arg(
        long,
        global = true,
        value_name = "ACTION",
        help_heading = "Webhooks and notices"
    )]
    pub stemcell_action: Option<String>,
    /// owner/repo=buildpack_name,... for custom buildpacks' GitHub releases [env: RESTAGER_REPO_MAP]
    #[arg(
        long,
        global = true,
        value_name = "MAP",
        help_heading = "Webhooks and notices"
    )]
    pub repo_map: Option<String>,
    /// Act on GitHub pre-releases [env: RESTAGER_ACCEPT_PRERELEASES, default false]
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        help_heading = "Webhooks and notices"
    )]
    pub accept_prereleases: Option<String>,
    /// Act on GitHub drafts [env: RESTAGER_ACCEPT_DRAFTS, default false]
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        help_heading = "Webhooks and notices"
    )]
    pub accept_drafts: Option<String>,
    /// Only these orgs, comma-separated [env: RESTAGER_ORGS_ALLOW]
    #[arg(long, global = true, value_name = "ORGS", help_heading = "Scope")]
    pub orgs_allow: Option<String>,
    /// Never these orgs, comma-separated [env: RESTAGER_ORGS_DENY]
    #[arg(long, global = true, value_name = "ORGS", help_heading = "Scope")]
    pub orgs_deny: Option<String>,
    /// Only these spaces (name or org/space), comma-separated [env: RESTAGER_SPACES_ALLOW]
    #[arg(long, global = true, value_name = "SPACES", help_heading = "Scope")]
    pub spaces_allow: Option<String>,
    /// Never these spaces (name or org/space), comma-separated [env: RESTAGER_SPACES_DENY]
    #[arg(long, global = true, value_name = "SPACES", help_heading = "Scope")]
    pub spaces_deny: Option<String>,
    /// Restages at once in this process [env: RESTAGER_MAX_CONCURRENT_RESTAGES, default 10]
    #[arg(long, global = true, value_name = "N", help_heading = "Worker")]
    pub max_concurrent_restages: Option<String>,
    /// Deployment max_in_flight [env: RESTAGER_MAX_IN_FLIGHT, default 1]
    #[arg(long, global = true, value_name = "N", help_heading = "Worker")]
    pub max_in_flight: Option<String>,
    /// Restages at once in one space, where its quota holds them [env: RESTAGER_MAX_PER_SPACE, default 2]
    #[arg(long, global = true, value_name = "N", help_heading = "Worker")]
    pub max_per_space: Option<String>,
    /// Poll builds and deployments when they are likely done, from their history [env: RESTAGER_PREDICTED_POLLING, default true]
    #[arg(long, global = true, value_name = "BOOL", help_heading = "Worker")]
    pub predicted_polling: Option<String>,
    /// Build/deployment poll interval [env: RESTAGER_POLL_INTERVAL, default 10s]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "Worker")]
    pub poll_interval: Option<String>,
    /// Staging timeout [env: RESTAGER_STAGING_TIMEOUT, default 15m]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "Worker")]
    pub staging_timeout: Option<String>,
    /// Deployment timeout before cancelling [env: RESTAGER_DEPLOY_TIMEOUT, default 10m]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "Worker")]
    pub deploy_timeout: Option<String>,
    /// Watch a DEPLOYED app this long for crashes before it counts; 0s turns verification and rollback off [env: RESTAGER_VERIFY_FOR, default 2m]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "Worker")]
    pub verify_for: Option<String>,
    /// rolling or canary [env: RESTAGER_STRATEGY, default rolling]
    #[arg(long, global = true, value_name = "STRATEGY", help_heading = "Worker")]
    pub strategy: Option<String>,
    /// Canary instance weights in percent, e.g. 10,50 (CC 3.189+) [env: RESTAGER_CANARY_STEPS]
    #[arg(long, global = true, value_name = "WEIGHTS", help_heading = "Worker")]
    pub canary_steps: Option<String>,
    /// Deliveries before a retryable job is recorded as failed [env: RESTAGER_MAX_ATTEMPTS, default 8]
    #[arg(long, global = true, value_name = "N", help_heading = "Worker")]
    pub max_attempts: Option<String>,
    /// When restages may start: `always`, or `;`-separated `DAYS HH:MM-HH:MM ZONE` windows such as
    /// `Sat,Sun 02:00-06:00 Europe/Berlin` [env: RESTAGER_WINDOW, default always]
    #[arg(long, global = true, value_name = "WINDOWS", help_heading = "Windows")]
    pub window: Option<String>,
    /// No new restage starts later than a window's end minus this [env: RESTAGER_WINDOW_CUTOFF, default 30m]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "Windows")]
    pub window_cutoff: Option<String>,
    /// Act on a release only once it is this old; announced at once [env: RESTAGER_MIN_RELEASE_AGE, default 0s]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "Windows")]
    pub min_release_age: Option<String>,
    /// Ordered waves: `;`-separated lists of space patterns (`space`, `org/space`, `*` globs), e.g.
    /// `*/dev*,*/test*;*/staging*;*`; a space label restager.io/wave=N overrides [env: RESTAGER_WAVES, default one wave]
    #[arg(long, global = true, value_name = "WAVES", help_heading = "Rollout")]
    pub waves: Option<String>,
    /// Wait after a wave's last restage before the next wave starts [env: RESTAGER_WAVE_SOAK, default 10m]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "Rollout")]
    pub wave_soak: Option<String>,
    /// Failures (failed + rolled back) a run may have before it halts: a count (3) or a share of its
    /// jobs (10%) [env: RESTAGER_MAX_FAILURES, default 10%]
    #[arg(
        long,
        global = true,
        value_name = "N|PERCENT",
        help_heading = "Rollout"
    )]
    pub max_failures: Option<String>,
    /// Slack bot token (xoxb-...) [env: SLACK_BOT_TOKEN]
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        help_heading = "Slack",
        hide_env_values = true
    )]
    pub slack_bot_token: Option<String>,
    /// Slack channel id [env: SLACK_CHANNEL]
    #[arg(long, global = true, value_name = "CHANNEL", help_heading = "Slack")]
    pub slack_channel: Option<String>,
    /// Slack Web API base URL [env: SLACK_API_URL, default https://slack.com/api]
    #[arg(long, global = true, value_name = "URL", help_heading = "Slack")]
    pub slack_api_url: Option<String>,
    /// Slack signing secret for /slack/actions [env: SLACK_SIGNING_SECRET]
    #[arg(
        long,
        global = true,
        value_name = "SECRET",
        help_heading = "Slack",
        hide_env_values = true
    )]
    pub slack_signing_secret: Option<String>,
    /// Listen address of `serve`, host:port (names are resolved) [env: RESTAGER_LISTEN, default 127.0.0.1:8080]
    #[arg(long, global = true, value_name = "ADDR", help_heading = "serve")]
    pub listen: Option<String>,
    /// The request head must arrive within this [env: RESTAGER_HEADER_READ_TIMEOUT, default 10s]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "serve")]
    pub header_read_timeout: Option<String>,
    /// The whole body must arrive within this, else 408 [env: RESTAGER_BODY_READ_TIMEOUT, default 30s]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "serve")]
    pub body_read_timeout: Option<String>,
    /// Connections held at once; one more gets 503 [env: RESTAGER_MAX_CONNECTIONS, default 256]
    #[arg(long, global = true, value_name = "N", help_heading = "serve")]
    pub max_connections: Option<String>,
    /// How long a shutdown waits for requests in progress [env: RESTAGER_SHUTDOWN_GRACE, default 10s]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "serve")]
    pub shutdown_grace: Option<String>,
    /// How often `serve` asks unfinished runs' wave gates (the Lambda deployment's tick schedule
    /// does it there) [env: RESTAGER_TICK_INTERVAL, default 30s]
    #[arg(long, global = true, value_name = "DURATION", help_heading = "serve")]
    pub tick_interval: Option<String>,
    /// The one whsec_ secret `restager notify` signs with; prefer the environment variable
    /// [env: RESTAGER_NOTICE_SECRET]
    #[arg(
        long,
        global = true,
        value_name = "SECRET",
        help_heading = "Webhooks and notices",
        hide_env_values = true
    )]
    pub notice_secret: Option<String>,
    /// The admin token: `serve` turns on GET /runs with it (unset: off), `status --server` sends it;
    /// prefer the environment variable [env: RESTAGER_ADMIN_TOKEN]
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        help_heading = "Admin API",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Talk to this running `restager serve` instead of reading the ledger, e.g.
    /// http://127.0.0.1:8080 [env: RESTAGER_SERVER_URL]
    #[arg(
        long = "server",
        global = true,
        value_name = "URL",
        help_heading = "Admin API"
    )]
    pub server_url: Option<String>,
    /// Log lines as `text` or `json`; RUST_LOG sets what is logged (`serve` logs accepted notices,
    /// finished restages and refused requests under restager::accepted, restager::restage and
    /// restager::refused) [env: RESTAGER_LOG_FORMAT, default text]
    #[arg(long, global = true, value_name = "FORMAT", help_heading = "Logs")]
    pub log_format: Option<String>,
}

impl SettingFlags {
    /// The flags that were given, by environment variable name.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        self.named()
            .into_iter()
            .filter_map(|(name, _, value)| value.clone().map(|v| (name, v)))
            .collect()
    }

    /// The flag that sets `variable`, when it was given on the command line
    /// (so an error about its value can name what the operator typed).
    pub fn flag_for(&self, variable: &str) -> Option<&'static str> {
        self.named()
            .into_iter()
            .find(|(name, _, value)| *name == variable && value.is_some())
            .map(|(_, flag, _)| flag)
    }

    /// Every setting flag: its variable, its flag and its value.
    fn named(&self) -> Vec<(&'static str, &'static str, &Option<String>)> {
        vec![
            ("CF_API_URL", "--cf-api-url", &self.cf_api_url),
            ("CF_CLIENT_ID", "--cf-client-id", &self.cf_client_id),
            (
                "CF_CLIENT_SECRET",
                "--cf-client-secret",
                &self.cf_client_secret,
            ),
            (
                "CF_SKIP_SSL_VALIDATION",
                "--cf-skip-ssl-validation",
                &self.cf_skip_ssl_validation,
            ),
            ("RESTAGER_QUEUE_URL", "--queue-url", &self.queue_url),
            (
                "RESTAGER_LEDGER_TABLE",
                "--ledger-table",
                &self.ledger_table,
            ),
            ("RESTAGER_DATA_DIR", "--data-dir", &self.data_dir),
            (
                "RESTAGER_GITHUB_SECRETS",
                "--github-secrets",
                &self.github_secrets,
            ),
            (
                "RESTAGER_NOTICE_SECRETS",
                "--notice-secrets",
                &self.notice_secrets,
            ),
            (
                "RESTAGER_NOTICE_SECRET",
                "--notice-secret",
                &self.notice_secret,
            ),
            (
                "RESTAGER_BUILDPACK_ACTION",
                "--buildpack-action",
                &self.buildpack_action,
            ),
            (
                "RESTAGER_STACK_ACTION",
                "--stack-action",
                &self.stack_action,
            ),
            (
                "RESTAGER_STEMCELL_ACTION",
                "--stemcell-action",
                &self.stemcell_action,
            ),
            ("RESTAGER_REPO_MAP", "--repo-map", &self.repo_map),
            (
                "RESTAGER_ACCEPT_PRERELEASES",
                "--accept-prereleases",
                &self.accept_prereleases,
            ),
            (
                "RESTAGER_ACCEPT_DRAFTS",
                "--accept-drafts",
                &self.accept_drafts,
            ),
            ("RESTAGER_ORGS_ALLOW", "--orgs-allow", &self.orgs_allow),
            ("RESTAGER_ORGS_DENY", "--orgs-deny", &self.orgs_deny),
            (
                "RESTAGER_SPACES_ALLOW",
                "--spaces-allow",
                &self.spaces_allow,
            ),
            ("RESTAGER_SPACES_DENY", "--spaces-deny", &self.spaces_deny),
            (
                "RESTAGER_MAX_CONCURRENT_RESTAGES",
                "--max-concurrent-restages",
                &self.max_concurrent_restages,
            ),
            (
                "RESTAGER_MAX_IN_FLIGHT",
                "--max-in-flight",
                &self.max_in_flight,
            ),
            (
                "RESTAGER_MAX_PER_SPACE",
                "--max-per-space",
                &self.max_per_space,
            ),
            (
                "RESTAGER_PREDICTED_POLLING",
                "--predicted-polling",
                &self.predicted_polling,
            ),
            (
                "RESTAGER_POLL_INTERVAL",
                "--poll-interval",
                &self.poll_interval,
            ),
            (
                "RESTAGER_STAGING_TIMEOUT",
                "--staging-timeout",
                &self.staging_timeout,
            ),
            (
                "RESTAGER_DEPLOY_TIMEOUT",
                "--deploy-timeout",
                &self.deploy_timeout,
            ),
            ("RESTAGER_VERIFY_FOR", "--verify-for", &self.verify_for),
            ("RESTAGER_STRATEGY", "--strategy", &self.strategy),
            (
                "RESTAGER_CANARY_STEPS",
                "--canary-steps",
                &self.canary_steps,
            ),
            (
                "RESTAGER_MAX_ATTEMPTS",
                "--max-attempts",
                &self.max_attempts,
            ),
            ("RESTAGER_WINDOW", "--window", &self.window),
            (
                "RESTAGER_WINDOW_CUTOFF",
                "--window-cutoff",
                &self.window_cutoff,
            ),
            (
                "RESTAGER_MIN_RELEASE_AGE",
                "--min-release-age",
                &self.min_release_age,
            ),
            ("RESTAGER_WAVES", "--waves", &self.waves),
            ("RESTAGER_WAVE_SOAK", "--wave-soak", &self.wave_soak),
            (
                "RESTAGER_MAX_FAILURES",
                "--max-failures",
                &self.max_failures,
            ),
            (
                "SLACK_BOT_TOKEN",
                "--slack-bot-token",
                &self.slack_bot_token,
            ),
            ("SLACK_CHANNEL", "--slack-channel", &self.slack_channel),
            ("SLACK_API_URL", "--slack-api-url", &self.slack_api_url),
            (
                "SLACK_SIGNING_SECRET",
                "--slack-signing-secret",
                &self.slack_signing_secret,
            ),
            ("RESTAGER_LISTEN", "--listen", &self.listen),
            (
                "RESTAGER_HEADER_READ_TIMEOUT",
                "--header-read-timeout",
                &self.header_read_timeout,
            ),
            (
                "RESTAGER_BODY_READ_TIMEOUT",
                "--body-read-timeout",
                &self.body_read_timeout,
            ),
            (
                "RESTAGER_MAX_CONNECTIONS",
                "--max-connections",
                &self.max_connections,
            ),
            (
                "RESTAGER_SHUTDOWN_GRACE",
                "--shutdown-grace",
                &self.shutdown_grace,
            ),
            ("RESTAGER_ADMIN_TOKEN", "--admin-token", &self.admin_token),
            ("RESTAGER_SERVER_URL", "--server", &self.server_url),
            (
                "RESTAGER_TICK_INTERVAL",
                "--tick-interval",
                &self.tick_interval,
            ),
        ]
    }
}
