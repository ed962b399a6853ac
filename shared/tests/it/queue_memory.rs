//! The queue conformance suite against `MemoryQueue`.

use std::sync::Arc;
use std::time::Duration;

use restager_shared::queue::{JobQueue, JobSource, MemoryQueue};

async fn fresh() -> (Arc<dyn JobQueue>, Arc<dyn JobSource>, ()) {
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
    (queue.clone(), queue, ())
}

queue_conformance_tests!(fresh());
