//! What this node has closed: an HLC below which it will never again
//! introduce a change that readers of `stemedb.changes` could miss
//! (docs/changes.md). A change is *unsettled* from the moment a write is
//! about to be stamped until it is where every reader finds it — stored
//! durably and visibly on its owners, or held as a hint by a live node.
//! Three things hold the closed timestamp back:
//!
//! - writes in flight: every write path opens an [`Unsettled`] guard before
//!   its writes are stamped and drops it once they are settled (a
//!   transaction block holds one from its first stamped statement to its
//!   COMMIT or ROLLBACK; a COPY from staging to its last chunk);
//! - hints this node holds for a member that was away ([`super::hints`]);
//! - the clock itself: a write stamped later gets a larger timestamp.
//!
//! The guard's lower bound is a tick of the clock taken under the same
//! lock [`Store::closed`] reads under, so a write is never stamped below
//! a closed timestamp already handed out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Store;
use crate::model::{Clock, Hlc};

/// The lower bounds of this node's unsettled writes.
#[derive(Debug, Default)]
pub(super) struct Unsettling {
    state: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    /// Guard number → the clock tick taken when it opened.
    bounds: BTreeMap<u64, Hlc>,
}

impl Unsettling {
    fn lock(&self) -> MutexGuard<'_, Open> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The oldest open guard's bound.
    fn oldest(open: &Open) -> Option<Hlc> {
        open.bounds.values().min().copied()
    }
}

/// Writes that are not settled yet: while it lives, [`Store::closed`]
/// stays at or below the clock tick taken when it was opened.
#[derive(Debug)]
pub struct Unsettled {
    unsettling: Arc<Unsettling>,
    number: u64,
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        self.unsettling.lock().bounds.remove(&self.number);
    }
}

fn open(unsettling: &Arc<Unsettling>, clock: &Clock) -> Unsettled {
    let mut open = unsettling.lock();
    let number = open.next;
    open.next += 1;
    open.bounds.insert(number, clock.now());
    Unsettled {
        unsettling: unsettling.clone(),
        number,
    }
}

impl Store {
    /// Opens a guard for writes about to be stamped.
    pub fn unsettled(&self) -> Unsettled {
        open(&self.unsettling, self.clock())
    }

    /// This node's closed timestamp: no change stamped below it is still
    /// on its way from here — every one is stored where its readers find
    /// it, or held here as a hint (which holds it back).
    pub fn closed(&self) -> Hlc {
        let open = self.unsettling.lock();
        let mut closed = self.clock().now();
        if let Some(oldest) = Unsettling::oldest(&open) {
            closed = closed.min(oldest);
        }
        drop(open);
        match self.oldest_hint() {
            Some(hint) => closed.min(hint),
            None => closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_holds_the_closed_timestamp_until_it_drops() {
        let (unsettling, clock) = (Arc::new(Unsettling::default()), Clock::default());
        let closed = |u: &Unsettling| {
            let open = u.lock();
            let now = clock.now();
            Unsettling::oldest(&open).map_or(now, |o| now.min(o))
        };
        let first = open(&unsettling, &clock);
        let stamped = clock.now();
        let second = open(&unsettling, &clock);
        let held = closed(&unsettling);
        assert!(
            held < stamped,
            "a write stamped after the guard stays unsettled"
        );
        drop(first);
        let after_first = closed(&unsettling);
        assert!(after_first > stamped && after_first < clock.now());
        drop(second);
        assert!(closed(&unsettling) > after_first);
    }
}
