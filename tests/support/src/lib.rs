//! Real local servers for tests. Test code: panics with a clear message
//! when the environment cannot provide what a test needs.

pub mod moto;
