//! Shared set-up: a simulator, and a CF client pointed at it the way the
//! worker builds one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cf_sim::{CfSim, SimConfig};
use restager_shared::cf::{CfClient, CfClientOptions};
use restager_shared::config::{CfSettings, Secret};
use restager_shared::domain::{Notice, Version};
use restager_shared::signature::standard_webhooks;
use serde_json::json;
use url::Url;

use super::BenchError;

/// The buildpack every benchmark releases, and the versions before/after.
pub const BUILDPACK: &str = "ruby_buildpack";
pub const OLD_VERSION: &str = "1.10.29";
pub const NEW_VERSION: &str = "1.10.30";
/// The Standard Webhooks secret the benchmarks sign notices with.
pub const NOTICE_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The release every benchmark announces: BUILDPACK at NEW_VERSION.
pub fn release_notice() -> Result<Notice, BenchError> {
    Ok(Notice::Buildpack {
        buildpack: BUILDPACK.to_owned(),
        version: Version::parse(NEW_VERSION).map_err(|e| BenchError::Setup(e.to_string()))?,
        stack: None,
    })
}

/// A simulator of `apps` apps on which NEW_VERSION is installed, so every
/// app's droplet is outdated.
pub async fn released_sim(apps: usize, seed: u64) -> Result<CfSim, BenchError> {
    let sim = CfSim::start(SimConfig {
        seed,
        ..SimConfig::with_apps(apps)
    })
    .await
    .map_err(|e| BenchError::Setup(format!("simulator: {e}")))?;
    sim.install_buildpack(BUILDPACK, NEW_VERSION);
    Ok(sim)
}

/// The Standard Webhooks headers of a signed notice.
pub type SignatureHeaders = [(&'static str, String); 3];

/// The release as a releaser sends it: the JSON body and its Standard
/// Webhooks headers, signed now with NOTICE_SECRET under `message_id`.
pub fn signed_notice(message_id: &str) -> Result<(String, SignatureHeaders), BenchError> {
    let body = json!({
        "type": "buildpack.released",
        "buildpack": BUILDPACK,
        "version": NEW_VERSION,
    })
    .to_string();
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let headers = standard_webhooks::signed_headers(
        &[Secret::new(NOTICE_SECRET.to_owned())],
        message_id,
        ts,
        body.as_bytes(),
    )
    .map_err(|e| BenchError::Setup(format!("signing the notice: {e}")))?;
    Ok((body, headers))
}

pub fn cf_settings(sim: &CfSim) -> Result<CfSettings, BenchError> {
    Ok(CfSettings {
        api_url: Url::parse(&sim.url()).map_err(|e| BenchError::Setup(e.to_string()))?,
        client_id: sim.client_id().to_owned(),
        client_secret: Secret::new(sim.client_secret().to_owned()),
        skip_ssl_validation: false,
    })
}

/// A client with production options, except that it never waits out a
/// long back-off on a loopback simulator.
pub fn client(sim: &CfSim) -> Result<CfClient, BenchError> {
    let options = CfClientOptions {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        ..CfClientOptions::default()
    };
    CfClient::with_options(&cf_settings(sim)?, options)
        .map_err(|e| BenchError::Setup(format!("CF client: {e}")))
}
