//! The webhook Lambda: a plain lambda_http service around the shared router
//! ([`restager_shared::webhook::Router`]). This crate only reads settings,
//! wires the adapters, and converts between lambda_http's request and
//! response types and the router's, keeping the body's bytes untouched.
//! The scheduled sweep is a function of its own (`functions/sweep`).

pub mod handler;
pub mod settings;
