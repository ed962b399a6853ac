//! The workspace's test harness: builders the crates' test binaries share
//! ([`engine`], [`rollout`]), ports that can be broken on purpose
//! ([`fakes`]), real local servers ([`moto`]), a real headless browser
//! ([`browser`]) and a Prometheus text-format parser that is not restager's
//! ([`prometheus`]), and the environment every Lambda's settings need
//! ([`env`]). Test code: panics with a clear message when the
//! environment cannot provide what a test needs.

pub mod browser;
pub mod engine;
pub mod env;
pub mod fakes;
pub mod moto;
pub mod prometheus;
pub mod rollout;
