//! Shared set-up: a simulator, and a CF client pointed at it the way the
//! worker builds one.

use std::time::Duration;

use cf_sim::CfSim;
use restager_shared::cf::{CfClient, CfClientOptions};
use restager_shared::config::{CfSettings, Secret};
use restager_shared::domain::{Notice, Version};
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
