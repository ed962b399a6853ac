//! Integration tests: the simulator over real HTTP, asserting cf-api.md's
//! shapes, state machines and fault switches.

mod common;

mod audit;
mod auth;
mod builds;
mod corpus;
mod deployments;
mod listing;
mod network;
mod quotas;
mod safe_rollout;
mod seeding;
mod shapes;
mod timing;
