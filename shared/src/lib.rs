//! restager's library: everything the Lambda functions and the `restager`
//! command share. Business logic here knows nothing of Lambda or AWS types;
//! AWS lives only in the adapters (`queue::sqs`, `ledger::dynamo`).

pub mod cf;
pub mod config;
pub mod discovery;
pub mod domain;
pub mod engine;
pub mod intake;
pub mod ledger;
pub mod notify;
pub mod queue;
pub mod retry;
pub mod signature;
pub mod slack;
pub mod startup;
pub mod webhook;
