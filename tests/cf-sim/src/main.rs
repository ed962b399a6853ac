//! `cf-sim`: run the simulator as a standalone server for demos and manual testing.

use std::net::SocketAddr;
use std::time::Duration;

use cf_sim::{CfSim, SimConfig};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "cf-sim",
    about = "Cloud Foundry Cloud Controller v3 + UAA simulator"
)]
struct Args {
    /// Apps in the seeded foundation.
    #[arg(long, default_value_t = 200)]
    apps: usize,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Seed for the foundation and probabilistic faults.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Deployment updater period (CC's default is 5s).
    #[arg(long, default_value = "5s", value_parser = humantime_duration)]
    tick: Duration,
    /// How long builds stay STAGING.
    #[arg(long, default_value = "30s", value_parser = humantime_duration)]
    staging: Duration,
    /// How long new instances stay STARTING.
    #[arg(long, default_value = "10s", value_parser = humantime_duration)]
    startup: Duration,
    /// Cloud Controller API version to play, e.g. 3.160.0: older releases
    /// answer without the fields and options they did not have yet.
    #[arg(long, default_value = cf_sim::DEFAULT_API_VERSION, value_parser = api_version)]
    api_version: String,
    /// Never-staged apps (`cf push --no-start`) added after the seeded ones.
    #[arg(long, default_value_t = 0)]
    never_staged: usize,
    #[arg(long, default_value = "restager")]
    client_id: String,
    #[arg(long, default_value = "restager-secret")]
    client_secret: String,
}

fn api_version(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        Ok(s.to_owned())
    } else {
        Err(format!("'{s}' is not an API version like 3.160.0"))
    }
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("'{s}' is not a duration like 500ms, 5s, 2m"))
}

/// `500ms`, `5s`, `2m`, `1h`, or bare seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let config = SimConfig {
        seed: args.seed,
        apps: args.apps,
        client_id: args.client_id,
        client_secret: args.client_secret,
        tick: args.tick,
        staging_duration: args.staging,
        instance_startup: args.startup,
        api_version: args.api_version.clone(),
        never_staged_apps: args.never_staged,
        ..SimConfig::default()
    };
    let sim = match CfSim::start_on(config, SocketAddr::new(args.bind, args.port)).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("cf-sim listening on {}", sim.url());
    println!("  apps:          {}", args.apps);
    println!("  API version:   {}", args.api_version);
    println!("  client id:     {}", sim.client_id());
    // The simulator's secret is a fixed test credential, printed so a
    // person can configure a client against it.
    println!("  client secret: {}", sim.client_secret());
    println!("Ctrl-C to stop.");
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("cannot wait for Ctrl-C: {e}");
    }
    sim.shutdown().await;
    std::process::ExitCode::SUCCESS
}
