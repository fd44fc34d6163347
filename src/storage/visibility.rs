//! What one statement may see: a [`ReadPoint`] is a RocksDB snapshot plus
//! the HLC ranges of large COPYs still being applied.
//!
//! Every write except a large COPY reaches RocksDB in one `WriteBatch` (a
//! statement's, or a whole transaction block's), so a snapshot shows it
//! entirely or not at all, and every read of one statement — the scan of
//! claims, the retraction looked up for each claim, a join's second table
//! — comes from the same snapshot. A large COPY is applied in chunks
//! ([`super::staging`]): it reserves a contiguous range of HLC timestamps
//! that no other write can get and registers it here as *applying* before
//! its first chunk is written; read points hide claims in ranges that were
//! applying when they were taken. The snapshot and the list of applying
//! ranges are taken together under one lock, the same lock an apply takes
//! to register and to publish its range, so a read point sees a COPY whole
//! or not at all.

use std::sync::{Arc, Mutex, MutexGuard};

use rocksdb::{DB, ReadOptions};

use crate::model::{Clock, Hlc};

/// What read points may see: the HLC ranges (inclusive) of COPYs being
/// applied, and — while the commit thread has written batches that are not
/// yet synced ([`super::syncer`]) — the last view that holds only durable
/// writes.
#[derive(Default)]
pub struct Applying {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    ranges: Vec<(Hlc, Hlc)>,
    unsynced: Option<Unsynced>,
}

/// Batches written but not yet synced.
struct Unsynced {
    /// The database before the first of them (and after every durable
    /// batch): what read points see meanwhile.
    durable: SharedSnapshot,
    /// The number of the last of them.
    last: u64,
}

/// A snapshot of the whole database, shareable between read points.
#[derive(Clone)]
pub struct SharedSnapshot(Arc<Snapshot>);

impl SharedSnapshot {
    pub fn now(db: &Arc<DB>) -> SharedSnapshot {
        SharedSnapshot(Arc::new(Snapshot::new(db)))
    }
}

/// A RocksDB snapshot that owns a handle to its database.
struct Snapshot {
    // Fields drop in declaration order: the snapshot is released while the
    // database it belongs to is still open.
    inner: rocksdb::Snapshot<'static>,
    db: Arc<DB>,
}

impl Snapshot {
    fn new(db: &Arc<DB>) -> Snapshot {
        let db = db.clone();
        // SAFETY: the snapshot borrows the `DB` behind the `Arc`, which does
        // not move and stays alive as long as `self.db` — declared after
        // `inner`, so dropped after it.
        let inner = unsafe {
            std::mem::transmute::<rocksdb::Snapshot<'_>, rocksdb::Snapshot<'static>>(db.snapshot())
        };
        Snapshot { inner, db }
    }
}

/// The visibility of one statement (or of a whole transaction block).
#[derive(Clone)]
pub struct ReadPoint {
    snapshot: Arc<Snapshot>,
    hidden: Option<Arc<[(Hlc, Hlc)]>>,
}

impl std::fmt::Debug for ReadPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadPoint")
            .field("hidden", &self.hidden)
            .finish_non_exhaustive()
    }
}

impl ReadPoint {
    /// Whether a claim (or retraction) stamped `hlc` is visible. Only
    /// claims in the snapshot reach this question; it hides those of a
    /// COPY that was still being applied.
    pub fn sees(&self, hlc: Hlc) -> bool {
        self.hidden
            .as_ref()
            .is_none_or(|ranges| !ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&hlc)))
    }

    /// Whether nothing in the snapshot is hidden (no COPY was being
    /// applied when it was taken).
    pub fn hides_nothing(&self) -> bool {
        self.hidden.is_none()
    }

    pub(super) fn db(&self) -> &DB {
        &self.snapshot.db
    }

    /// Read options that read from the snapshot.
    pub(super) fn options(&self) -> ReadOptions {
        let mut o = ReadOptions::default();
        o.set_snapshot(&self.snapshot.inner);
        o
    }
}

impl Applying {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The commit thread is about to write batch `batch` without syncing
    /// it: read points keep to what is durable now.
    pub(super) fn writing(&self, db: &Arc<DB>, batch: u64) {
        let mut state = self.lock();
        match &mut state.unsynced {
            Some(u) => u.last = batch,
            None => {
                state.unsynced = Some(Unsynced {
                    durable: SharedSnapshot::now(db),
                    last: batch,
                })
            }
        }
    }

    /// Every batch up to `batch` is durable; `view` is the database just
    /// after it.
    pub(super) fn synced(&self, batch: u64, view: SharedSnapshot) {
        let mut state = self.lock();
        if let Some(u) = &mut state.unsynced {
            if u.last <= batch {
                state.unsynced = None;
            } else {
                u.durable = view;
            }
        }
    }

    /// Reserves `n` timestamps from `clock` and registers them as
    /// applying, in one step under the lock.
    pub fn begin(self: &Arc<Self>, clock: &Clock, n: u32) -> ApplyGuard {
        let mut state = self.lock();
        let first = clock.reserve(n);
        let last = Hlc::new(first.physical, first.logical + (n.max(1) - 1));
        state.ranges.push((first, last));
        drop(state);
        ApplyGuard {
            applying: self.clone(),
            range: (first, last),
            done: false,
        }
    }

    /// The read point of a statement starting now.
    pub fn read_point(&self, db: &Arc<DB>) -> ReadPoint {
        let state = self.lock();
        let snapshot = match &state.unsynced {
            Some(u) => u.durable.0.clone(),
            None => Arc::new(Snapshot::new(db)),
        };
        let ranges = &state.ranges;
        let hidden = (!ranges.is_empty()).then(|| Arc::from(ranges.as_slice()));
        ReadPoint { snapshot, hidden }
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

    /// Called once every chunk is durable.
    pub fn publish(mut self) {
        self.done = true;
        let mut state = self.applying.lock();
        state.ranges.retain(|r| *r != self.range);
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
    fn applying_ranges_are_hidden_until_published() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(DB::open_default(dir.path()).unwrap());
        let clock = Clock::default();
        let before = clock.now();
        let applying = Arc::new(Applying::default());
        let guard = applying.begin(&clock, 100);
        let (first, p) = (guard.first(), guard.first().physical);
        let during = applying.read_point(&db);
        assert!(during.sees(before));
        assert!(!during.sees(first) && !during.sees(Hlc::new(p, first.logical + 99)));
        db.put(b"k", b"v").unwrap();
        guard.publish();
        let after = applying.read_point(&db);
        assert!(after.sees(Hlc::new(p, first.logical + 50)));
        assert!(
            !during.sees(Hlc::new(p, first.logical + 50)),
            "a statement's view does not change"
        );
        let get = |rp: &ReadPoint| rp.db().get_opt(b"k", &rp.options()).unwrap();
        assert_eq!(get(&during), None, "the snapshot predates the write");
        assert_eq!(get(&after).as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn writes_not_yet_synced_stay_unseen() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(DB::open_default(dir.path()).unwrap());
        let applying = Applying::default();
        let get = |rp: &ReadPoint| rp.db().get_opt(b"k", &rp.options()).unwrap();
        db.put(b"k", b"0").unwrap();
        // Batch 1 written, then batch 2 written before 1 is synced.
        applying.writing(&db, 1);
        db.put(b"k", b"1").unwrap();
        let after_1 = SharedSnapshot::now(&db);
        applying.writing(&db, 2);
        db.put(b"k", b"2").unwrap();
        let after_2 = SharedSnapshot::now(&db);
        assert_eq!(get(&applying.read_point(&db)).as_deref(), Some(&b"0"[..]));
        applying.synced(1, after_1);
        assert_eq!(get(&applying.read_point(&db)).as_deref(), Some(&b"1"[..]));
        applying.synced(2, after_2);
        assert_eq!(get(&applying.read_point(&db)).as_deref(), Some(&b"2"[..]));
        db.put(b"k", b"3").unwrap();
        assert_eq!(
            get(&applying.read_point(&db)).as_deref(),
            Some(&b"3"[..]),
            "with nothing unsynced, a read point is taken fresh"
        );
    }
}
