//! The ledger conformance suite against `MemoryLedger`.

use std::sync::Arc;

use restager_shared::ledger::{Ledger, MemoryLedger};

async fn fresh() -> (Arc<dyn Ledger>, ()) {
    (Arc::new(MemoryLedger::new()), ())
}

conformance_tests!(fresh());
