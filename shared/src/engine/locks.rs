//! One restage at a time per space: a space's quota rarely has room for two
//! apps' staging memory plus their extra rolling instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

#[derive(Default)]
pub(crate) struct SpaceLocks {
    spaces: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SpaceLocks {
    /// Waits until no other job of `space` runs in this process.
    pub(crate) async fn lock(&self, space: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut spaces = match self.spaces.lock() {
                Ok(g) => g,
                // A panic elsewhere cannot leave the map inconsistent.
                Err(poisoned) => poisoned.into_inner(),
            };
            // Drop locks nobody holds or waits for, so the map stays small.
            spaces.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(spaces.entry(space.to_string()).or_default())
        };
        lock.lock_owned().await
    }

    /// Jobs of `space` in this process that hold or wait for its lock.
    pub(crate) fn pending(&self, space: &str) -> usize {
        let spaces = match self.spaces.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Every holder and waiter keeps a clone; the map keeps one more.
        spaces
            .get(space)
            .map_or(0, |l| Arc::strong_count(l).saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn same_space_waits_other_spaces_do_not() {
        let locks = Arc::new(SpaceLocks::default());
        let held = locks.lock("a").await;
        let other = tokio::time::timeout(Duration::from_millis(50), locks.lock("b")).await;
        assert!(other.is_ok(), "another space is free");
        let same = tokio::time::timeout(Duration::from_millis(50), locks.lock("a")).await;
        assert!(same.is_err(), "the same space waits");
        drop(held);
        let again = tokio::time::timeout(Duration::from_millis(50), locks.lock("a")).await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn pending_counts_the_holder_and_its_waiters() {
        let locks = Arc::new(SpaceLocks::default());
        assert_eq!(locks.pending("a"), 0);
        let held = locks.lock("a").await;
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let locks = locks.clone();
                tokio::spawn(async move { drop(locks.lock("a").await) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(locks.pending("a"), 3);
        assert_eq!(locks.pending("b"), 0);
        drop(held);
        for w in waiters {
            w.await.expect("waiter");
        }
        assert_eq!(locks.pending("a"), 0);
    }
}
