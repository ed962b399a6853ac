//! The benchmark behind README's "Performance" section. Each figure module
//! measures one claim against its anchor and returns a [`report::Figure`].

pub mod discovery;
pub mod fanout;
pub mod foundation;
pub mod lambda;
pub mod makespan;
pub mod moto;
pub mod quotas;
pub mod report;
pub mod restage_run;
pub mod runtime_api;
pub mod schedule;
pub mod stats;
pub mod verify;
pub mod workload;

/// Why a figure could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("setting up the benchmark failed: {0}")]
    Setup(String),
    #[error("the measured run went wrong: {0}")]
    Run(String),
}
