//! The sweep Lambda: EventBridge's schedule in, a restage queued for every
//! app whose droplet is older than the buildpack installed for its stack.
//! One event type, as the runtime's examples have it: the handler is a
//! library function so tests call it with a constructed event; `main.rs`
//! only wires it to the runtime.

pub mod handler;
pub mod settings;

pub use handler::{Sweep, SweepFailed, handle};
pub use settings::SweepConfig;
