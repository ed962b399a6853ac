//! The workspace's test harness: builders the crates' test binaries share
//! ([`engine`]), ports that can be broken on purpose ([`fakes`]), and real
//! local servers ([`moto`]). Test code: panics with a clear message when the
//! environment cannot provide what a test needs.

pub mod browser;
pub mod engine;
pub mod fakes;
pub mod moto;
pub mod prometheus;
