//! restager's library: everything the Lambda functions and the `restager`
//! command share. Business logic here knows nothing of Lambda or AWS types;
//! AWS lives only in the adapters (`queue::sqs`, `ledger::dynamo`).

pub mod config;
pub mod domain;
pub mod ledger;
pub mod notify;
pub mod queue;
