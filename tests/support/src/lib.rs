//! The workspace's test harness: builders and fakes the crates' test
//! binaries share ([`engine`]), and real local servers ([`moto`]).
//! Real local servers for tests. Test code: panics with a clear message
//! when the environment cannot provide what a test needs.

pub mod engine;
pub mod fakes;
pub mod moto;
