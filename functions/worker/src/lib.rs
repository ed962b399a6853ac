//! The worker Lambda: SQS batches of restage jobs in, partial batch
//! responses out. The handler is a library function so tests can call it
//! with a constructed `SqsEvent`; `main.rs` only wires it to the runtime.

pub mod handler;
pub mod settings;

pub use handler::{Worker, handle};
pub use settings::WorkerConfig;
