//! restager's library: everything the Lambda functions and the `restager`
//! command share. Business logic here knows nothing of Lambda or AWS types;
//! AWS lives only in the adapters (`queue::sqs`, `ledger::dynamo`).
//!
//! # The layer map
//!
//! A module may use the layers below its own, and within its layer only
//! what the last column says; never a layer above (the `use crate::…` lines
//! keep to this):
//!
//! | layer | modules | may use |
//! |---|---|---|
//! | 5. composition root | [`startup`] | everything: it picks the adapter behind each port |
//! | 4. applications | [`webhook`] (the HTTP routes), [`engine`] (the restage state machine, batches), [`rollout`] (waves, error budget, pause/resume/abort) | layers 1–3; `webhook` also `slack` (its `/slack/actions` route); `engine` and `rollout` each other (the worker asks the gate; a soak rollback uses the engine's labels) |
//! | 3. use cases and outbound adapters | [`discovery`] (which apps a notice affects, each space's window and owners' channel, fan-out, queueing or holding released jobs by their window), [`slack`] (the notifier, owners' channels, buttons) | layers 1–2 |
//! | 2. ports and their adapters | [`cf`] (Cloud Controller + UAA), [`queue`] (SQS, embedded, memory), [`ledger`] (DynamoDB, embedded, memory), [`notify`] (the port, the log notifier), [`intake`] (parsing notices), [`signature`] | layer 1, and `notify` the ledger's records; `intake` the signatures |
//! | 1. foundations | [`domain`] (notices, versions, jobs, outcomes), [`window`] (maintenance windows, minimum release age), [`config`] (typed settings), [`retry`] (the one back-off policy), [`metrics`] (the metric names, recording, the Lambda functions' EMF lines) | `config` uses `domain` and `window`; `metrics` uses `domain`; nothing else |
//!
//! Where new code goes:
//! - a new adapter for a port (another queue, ledger or notifier): a module
//!   beside its siblings (`queue/…`, `ledger/…`; a notifier like `slack`),
//!   run through the port's conformance suite in `shared/tests`, and chosen
//!   in [`startup`] from a setting in [`config`];
//! - a new notice kind: [`domain::Notice`] and its [`domain::NoticeKind`],
//!   its parsing in [`intake`], which apps it affects in [`discovery`], its
//!   action setting in [`config::IntakeSettings`];
//! - a new Cloud Controller call: a typed method in `cf/endpoints.rs` over
//!   the client's `get`/`post`/`patch`/`list_all`, its model in
//!   `cf/models/` (by kind), and the simulator's side in `tests/cf-sim`.

pub mod cf;
pub mod config;
pub mod discovery;
pub mod domain;
pub mod engine;
pub mod intake;
pub mod ledger;
pub mod metrics;
pub mod notify;
pub mod queue;
pub mod retry;
pub mod rollout;
pub mod signature;
pub mod slack;
pub mod startup;
pub mod webhook;
pub mod window;
