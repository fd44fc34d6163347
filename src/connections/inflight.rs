//! A count of things in flight (statements of a connection, connections
//! of a server) that can be waited on until it falls to zero.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    zero: Notify,
}

impl InFlight {
    /// One more; returns the count with it.
    pub fn enter(&self) -> usize {
        self.count.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// One fewer; wakes the waiters when none is left.
    pub fn leave(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.zero.notify_waiters();
        }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves once the count is zero.
    pub async fn none(&self) {
        loop {
            let zero = self.zero.notified();
            tokio::pin!(zero);
            zero.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            zero.await;
        }
    }
}
