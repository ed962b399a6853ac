//! Shared set-up: a simulator, and a CF client pointed at it the way the
//! worker builds one.

use std::time::Duration;

use cf_sim::CfSim;
use restager_shared::cf::{CfClient, CfClientOptions};
use restager_shared::config::{CfSettings, Secret};
use url::Url;

use super::BenchError;

/// The buildpack every benchmark releases, and the versions before/after.
pub const BUILDPACK: &str = "ruby_buildpack";
pub const OLD_VERSION: &str = "1.10.29";
pub const NEW_VERSION: &str = "1.10.30";

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
