//! The group-commit writer. Every write in the node goes through one thread
//! that owns the write path: it takes all requests waiting in its queue,
//! stamps their new claims and retractions with HLC timestamps — in the
//! order they commit — merges them into a single RocksDB `WriteBatch`
//! together with the clock's high-water mark and writes it; the fsync
//! thread ([`super::syncer`]) syncs the WAL and only then acknowledges each
//! request with its stamped writes. Under load many statements share one
//! fsync; alone, a statement pays for exactly one.
//!
//! Because the high-water written with each batch is the clock's running
//! maximum (it also covers timestamps reserved for transaction blocks and
//! large COPYs), a node restarted after `kill -9` never hands out a
//! timestamp at or below one it has stored.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use rocksdb::{DB, WriteBatch, WriteOptions};
use tokio::sync::oneshot;

use super::Write;
use super::keys::*;
use super::landed::{Landed, LandedSlot};
use super::sorted_puts::SortedPuts;
use super::syncer::{Syncer, Written};
use super::visibility::{Applying, SharedSnapshot};
use crate::error::{Error, Result};
use crate::model::{Assertion, Clock, Hlc, Id, Retraction};

/// When a write is acknowledged (`durability` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After the WAL is fsynced (the default).
    #[default]
    Fsync,
    /// After the WAL write reaches the OS; a power loss may lose it.
    Buffered,
}

struct Request {
    writes: Vec<Write>,
    heads: HeadMode,
    done: oneshot::Sender<Result<Vec<Write>>>,
}

/// What a request does to the lens heads ([`super::heads`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HeadMode {
    /// Its claims and retractions update their pairs' heads.
    Update,
    /// Its claims leave heads alone (a large COPY's chunks: the pairs are
    /// recomputed once the last chunk is in).
    Defer,
    /// Recompute these pairs (`heads` keys) from their claims.
    Recompute(Vec<Vec<u8>>),
    /// Writes replicated from another node (or handed off, or sent again
    /// after a lost reply): a claim already stored is skipped, and a claim
    /// whose retraction came first has its pair recomputed.
    Replica,
}

/// Handle to the writer thread. Dropping it stops the thread and waits for
/// it, so the thread's reference to the database is gone when the drop
/// returns (and the database can close before the process exits).
pub struct GroupCommit {
    queue: Option<mpsc::Sender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The simulation stamps on the caller's thread, where its clock is.
    #[cfg(feature = "sim")]
    stamper: Stamper,
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Most requests merged into one batch, to bound the latency of the first.
const MAX_REQUESTS_PER_BATCH: usize = 4096;

impl GroupCommit {
    pub fn start(
        db: Arc<DB>,
        clock: Arc<Clock>,
        node: String,
        durability: Durability,
        landed: LandedSlot,
        applying: Arc<Applying>,
    ) -> GroupCommit {
        let (queue, rx) = mpsc::channel::<Request>();
        let stamper = Stamper { clock, node };
        #[cfg(feature = "sim")]
        let simulated = stamper.clone();
        let syncer = (durability == Durability::Fsync)
            .then(|| (Syncer::start(db.clone(), applying.clone()), applying));
        let thread = std::thread::Builder::new()
            .name("stemedb-commit".into())
            .spawn(move || run(db, rx, stamper, syncer, landed))
            .expect("spawn commit thread");
        GroupCommit {
            queue: Some(queue),
            thread: Some(thread),
            #[cfg(feature = "sim")]
            stamper: simulated,
        }
    }

    /// Writes `writes` atomically; returns them, stamped, once they are
    /// durable.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<Vec<Write>> {
        self.request(writes, HeadMode::Update).await
    }

    /// Writes `writes` with the heads of `mode`.
    pub(super) async fn request(&self, writes: Vec<Write>, heads: HeadMode) -> Result<Vec<Write>> {
        if writes.is_empty() && heads == HeadMode::Update {
            return Ok(writes);
        }
        // The simulation's clock is read on its own thread, not the commit
        // thread's; it waits for each request, so stamping here keeps the
        // commit order.
        #[cfg(feature = "sim")]
        let writes = self.stamper.stamp(writes);
        let (done, wait) = oneshot::channel();
        let request = Request {
            writes,
            heads,
            done,
        };
        self.queue
            .as_ref()
            .and_then(|q| q.send(request).ok())
            .ok_or_else(|| Error::internal("the commit thread has stopped"))?;
        crate::runtime::blocking::reply(wait)
            .await
            .map_err(|_| Error::internal("the commit thread dropped a write"))?
    }
}

/// Gives new claims and retractions their timestamps and this node's id.
#[derive(Clone)]
pub struct Stamper {
    pub clock: Arc<Clock>,
    pub node: String,
}

impl Stamper {
    /// Stamps every write that is not stamped yet, from consecutive
    /// timestamps reserved from the clock in one step.
    pub fn stamp(&self, writes: Vec<Write>) -> Vec<Write> {
        let unstamped = writes
            .iter()
            .filter(|w| matches!(w, Write::Claim(_) | Write::Retract(_)))
            .count();
        if unstamped == 0 {
            return writes;
        }
        // A reservation spans at most u32::MAX timestamps; no request holds
        // that many writes (blocks and statements are bounded far below).
        let n = u32::try_from(unstamped).unwrap_or(u32::MAX);
        let first = self.clock.reserve(n);
        let mut next = (0..n).map(|i| Hlc::new(first.physical, first.logical + i));
        let mut next = move || next.next().unwrap_or_else(|| self.clock.now());
        writes
            .into_iter()
            .map(|write| match write {
                Write::Claim(c) => Write::Assertion(c.stamp(next(), &self.node)),
                Write::Retract(mut r) => {
                    r.hlc = next();
                    r.node = self.node.clone();
                    Write::Retraction(r)
                }
                stamped => stamped,
            })
            .collect()
    }
}

/// With `durability = "fsync"`: the fsync thread, and the visibility it
/// keeps to durable writes.
type Syncing = Option<(Syncer, Arc<Applying>)>;

fn run(
    db: Arc<DB>,
    rx: mpsc::Receiver<Request>,
    stamper: Stamper,
    syncing: Syncing,
    landed: LandedSlot,
) {
    // Never synced here: the fsync thread syncs (or, buffered, nobody).
    let options = WriteOptions::default();
    let mut batch = 0u64;
    while let Ok(first) = rx.recv() {
        batch += 1;
        let mut requests = vec![first];
        while requests.len() < MAX_REQUESTS_PER_BATCH {
            match rx.try_recv() {
                Ok(r) => requests.push(r),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        for r in &mut requests {
            r.writes = stamper.stamp(std::mem::take(&mut r.writes));
        }
        let high_water = stamper.clock.last();
        let parts = requests.iter().map(|r| (r.writes.as_slice(), &r.heads));
        let sink = landed.lock().unwrap_or_else(|e| e.into_inner());
        let mut stored = sink.as_ref().map(|_| Vec::new());
        let result = build_batch(&db, parts, high_water, stored.as_mut()).and_then(|writes| {
            if let Some((_, applying)) = &syncing {
                applying.writing(&db, batch);
            }
            let writing = Instant::now();
            let written = db.write_opt(writes, &options).map_err(Error::from);
            if syncing.is_none() {
                crate::monitor::wal_fsync(writing.elapsed());
            }
            crate::monitor::commit_batch(requests.len());
            written
        });
        if let (Ok(()), Some(sink), Some(stored)) = (&result, sink.as_ref(), stored) {
            sink(&stored);
        }
        drop(sink);
        tracing::trace!(
            requests = requests.len(),
            micros = started.elapsed().as_micros() as u64,
            "group commit"
        );
        let acks = requests
            .into_iter()
            .map(|r| (r.done, result.clone().map(|()| r.writes)));
        match &syncing {
            Some((syncer, _)) => syncer.send(Written {
                batch,
                view: SharedSnapshot::now(&db),
                acks: acks.collect(),
            }),
            None => acks.for_each(|(done, result)| {
                let _ = done.send(result);
            }),
        }
    }
    // Dropping `syncing` waits for the last batches' fsync.
}

/// Merges stamped writes into one batch, with `high_water` (or the
/// batch's newest stamp, if later) as the HLC high-water mark. A claim
/// keeps one retraction, the earliest by (HLC, node): a later retraction
/// of an already retracted claim is dropped here, on the single writer
/// thread, so "retracting twice changes nothing" holds even for concurrent
/// retractions; an earlier one (two nodes retracted the claim at once and
/// this one arrived second) replaces the stored one, so every replica
/// keeps the same retraction whatever order they arrive in. The lens heads of the pairs the batch changes are updated
/// in it too ([`super::heads`]). What it stores goes to `landed`, when
/// given ([`super::landed`]).
pub(super) fn build_batch<'a>(
    db: &DB,
    parts: impl Iterator<Item = (&'a [Write], &'a HeadMode)>,
    mut high_water: Hlc,
    mut landed: Option<&mut Vec<Landed>>,
) -> Result<WriteBatch> {
    let parts: Vec<_> = parts.collect();
    let earliest = earliest_retractions(&parts);
    let cf = |name| super::cf(db, name);
    let (assertions, by_subject, by_predicate, by_hlc, retractions, meta) = (
        cf(CF_ASSERTIONS)?,
        cf(CF_BY_SUBJECT)?,
        cf(CF_BY_PREDICATE)?,
        cf(CF_BY_HLC)?,
        cf(CF_RETRACTIONS)?,
        cf(CF_META)?,
    );
    // Slots of `puts`, in the order of `families` below.
    const ASSERTIONS: usize = 0;
    const BY_SUBJECT: usize = 1;
    const BY_PREDICATE: usize = 2;
    const BY_HLC: usize = 3;
    const RETRACTIONS: usize = 4;
    let families = [assertions, by_subject, by_predicate, by_hlc, retractions];
    let mut puts = SortedPuts::new(families.len());
    let mut retracted: HashSet<Id> = HashSet::new();
    // Replicated claims in this batch: two copies of one (sent by two
    // peers at once) are stored and reported once.
    let mut replicated: HashSet<Id> = HashSet::new();
    let mut heads = super::heads::HeadUpdates::default();
    // Index entries of retractions an earlier one replaces.
    let mut replaced = Vec::new();
    // What this batch stores: each retraction's value, each claim's
    // subject when it also retracts (a replica's batch may carry a
    // retraction before its claim, or an earlier one of a claim it
    // stores).
    let mut batch_retractions: HashMap<Id, Vec<u8>> = HashMap::new();
    let mut batch_claims: HashMap<Id, &str> = HashMap::new();
    for (writes, mode) in parts {
        if let HeadMode::Recompute(keys) = mode {
            for key in keys {
                heads.recompute(key);
            }
        }
        for write in writes {
            match write {
                Write::Claim(_) | Write::Retract(_) => {
                    return Err(Error::internal("a write reached the batch unstamped"));
                }
                Write::Assertion(a) => {
                    match mode {
                        HeadMode::Update => heads.assertion(db, a)?,
                        HeadMode::Replica => {
                            if !replicated.insert(a.id)
                                || db.get_pinned_cf(&assertions, a.id.0)?.is_some()
                            {
                                continue;
                            }
                            heads.assertion(db, a)?;
                            let retraction = match batch_retractions.get(&a.id) {
                                Some(r) => Some(r.clone()),
                                None => db.get_pinned_cf(&retractions, a.id.0)?.map(|r| r.to_vec()),
                            };
                            if let Some(r) = retraction {
                                heads.recompute(&subject_prefix(&a.subject, Some(&a.predicate)));
                                if let Some(landed) = landed.as_deref_mut() {
                                    landed.push(Landed::retraction(&a.subject, a.id, &r));
                                }
                            }
                        }
                        HeadMode::Defer | HeadMode::Recompute(_) => {}
                    }
                    if let Some(landed) = landed.as_deref_mut() {
                        landed.push(Landed::claim(a));
                    }
                    if !earliest.is_empty() {
                        batch_claims.insert(a.id, &a.subject);
                    }
                    let value = a.encode();
                    puts.put(ASSERTIONS, a.id.0, value.clone());
                    puts.put(
                        BY_SUBJECT,
                        subject_key(&a.subject, &a.predicate, &a.id),
                        value,
                    );
                    puts.put(
                        BY_PREDICATE,
                        predicate_key(&a.predicate, &a.subject, &a.id),
                        [],
                    );
                    puts.put(
                        BY_HLC,
                        hlc_key(a.hlc, &a.node, HLC_KIND_ASSERTION, &a.id),
                        [],
                    );
                    high_water = high_water.max(a.hlc);
                }
                Write::Retraction(r) => {
                    let id = r.assertion_id;
                    if retracted.contains(&id) || earliest.get(&id) != Some(&(r.hlc, &r.node)) {
                        continue;
                    }
                    if let Some(stored) = db.get_pinned_cf(&retractions, id.0)? {
                        let stored_value = stored.to_vec();
                        let old = Retraction::decode(&stored_value)?;
                        if (old.hlc, &old.node) <= (r.hlc, &r.node) {
                            continue;
                        }
                        // The earlier one replaces it: its index entry goes,
                        // and its digest is taken out of the Merkle leaf
                        // (a leaf is an XOR: landing it again removes it).
                        retracted.insert(id);
                        replaced.push(hlc_key(old.hlc, &old.node, HLC_KIND_RETRACTION, &id));
                        let value = r.encode();
                        let subject = match batch_claims.get(&id) {
                            Some(s) => Some(s.to_string()),
                            None => subject_of(db, &assertions, &id)?,
                        };
                        if let (Some(landed), Some(subject)) = (landed.as_deref_mut(), subject) {
                            landed.push(Landed::retraction(&subject, id, &stored_value));
                            landed.push(Landed::retraction(&subject, id, &value));
                        }
                        batch_retractions.insert(id, value.clone());
                        puts.put(RETRACTIONS, id.0, value);
                        puts.put(
                            BY_HLC,
                            hlc_key(r.hlc, &r.node, HLC_KIND_RETRACTION, &id),
                            [],
                        );
                        high_water = high_water.max(r.hlc);
                        continue;
                    }
                    retracted.insert(id);
                    let subject = heads.retraction(db, &id)?;
                    let value = r.encode();
                    batch_retractions.insert(id, value.clone());
                    if let (Some(landed), Some(subject)) = (landed.as_deref_mut(), subject) {
                        landed.push(Landed::retraction(&subject, id, &value));
                    }
                    puts.put(RETRACTIONS, id.0, value);
                    puts.put(
                        BY_HLC,
                        hlc_key(r.hlc, &r.node, HLC_KIND_RETRACTION, &id),
                        [],
                    );
                    high_water = high_water.max(r.hlc);
                }
            }
        }
    }
    // Room for the heads and the high-water mark too.
    let mut batch = puts.into_batch(&families, heads.pairs() * 256 + 64);
    for key in replaced {
        batch.delete_cf(&by_hlc, key);
    }
    heads.finish(db, &mut batch, &retracted)?;
    if high_water > Hlc::default() {
        batch.put_cf(&meta, META_HLC, high_water.to_key());
    }
    Ok(batch)
}

/// The earliest retraction, by (HLC, node), of each claim this batch
/// retracts: the only one of them it may store.
fn earliest_retractions<'a>(parts: &[(&'a [Write], &HeadMode)]) -> HashMap<Id, (Hlc, &'a String)> {
    let mut earliest: HashMap<Id, (Hlc, &'a String)> = HashMap::new();
    for (writes, _) in parts {
        for write in writes.iter() {
            if let Write::Retraction(r) = write {
                let this = (r.hlc, &r.node);
                earliest
                    .entry(r.assertion_id)
                    .and_modify(|e| *e = (*e).min(this))
                    .or_insert(this);
            }
        }
    }
    earliest
}

/// The subject of the stored claim `id`, if it is stored.
fn subject_of(
    db: &DB,
    assertions: &impl rocksdb::AsColumnFamilyRef,
    id: &Id,
) -> Result<Option<String>> {
    match db.get_pinned_cf(assertions, id.0)? {
        Some(v) => Ok(Some(Assertion::decode_keyed(&v, *id)?.subject)),
        None => Ok(None),
    }
}
