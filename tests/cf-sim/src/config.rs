//! Simulator settings. Defaults are tuned for tests: milliseconds instead of
//! the minutes a real foundation takes, so whole rollouts finish quickly.

use std::time::Duration;

/// Cloud Controller's rate limiter, off unless set (CC's default is off too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per client per window (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Window length; the counter resets at the end of each window.
    pub window: Duration,
}

/// The API version [`SimConfig::default`] plays.
pub const DEFAULT_API_VERSION: &str = "3.228.0";

/// How the simulated foundation is seeded and how fast it moves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed for the foundation and for probabilistic faults.
    pub seed: u64,
    /// Number of apps in the seeded foundation.
    pub apps: usize,
    pub client_id: String,
    pub client_secret: String,
    /// Scope string put in issued tokens.
    pub scope: String,
    /// `expires_in` of issued tokens; a token is refused once it has passed.
    pub token_ttl: Duration,
    /// How long a build stays STAGING before it settles.
    pub staging_duration: Duration,
    /// How long a new instance stays STARTING before it is RUNNING (or CRASHED).
    pub instance_startup: Duration,
    /// Deployment updater period; `Duration::ZERO` means manual `tick()` only.
    pub tick: Duration,
    /// Largest `per_page` accepted (CC: 5000).
    pub max_per_page: usize,
    pub rate_limit: Option<RateLimit>,
    /// Total memory of the foundation's default org quota, which every org
    /// has unless `CfSim::set_org_quota` gives it another (`None`: unlimited).
    pub org_memory_quota_mb: Option<u64>,
    /// CC's `staging.minimum_staging_memory_mb` (capi-release: 1024): a
    /// build stages with at least this much, and one asking for less (by
    /// request or by its web process's memory) is not checked against quota.
    pub staging_memory_mb: u64,
    /// The Cloud Controller API version to play: `links.cloud_controller_v3.meta.version`
    /// on `GET /`, and the shapes and validations of that release (see
    /// [`crate::since`]: e.g. below 3.174.0 apps have no
    /// `relationships.current_droplet`, below 3.173.0 deployment `options`
    /// are refused). An unparsable value plays the newest modelled release.
    pub api_version: String,
    /// Never-staged apps (`cf push --no-start`: STOPPED, a READY package, no
    /// droplet) added after the `apps` seeded ones, which stay as they were.
    pub never_staged_apps: usize,
    /// Diego's `CrashBackoffMinDuration` (30 s on a real foundation) at the
    /// simulator's time scale: after its third crash an instance waits
    /// `crash_backoff × 2^(crashes − 3)` (at most 32×) before Diego restarts
    /// it; the first two crashes restart at once, and after 200 it stays
    /// CRASHED (bbs models/restart_calculator.go).
    pub crash_backoff: Duration,
    /// How long each request waits before the simulator takes it up: the
    /// network and Cloud Controller's own work (its database queries), which
    /// a real foundation costs every client and the in-process simulator
    /// otherwise does not. The request is logged, and sees the world, as of
    /// when it is taken up. Zero by default.
    pub response_latency: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            apps: 20,
            client_id: "restager".to_owned(),
            client_secret: "restager-secret".to_owned(),
            scope: "cloud_controller.read cloud_controller.write".to_owned(),
            token_ttl: Duration::from_secs(43_199),
            staging_duration: Duration::from_millis(20),
            instance_startup: Duration::from_millis(10),
            tick: Duration::from_millis(5),
            max_per_page: 5000,
            rate_limit: None,
            org_memory_quota_mb: None,
            staging_memory_mb: 1024,
            // cloud_controller_ng 3bbba906 (config/version 3.228.0), the
            // release every shape here was checked against. It was 3.190.0,
            // but the simulator already modelled later features (stack
            // states from 3.210.0, deployment errors from 3.192.0, ...).
            api_version: DEFAULT_API_VERSION.to_owned(),
            never_staged_apps: 0,
            // 30 s at the defaults' 1000× scale.
            crash_backoff: Duration::from_millis(30),
            response_latency: Duration::ZERO,
        }
    }
}

impl SimConfig {
    /// Defaults with a given foundation size.
    pub fn with_apps(apps: usize) -> Self {
        Self {
            apps,
            ..Self::default()
        }
    }
}
