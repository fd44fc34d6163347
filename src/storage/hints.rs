//! Hinted handoff: writes held for a cluster member that could not take
//! them when they were made (docs/cluster.md). A hint is durable before the
//! write it covers is acknowledged, lives in its own column family — so
//! it is never read as this node's data, nor counted in
//! `stemedb_assertions_stored` — and is deleted once its member has it.
//!
//! Key: target node (escaped part), then a sequence number that grows
//! across restarts (so hints leave in the order they came). Value: a kind
//! byte (`a` assertion, `r` retraction) and the record's canonical encoding.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{DB, Direction, IteratorMode, WriteBatch, WriteOptions};

use super::keys::{CF_HINTS, HLC_KIND_ASSERTION, HLC_KIND_RETRACTION, push_part, take_part};
use super::{Store, Write, cf};
use crate::error::{Error, Result};
use crate::model::{Assertion, Hlc, Retraction};

/// Hints waiting on this node (in all, and per member), the stamps they
/// carry (the oldest holds back the closed timestamp, [`super::frontier`]),
/// and the next sequence number.
#[derive(Default)]
pub(super) struct HintCounter {
    pending: AtomicU64,
    next: AtomicU64,
    per_target: Mutex<BTreeMap<String, u64>>,
    stamps: Mutex<BTreeMap<Hlc, u64>>,
}

impl HintCounter {
    fn add<'a>(&self, target: &str, writes: impl Iterator<Item = &'a Write>) {
        let mut stamps = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for w in writes {
            *stamps.entry(stamp_of(w)).or_default() += 1;
            n += 1;
        }
        drop(stamps);
        self.pending.fetch_add(n, Ordering::Relaxed);
        let mut per = self.per_target.lock().unwrap_or_else(|e| e.into_inner());
        *per.entry(target.to_string()).or_default() += n;
    }

    fn remove(&self, target: &str, writes: &[Write]) {
        let mut stamps = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        for w in writes {
            let stamp = stamp_of(w);
            if let Some(count) = stamps.get_mut(&stamp) {
                *count -= 1;
                if *count == 0 {
                    stamps.remove(&stamp);
                }
            }
        }
        drop(stamps);
        let n = writes.len() as u64;
        self.pending.fetch_sub(n, Ordering::Relaxed);
        let mut per = self.per_target.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per.get_mut(target) {
            *count = count.saturating_sub(n);
            if *count == 0 {
                per.remove(target);
            }
        }
    }
}

/// The stamp a hinted write carries.
fn stamp_of(write: &Write) -> Hlc {
    match write {
        Write::Assertion(a) => a.hlc,
        Write::Retraction(r) | Write::Retract(r) => r.hlc,
        Write::Claim(c) => c.fields().hlc,
    }
}

impl HintCounter {
    /// Counts the hints left by an earlier run.
    pub(super) fn load(db: &DB) -> Result<HintCounter> {
        if crate::runtime::planted::planted(crate::runtime::planted::Bug::LoseHintsAtRestart) {
            // The planted bug: the hints of the last run are dropped.
            let mut drop_all = WriteBatch::default();
            drop_all.delete_range_cf(cf(db, CF_HINTS)?, [0u8].as_slice(), [0xFFu8; 64].as_slice());
            db.write(drop_all)?;
        }
        let counter = HintCounter::default();
        let mut next = 0;
        for item in db.iterator_cf(cf(db, CF_HINTS)?, IteratorMode::Start) {
            let (key, value) = item?;
            if let Some((target, seq)) = take_part(&key) {
                next = next.max(sequence(seq) + 1);
                counter.add(&target, std::iter::once(&decode_write(&value)?));
            }
        }
        counter.next.store(next, Ordering::Relaxed);
        Ok(counter)
    }
}

fn sequence(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

fn target_prefix(target: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(target.len() + 10);
    push_part(&mut key, target);
    key
}

/// The wire (and hint) form of a stamped write: a kind byte, then the
/// record's canonical encoding.
pub fn encode_write(write: &Write) -> Result<Vec<u8>> {
    let (kind, bytes) = match write {
        Write::Assertion(a) => (HLC_KIND_ASSERTION, a.encode()),
        Write::Retraction(r) => (HLC_KIND_RETRACTION, r.encode()),
        Write::Claim(_) | Write::Retract(_) => {
            return Err(Error::internal("a hint must hold a stamped write"));
        }
    };
    Ok([&[kind][..], &bytes].concat())
}

/// Decodes a stamped write as [`encode_write`] wrote it.
pub fn decode_write(bytes: &[u8]) -> Result<Write> {
    match bytes.split_first() {
        Some((&HLC_KIND_ASSERTION, rest)) => Ok(Write::Assertion(Assertion::decode(rest)?)),
        Some((&HLC_KIND_RETRACTION, rest)) => Ok(Write::Retraction(Retraction::decode(rest)?)),
        _ => Err(Error::internal("not an encoded write")),
    }
}

/// Hints for one member, oldest first, and the keys to delete once it has
/// them.
pub struct HintBatch {
    pub writes: Vec<Write>,
    target: String,
    keys: Vec<Box<[u8]>>,
}

impl Store {
    /// Holds `writes` (stamped) for `target` durably (synced) before
    /// returning.
    pub fn hint(&self, target: &str, writes: &[Write]) -> Result<()> {
        let hints = self.cf(CF_HINTS)?;
        let prefix = target_prefix(target);
        let first = self
            .hints
            .next
            .fetch_add(writes.len() as u64, Ordering::Relaxed);
        let mut batch = WriteBatch::default();
        for (i, write) in writes.iter().enumerate() {
            let key = [&prefix[..], &(first + i as u64).to_be_bytes()].concat();
            batch.put_cf(hints, key, encode_write(write)?);
        }
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        // Counted before the write returns, so the hint holds the closed
        // timestamp back before the write that needed it is settled.
        self.hints.add(target, writes.iter());
        if let Err(e) = self.db().write_opt(batch, &sync) {
            self.hints.remove(target, writes);
            return Err(e.into());
        }
        crate::monitor::hints_pending(self.hints_pending());
        Ok(())
    }

    /// Up to `max` of the oldest hints held for `target`.
    pub fn hints_for(&self, target: &str, max: usize) -> Result<HintBatch> {
        let prefix = target_prefix(target);
        let rows = self.db().iterator_cf(
            self.cf(CF_HINTS)?,
            IteratorMode::From(&prefix, Direction::Forward),
        );
        let mut batch = HintBatch {
            writes: Vec::new(),
            target: target.to_string(),
            keys: Vec::new(),
        };
        for item in rows.take(max) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            batch.writes.push(decode_write(&value)?);
            batch.keys.push(key);
        }
        Ok(batch)
    }

    /// Deletes hints their member now holds.
    pub fn handed_off(&self, batch: HintBatch) -> Result<()> {
        let hints = self.cf(CF_HINTS)?;
        let mut delete = WriteBatch::default();
        for key in &batch.keys {
            delete.delete_cf(hints, key);
        }
        self.db().write(delete)?;
        self.hints.remove(&batch.target, &batch.writes);
        crate::monitor::hints_pending(self.hints_pending());
        Ok(())
    }

    /// Hints held on this node for other members.
    pub fn hints_pending(&self) -> u64 {
        self.hints.pending.load(Ordering::Relaxed)
    }

    /// Hints held on this node for `target`, and the stamp of the oldest.
    pub fn hints_held_for(&self, target: &str) -> Result<(u64, Option<Hlc>)> {
        let per = self
            .hints
            .per_target
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let count = per.get(target).copied().unwrap_or(0);
        drop(per);
        if count == 0 {
            return Ok((0, None));
        }
        let oldest = self.hints_for(target, 1)?.writes.first().map(stamp_of);
        Ok((count, oldest))
    }

    /// The oldest stamp of any hint held here.
    pub(super) fn oldest_hint(&self) -> Option<Hlc> {
        let stamps = self.hints.stamps.lock().unwrap_or_else(|e| e.into_inner());
        stamps.keys().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewAssertion, wall_clock_micros};
    use crate::storage::Durability;

    fn claim(subject: &str, hlc: Hlc) -> Assertion {
        NewAssertion {
            subject: Some(subject.into()),
            predicate: Some("p".into()),
            object: Some("o".into()),
            source: Some("s".into()),
            ..Default::default()
        }
        .into_assertion("test", hlc, "node1")
        .unwrap()
    }

    #[tokio::test]
    async fn replicas_move_the_clock_skip_repeats_and_hints_hand_off_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some("node2"), Durability::Fsync).unwrap();
        // A claim stamped an hour ahead (another node's clock): storing it
        // moves this clock past it, so later local writes sort after it.
        let ahead = Hlc::new(wall_clock_micros() + 3_600_000_000, 7);
        let remote = claim("a", ahead);
        store
            .commit_replica(vec![Write::Assertion(remote.clone())])
            .await
            .unwrap();
        assert!(store.clock().now() > ahead);
        // Sent again (a handoff after a lost reply): stored once, and the
        // pair's head still counts one claim.
        store
            .commit_replica(vec![Write::Assertion(remote.clone())])
            .await
            .unwrap();
        assert!(store.contains(&remote.id).unwrap());
        let heads = store.db().iterator_cf(
            store.cf(super::super::keys::CF_HEADS).unwrap(),
            IteratorMode::Start,
        );
        let head =
            crate::lens::Head::decode(&heads.map(|kv| kv.unwrap().1).next().unwrap()).unwrap();
        assert_eq!(head.claims, 1);

        // Hints: counted per member, kept in order, gone once handed off.
        let writes: Vec<Write> = (0..3)
            .map(|i| Write::Assertion(claim(&format!("h{i}"), Hlc::new(1_000 + i, 0))))
            .collect();
        store.hint("node3", &writes).unwrap();
        store.hint("node1", &writes[..1]).unwrap();
        assert_eq!(store.hints_pending(), 4);
        assert_eq!(
            store.hints_held_for("node3").unwrap(),
            (3, Some(Hlc::new(1_000, 0)))
        );
        let batch = store.hints_for("node3", 2).unwrap();
        let subjects: Vec<String> = batch
            .writes
            .iter()
            .map(|w| match w {
                Write::Assertion(a) => a.subject.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(subjects, ["h0", "h1"]);
        store.handed_off(batch).unwrap();
        assert_eq!(
            store.hints_held_for("node3").unwrap(),
            (1, Some(Hlc::new(1_002, 0)))
        );
        assert_eq!(store.hints_pending(), 2);
        drop(store);
        // The count survives a restart.
        let store = Store::open(dir.path(), None, Durability::Fsync).unwrap();
        assert_eq!(store.hints_pending(), 2);
        assert_eq!(store.hints_held_for("node1").unwrap().0, 1);
    }
}
