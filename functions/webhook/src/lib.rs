//! The webhook Lambda: a thin lambda_http shell around the shared router
//! ([`restager_shared::webhook::Router`]). This crate only reads settings,
//! wires the AWS adapters, and converts between lambda_http's request and
//! response types and the router's, keeping the body's bytes untouched.

pub mod app;
pub mod handler;
pub mod invocation;
pub mod settings;
