//! The e2e crate's one integration-test binary.

mod bench;
mod infra;
