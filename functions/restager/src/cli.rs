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

/// One flag per environment variable the functions read. The variable, the
/// flag and the field stand together in one table so that `overrides` and
/// `flag_for` cannot drift from the struct clap parses.
macro_rules! setting_flags {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident: $variable:literal => $long:literal as $value_name:literal
                    in $heading:literal $(, $hide:ident)?;
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[arg(
                    long = $long,
                    global = true,
                    value_name = $value_name,
                    help_heading = $heading
                    $(, $hide = true)?
                )]
                pub $field: Option<String>,
            )*
        }

        impl $name {
            /// Every setting flag: its variable, its flag and its value.
            fn named(&self) -> Vec<(&'static str, &'static str, &Option<String>)> {
                vec![$(($variable, concat!("--", $long), &self.$field)),*]
            }
        }
    };
}

setting_flags! {
    /// One flag per environment variable the functions read, grouped under
    /// headings so each subcommand's `--help` lists its own options first. They
    /// are global so they can be given before or after the subcommand.
    #[derive(Debug, Args, Default)]
    pub struct SettingFlags {
        /// Cloud Controller API root [env: CF_API_URL]
        cf_api_url: "CF_API_URL" => "cf-api-url" as "URL" in "Cloud Foundry";
        /// UAA client id [env: CF_CLIENT_ID]
        cf_client_id: "CF_CLIENT_ID" => "cf-client-id" as "ID" in "Cloud Foundry";
        /// UAA client secret; prefer the environment variable [env: CF_CLIENT_SECRET]
        cf_client_secret: "CF_CLIENT_SECRET" => "cf-client-secret" as "SECRET"
            in "Cloud Foundry", hide_env_values;
        /// Accept self-signed certificates (lab foundations only) [env: CF_SKIP_SSL_VALIDATION]
        cf_skip_ssl_validation: "CF_SKIP_SSL_VALIDATION" => "cf-skip-ssl-validation" as "BOOL"
            in "Cloud Foundry";
        /// SQS queue URL; unset = the embedded on-disk queue [env: RESTAGER_QUEUE_URL]
        queue_url: "RESTAGER_QUEUE_URL" => "queue-url" as "URL" in "Queue and ledger";
        /// DynamoDB ledger table; unset = the embedded store [env: RESTAGER_LEDGER_TABLE]
        ledger_table: "RESTAGER_LEDGER_TABLE" => "ledger-table" as "TABLE" in "Queue and ledger";
        /// Directory of the embedded queue and ledger [env: RESTAGER_DATA_DIR, default .restager]
        data_dir: "RESTAGER_DATA_DIR" => "data-dir" as "DIR" in "Queue and ledger";
        /// GitHub webhook secrets, comma-separated [env: RESTAGER_GITHUB_SECRETS]
        github_secrets: "RESTAGER_GITHUB_SECRETS" => "github-secrets" as "SECRETS"
            in "Webhooks and notices", hide_env_values;
        /// Standard Webhooks secrets (whsec_...), comma-separated [env: RESTAGER_NOTICE_SECRETS]
        notice_secrets: "RESTAGER_NOTICE_SECRETS" => "notice-secrets" as "SECRETS"
            in "Webhooks and notices", hide_env_values;
        /// What a buildpack notice does: restage, restart or none [env: RESTAGER_BUILDPACK_ACTION, default restage]
        buildpack_action: "RESTAGER_BUILDPACK_ACTION" => "buildpack-action" as "ACTION"
            in "Webhooks and notices";
        /// What a stack notice does: restage, restart or none [env: RESTAGER_STACK_ACTION, default restage]
        stack_action: "RESTAGER_STACK_ACTION" => "stack-action" as "ACTION"
            in "Webhooks and notices";
        /// What a stemcell notice does: restage, restart or none [env: RESTAGER_STEMCELL_ACTION, default none]
        stemcell_action: "RESTAGER_STEMCELL_ACTION" => "stemcell-action" as "ACTION"
            in "Webhooks and notices";
        /// owner/repo=buildpack_name,... for custom buildpacks' GitHub releases [env: RESTAGER_REPO_MAP]
        repo_map: "RESTAGER_REPO_MAP" => "repo-map" as "MAP" in "Webhooks and notices";
        /// Act on GitHub pre-releases [env: RESTAGER_ACCEPT_PRERELEASES, default false]
        accept_prereleases: "RESTAGER_ACCEPT_PRERELEASES" => "accept-prereleases" as "BOOL"
            in "Webhooks and notices";
        /// Act on GitHub drafts [env: RESTAGER_ACCEPT_DRAFTS, default false]
        accept_drafts: "RESTAGER_ACCEPT_DRAFTS" => "accept-drafts" as "BOOL"
            in "Webhooks and notices";
        /// Only these orgs, comma-separated [env: RESTAGER_ORGS_ALLOW]
        orgs_allow: "RESTAGER_ORGS_ALLOW" => "orgs-allow" as "ORGS" in "Scope";
        /// Never these orgs, comma-separated [env: RESTAGER_ORGS_DENY]
        orgs_deny: "RESTAGER_ORGS_DENY" => "orgs-deny" as "ORGS" in "Scope";
        /// Only these spaces (name or org/space), comma-separated [env: RESTAGER_SPACES_ALLOW]
        spaces_allow: "RESTAGER_SPACES_ALLOW" => "spaces-allow" as "SPACES" in "Scope";
        /// Never these spaces (name or org/space), comma-separated [env: RESTAGER_SPACES_DENY]
        spaces_deny: "RESTAGER_SPACES_DENY" => "spaces-deny" as "SPACES" in "Scope";
        /// Restages at once in this process [env: RESTAGER_MAX_CONCURRENT_RESTAGES, default 10]
        max_concurrent_restages: "RESTAGER_MAX_CONCURRENT_RESTAGES" => "max-concurrent-restages" as "N"
            in "Worker";
        /// Deployment max_in_flight [env: RESTAGER_MAX_IN_FLIGHT, default 1]
        max_in_flight: "RESTAGER_MAX_IN_FLIGHT" => "max-in-flight" as "N" in "Worker";
        /// Restages at once in one space, where its quota holds them [env: RESTAGER_MAX_PER_SPACE, default 2]
        max_per_space: "RESTAGER_MAX_PER_SPACE" => "max-per-space" as "N" in "Worker";
        /// Poll builds and deployments when they are likely done, from their history [env: RESTAGER_PREDICTED_POLLING, default true]
        predicted_polling: "RESTAGER_PREDICTED_POLLING" => "predicted-polling" as "BOOL"
            in "Worker";
        /// The foundation's deployment updater period; predicted rollouts are polled just after its ticks, 0s never aims [env: RESTAGER_CC_UPDATER_PERIOD, default 5s]
        cc_updater_period: "RESTAGER_CC_UPDATER_PERIOD" => "cc-updater-period" as "DURATION" in "Worker";
        /// Build/deployment poll interval [env: RESTAGER_POLL_INTERVAL, default 10s]
        poll_interval: "RESTAGER_POLL_INTERVAL" => "poll-interval" as "DURATION" in "Worker";
        /// Staging timeout [env: RESTAGER_STAGING_TIMEOUT, default 15m]
        staging_timeout: "RESTAGER_STAGING_TIMEOUT" => "staging-timeout" as "DURATION" in "Worker";
        /// Deployment timeout before cancelling [env: RESTAGER_DEPLOY_TIMEOUT, default 10m]
        deploy_timeout: "RESTAGER_DEPLOY_TIMEOUT" => "deploy-timeout" as "DURATION" in "Worker";
        /// Watch a DEPLOYED app this long for crashes before it counts; 0s turns verification and rollback off [env: RESTAGER_VERIFY_FOR, default 2m]
        verify_for: "RESTAGER_VERIFY_FOR" => "verify-for" as "DURATION" in "Worker";
        /// rolling or canary [env: RESTAGER_STRATEGY, default rolling]
        strategy: "RESTAGER_STRATEGY" => "strategy" as "STRATEGY" in "Worker";
        /// Canary instance weights in percent, e.g. 10,50 (CC 3.189+) [env: RESTAGER_CANARY_STEPS]
        canary_steps: "RESTAGER_CANARY_STEPS" => "canary-steps" as "WEIGHTS" in "Worker";
        /// Deliveries before a retryable job is recorded as failed [env: RESTAGER_MAX_ATTEMPTS, default 8]
        max_attempts: "RESTAGER_MAX_ATTEMPTS" => "max-attempts" as "N" in "Worker";
        /// When restages may start: `always`, or `;`-separated `DAYS HH:MM-HH:MM ZONE` windows such as
        /// `Sat,Sun 02:00-06:00 Europe/Berlin` [env: RESTAGER_WINDOW, default always]
        window: "RESTAGER_WINDOW" => "window" as "WINDOWS" in "Windows";
        /// No new restage starts later than a window's end minus this [env: RESTAGER_WINDOW_CUTOFF, default 30m]
        window_cutoff: "RESTAGER_WINDOW_CUTOFF" => "window-cutoff" as "DURATION" in "Windows";
        /// Act on a release only once it is this old; announced at once [env: RESTAGER_MIN_RELEASE_AGE, default 0s]
        min_release_age: "RESTAGER_MIN_RELEASE_AGE" => "min-release-age" as "DURATION" in "Windows";
        /// Ordered waves: `;`-separated lists of space patterns (`space`, `org/space`, `*` globs), e.g.
        /// `*/dev*,*/test*;*/staging*;*`; a space label restager.io/wave=N overrides [env: RESTAGER_WAVES, default one wave]
        waves: "RESTAGER_WAVES" => "waves" as "WAVES" in "Rollout";
        /// Wait after a wave's last restage before the next wave starts [env: RESTAGER_WAVE_SOAK, default 10m]
        wave_soak: "RESTAGER_WAVE_SOAK" => "wave-soak" as "DURATION" in "Rollout";
        /// Failures (failed + rolled back) a run may have before it halts: a count (3) or a share of its
        /// jobs (10%) [env: RESTAGER_MAX_FAILURES, default 10%]
        max_failures: "RESTAGER_MAX_FAILURES" => "max-failures" as "N|PERCENT" in "Rollout";
        /// Slack bot token (xoxb-...) [env: SLACK_BOT_TOKEN]
        slack_bot_token: "SLACK_BOT_TOKEN" => "slack-bot-token" as "TOKEN"
            in "Slack", hide_env_values;
        /// Slack channel id [env: SLACK_CHANNEL]
        slack_channel: "SLACK_CHANNEL" => "slack-channel" as "CHANNEL" in "Slack";
        /// Slack Web API base URL [env: SLACK_API_URL, default https://slack.com/api]
        slack_api_url: "SLACK_API_URL" => "slack-api-url" as "URL" in "Slack";
        /// Slack signing secret for /slack/actions [env: SLACK_SIGNING_SECRET]
        slack_signing_secret: "SLACK_SIGNING_SECRET" => "slack-signing-secret" as "SECRET"
            in "Slack", hide_env_values;
        /// Listen address of `serve`, host:port (names are resolved) [env: RESTAGER_LISTEN, default 127.0.0.1:8080]
        listen: "RESTAGER_LISTEN" => "listen" as "ADDR" in "serve";
        /// The request head must arrive within this [env: RESTAGER_HEADER_READ_TIMEOUT, default 10s]
        header_read_timeout: "RESTAGER_HEADER_READ_TIMEOUT" => "header-read-timeout" as "DURATION"
            in "serve";
        /// The whole body must arrive within this, else 408 [env: RESTAGER_BODY_READ_TIMEOUT, default 30s]
        body_read_timeout: "RESTAGER_BODY_READ_TIMEOUT" => "body-read-timeout" as "DURATION"
            in "serve";
        /// Connections held at once; one more gets 503 [env: RESTAGER_MAX_CONNECTIONS, default 256]
        max_connections: "RESTAGER_MAX_CONNECTIONS" => "max-connections" as "N" in "serve";
        /// How long a shutdown waits for requests in progress [env: RESTAGER_SHUTDOWN_GRACE, default 10s]
        shutdown_grace: "RESTAGER_SHUTDOWN_GRACE" => "shutdown-grace" as "DURATION" in "serve";
        /// How often `serve` asks unfinished runs' wave gates (the Lambda deployment's tick schedule
        /// does it there) [env: RESTAGER_TICK_INTERVAL, default 30s]
        tick_interval: "RESTAGER_TICK_INTERVAL" => "tick-interval" as "DURATION" in "serve";
        /// The one whsec_ secret `restager notify` signs with; prefer the environment variable
        /// [env: RESTAGER_NOTICE_SECRET]
        notice_secret: "RESTAGER_NOTICE_SECRET" => "notice-secret" as "SECRET"
            in "Webhooks and notices", hide_env_values;
        /// The admin token: `serve` turns on GET /runs with it (unset: off), `status --server` sends it;
        /// prefer the environment variable [env: RESTAGER_ADMIN_TOKEN]
        admin_token: "RESTAGER_ADMIN_TOKEN" => "admin-token" as "TOKEN"
            in "Admin API", hide_env_values;
        /// Talk to this running `restager serve` instead of reading the ledger, e.g.
        /// http://127.0.0.1:8080 [env: RESTAGER_SERVER_URL]
        server_url: "RESTAGER_SERVER_URL" => "server" as "URL" in "Admin API";
        /// Log lines as `text` or `json`; RUST_LOG sets what is logged (`serve` logs accepted notices,
        /// finished restages and refused requests under restager::accepted, restager::restage and
        /// restager::refused) [env: RESTAGER_LOG_FORMAT, default text]
        log_format: "RESTAGER_LOG_FORMAT" => "log-format" as "FORMAT" in "Logs";
    }
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
}
