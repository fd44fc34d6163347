//! What one statement may see. Most writes become visible atomically by
//! themselves: a statement's (or a transaction's) writes go to RocksDB in
//! one `WriteBatch`. A large COPY cannot: its rows are applied in chunks
//! ([`super::staging`]). So each applied COPY gets a reserved, contiguous
//! range of HLC timestamps that no other write can get, the range is
//! registered here as *applying* before its first chunk is written, and a
//! statement hides claims that are
//!
//! - in a range that was applying when the statement started, or
//! - newer than the statement (which covers COPYs that start applying
//!   after it did).
//!
//! A COPY therefore appears all at once, to statements that start after it
//! was acknowledged.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::{Clock, Hlc};

/// The HLC ranges (inclusive) of COPYs being applied.
#[derive(Default)]
pub struct Applying {
    ranges: Mutex<Vec<(Hlc, Hlc)>>,
}

/// The visibility of one statement.
#[derive(Debug, Clone)]
pub struct ReadPoint {
    at: Hlc,
    hidden: Option<Arc<[(Hlc, Hlc)]>>,
}

impl ReadPoint {
    /// Whether a claim stamped `hlc` is visible.
    pub fn sees(&self, hlc: Hlc) -> bool {
        hlc <= self.at
            && self
                .hidden
                .as_ref()
                .is_none_or(|ranges| !ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&hlc)))
    }
}

impl Applying {
    fn lock(&self) -> MutexGuard<'_, Vec<(Hlc, Hlc)>> {
        self.ranges.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves `n` timestamps from `clock` and registers them as
    /// applying, in one step under the lock: a read point taken before it
    /// is older than the whole range, one taken after it hides the range.
    pub fn begin(self: &Arc<Self>, clock: &Clock, n: u32) -> ApplyGuard {
        let mut ranges = self.lock();
        let first = clock.reserve(n);
        let last = Hlc::new(first.physical, first.logical + (n.max(1) - 1));
        ranges.push((first, last));
        drop(ranges);
        ApplyGuard {
            applying: self.clone(),
            range: (first, last),
            done: false,
        }
    }

    /// The read point of a statement starting now: every timestamp handed
    /// out so far, minus the applying ranges.
    pub fn read_point(&self, clock: &Clock) -> ReadPoint {
        let ranges = self.lock();
        let hidden = (!ranges.is_empty()).then(|| Arc::from(ranges.as_slice()));
        ReadPoint {
            at: clock.last(),
            hidden,
        }
    }
}

/// An applying range. [`ApplyGuard::publish`] makes it visible; dropping
/// the guard without publishing keeps it hidden until the node restarts
/// (and recovery finishes the apply), so a failed apply never shows half a
/// COPY.
pub struct ApplyGuard {
    applying: Arc<Applying>,
    range: (Hlc, Hlc),
    done: bool,
}

impl ApplyGuard {
    /// The first reserved timestamp.
    pub fn first(&self) -> Hlc {
        self.range.0
    }

    pub fn publish(mut self) {
        self.done = true;
        let mut ranges = self.applying.lock();
        ranges.retain(|r| *r != self.range);
    }
}

impl Drop for ApplyGuard {
    fn drop(&mut self) {
        if !self.done {
            tracing::error!(
                first = ?self.range.0,
                "a COPY failed while being applied; its rows stay hidden until restart"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applying_ranges_and_newer_claims_are_hidden() {
        let clock = Clock::default();
        let before = clock.now();
        let applying = Arc::new(Applying::default());
        let guard = applying.begin(&clock, 100);
        let (first, p) = (guard.first(), guard.first().physical);
        let insert = clock.now();
        let during = applying.read_point(&clock);
        assert!(during.sees(before) && during.sees(insert));
        assert!(!during.sees(first) && !during.sees(Hlc::new(p, first.logical + 99)));
        assert!(!during.sees(clock.now()), "newer than the statement");
        guard.publish();
        let after = applying.read_point(&clock);
        assert!(after.sees(Hlc::new(p, first.logical + 50)));
        assert!(
            !during.sees(Hlc::new(p, first.logical + 50)),
            "a statement's view does not change"
        );
    }
}
