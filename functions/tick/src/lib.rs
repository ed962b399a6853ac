//! The tick Lambda: EventBridge's periodic schedule in, every unfinished run
//! asked at its wave gate (`restager_shared::rollout::tick`) out. A Lambda
//! cannot sleep through a wave's soak and SQS cannot hide a message for more
//! than 15 minutes, so later waves wait in the ledger and this releases
//! them. One event type, as the runtime's examples have it: the handler is
//! a library function, so tests call it with a constructed event.

pub mod handler;
pub mod settings;

pub use handler::{Tick, TickFailed, handle};
pub use settings::TickConfig;
