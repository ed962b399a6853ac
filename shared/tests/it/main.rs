//! restager-shared's integration tests: one test binary (one link instead
//! of one per file), one module per area. Shared helpers are modules here;
//! builders and fakes other crates use too live in `tests/support`.

// Helpers first: the conformance suites' macros are used by the adapters' modules.
#[macro_use]
mod ledger_conformance;
#[macro_use]
mod queue_conformance;
mod webhook_support;

mod cf_client;
mod cf_client_faults;
mod conformance;
mod discovery;
mod engine_batch;
mod engine_canary;
mod engine_quota;
mod engine_restage;
mod engine_runner;
mod intake;
mod ledger_dynamo;
mod ledger_embedded;
mod ledger_memory;
mod queue_embedded;
mod queue_memory;
mod queue_sqs;
mod rollout;
mod signatures;
mod slack;
mod slack_owners;
mod webhook;
mod windows;
