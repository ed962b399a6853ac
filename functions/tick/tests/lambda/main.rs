//! The tick crate's one integration-test binary: the Lambda path of a
//! rollout on moto and the simulator, by topic.

mod waves;
mod windows;
