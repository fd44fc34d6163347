//! Staging for large COPYs: rows wait on disk, invisible, until the COPY's
//! data ends; then they are applied in chunks. Memory stays flat however
//! large the COPY.
//!
//! | step | what is written | after a crash |
//! |---|---|---|
//! | stage | `staging` cf: copy id, sequence → encoded claim (not yet stamped) | the rows are discarded at open (the COPY was never acknowledged) |
//! | apply | `meta`: `apply/<copy id>` (synced), then chunks through the writer | the apply is finished at open (assertions are content-addressed: re-writing one is a no-op) |
//! | done | staged rows and marker deleted in one batch | — |
//!
//! A COPY that fails, is cancelled or loses its connection deletes its
//! staged rows. Readers never look at
//! the `staging` cf.

use rocksdb::{DB, Direction, IteratorMode, WriteBatch, WriteOptions};

use super::heads::PairsToRecompute;
use super::keys::{CF_META, CF_STAGING};
use super::writer::{HeadMode, build_batch};
use super::{Store, Write, cf};
use crate::error::{Error, Result, sqlstate};
use crate::model::{Claim, Hlc};

/// Rows, and encoded bytes, applied per write batch.
const APPLY_CHUNK: usize = 20_000;
const APPLY_CHUNK_BYTES: usize = 8 << 20;

const APPLY_MARKER: &[u8] = b"apply/";

fn key(copy: u64, seq: u64) -> [u8; 16] {
    let mut k = [0; 16];
    k[..8].copy_from_slice(&copy.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn marker(copy: u64) -> Vec<u8> {
    [APPLY_MARKER, &copy.to_be_bytes()[..]].concat()
}

/// Up to [`APPLY_CHUNK`] staged rows of `copy` from sequence `from` on,
/// and the sequence after the last one read. Row `seq` is stamped with the
/// `seq`-th timestamp of the range reserved from `first` — the same on a
/// retry after a crash, so re-applying rewrites the same claims.
fn read_chunk(db: &DB, copy: u64, from: u64, first: Hlc, node: &str) -> Result<(Vec<Write>, u64)> {
    let staging = cf(db, CF_STAGING)?;
    let start = key(copy, from);
    let mut chunk = Vec::new();
    let mut next = from;
    let mut bytes = 0;
    let rows = db.iterator_cf(staging, IteratorMode::From(&start, Direction::Forward));
    for item in rows.take(APPLY_CHUNK) {
        let (k, v) = item?;
        if k.len() != 16 || k[..8] != copy.to_be_bytes() || bytes >= APPLY_CHUNK_BYTES {
            break;
        }
        bytes += v.len();
        let seq = u64::from_be_bytes(k[8..].try_into().unwrap_or_default());
        next = seq + 1;
        let hlc = Hlc::new(first.physical, first.logical + seq as u32);
        chunk.push(Write::Assertion(Claim::decode(&v)?.stamp(hlc, node)));
    }
    Ok((chunk, next))
}

/// Deletes the staged rows of `copy` and its apply marker in one batch.
fn clear(db: &DB, copy: u64, sync: bool) -> Result<()> {
    let mut batch = WriteBatch::default();
    batch.delete_range_cf(cf(db, CF_STAGING)?, key(copy, 0), key(copy + 1, 0));
    batch.delete_cf(cf(db, CF_META)?, marker(copy));
    let mut o = WriteOptions::default();
    o.set_sync(sync);
    db.write_opt(batch, &o)?;
    Ok(())
}

/// The HLC ranges of COPYs whose apply was under way when the node
/// stopped (recovery finishes them at the next start).
pub(super) fn unfinished_ranges(db: &DB) -> Result<Vec<(Hlc, Hlc)>> {
    let meta = cf(db, CF_META)?;
    let staging = cf(db, CF_STAGING)?;
    let mut ranges = Vec::new();
    for item in db.prefix_iterator_cf(meta, APPLY_MARKER) {
        let (k, v) = item?;
        let Some(copy) = k.strip_prefix(APPLY_MARKER).and_then(|c| c.try_into().ok()) else {
            break;
        };
        let copy = u64::from_be_bytes(copy);
        let first = Hlc::from_key(&v)
            .ok_or_else(|| Error::corrupted("COPY apply marker without its range"))?;
        let rows = db
            .iterator_cf(
                staging,
                IteratorMode::From(&key(copy, 0), Direction::Forward),
            )
            .take_while(|kv| {
                kv.as_ref()
                    .is_ok_and(|(k, _)| k.starts_with(&copy.to_be_bytes()))
            })
            .count() as u32;
        ranges.push((first, Hlc::new(first.physical, first.logical + rows)));
    }
    Ok(ranges)
}

/// At open: finishes applies that were under way, drops everything else
/// that was staged.
pub(super) fn recover(db: &DB, node: &str) -> Result<()> {
    let meta = cf(db, CF_META)?;
    let mut pending = Vec::new();
    for item in db.prefix_iterator_cf(meta, APPLY_MARKER) {
        let (k, v) = item?;
        match k.strip_prefix(APPLY_MARKER).and_then(|c| c.try_into().ok()) {
            Some(bytes) => match Hlc::from_key(&v) {
                Some(first) => pending.push((u64::from_be_bytes(bytes), first)),
                None => return Err(Error::corrupted("COPY apply marker without its range")),
            },
            None => break,
        }
    }
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    // Each chunk's batch stores the high-water mark: never lower it.
    let stored = db
        .get_cf(meta, super::keys::META_HLC)?
        .and_then(|v| Hlc::from_key(&v))
        .unwrap_or_default();
    let write = |writes: &[Write], heads: HeadMode| -> Result<()> {
        let batch = build_batch(db, std::iter::once((writes, &heads)), stored, None)?;
        db.write_opt(batch, &sync)?;
        Ok(())
    };
    for (copy, first) in pending {
        tracing::info!(copy, "finishing a COPY that was being applied at shutdown");
        // As the apply did: chunks without heads, then every pair the COPY
        // touched recomputed (whichever chunks were already in).
        let mut pairs = PairsToRecompute::default();
        let mut from = 0;
        loop {
            let (chunk, next) = read_chunk(db, copy, from, first, node)?;
            if chunk.is_empty() {
                break;
            }
            write(&chunk, HeadMode::Defer)?;
            pairs.add(&chunk);
            if pairs.is_full() {
                for keys in pairs.take_groups() {
                    write(&[], HeadMode::Recompute(keys))?;
                }
            }
            from = next;
        }
        for keys in pairs.take_groups() {
            write(&[], HeadMode::Recompute(keys))?;
        }
        clear(db, copy, true)?;
    }
    let staging = cf(db, CF_STAGING)?;
    if db
        .iterator_cf(staging, IteratorMode::Start)
        .next()
        .is_some()
    {
        tracing::info!("discarding rows of COPYs that did not finish");
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(staging, &[0u8; 16][..], &[0xFFu8; 17][..]);
        db.write_opt(batch, &sync)?;
    }
    Ok(())
}

impl Store {
    /// A fresh id for a staged COPY.
    pub fn new_copy_id(&self) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let now = crate::model::wall_clock_micros() as u64;
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        now.wrapping_mul(1024) + (n & 1023)
    }

    /// Stages rows `first_seq..` of a COPY (not yet durable, not visible).
    pub fn stage(&self, copy: u64, first_seq: u64, rows: &[Claim]) -> Result<()> {
        let staging = self.cf(CF_STAGING)?;
        let mut batch = WriteBatch::default();
        for (i, row) in rows.iter().enumerate() {
            batch.put_cf(staging, key(copy, first_seq + i as u64), row.encode());
        }
        self.db().write(batch)?;
        Ok(())
    }

    /// Makes a staged COPY of `rows` rows visible and durable: reserves
    /// its timestamps (hidden from readers until it is done, see
    /// [`super::visibility`]), marks it (synced, so the staged rows are on
    /// disk too), applies it through the writer, clears it.
    pub async fn apply_staged(&self, copy: u64, rows: usize) -> Result<()> {
        let rows = u32::try_from(rows).map_err(|_| {
            Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!("a COPY of {rows} rows is too large; split it below 4 294 967 295 rows"),
            )
        })?;
        let applying = self.applying.begin(self.clock(), rows);
        let first = applying.first();
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        self.db()
            .put_cf_opt(self.cf(CF_META)?, marker(copy), first.to_key(), &sync)?;
        let mut from = 0;
        let mut pairs = PairsToRecompute::default();
        let started = std::time::Instant::now();
        loop {
            let (chunk, next) = self.staged_chunk(copy, from, first).await?;
            if chunk.is_empty() {
                break;
            }
            let chunk = self.writer.request(chunk, HeadMode::Defer).await?;
            pairs.add(&chunk);
            if pairs.is_full() {
                self.recompute_heads(&mut pairs).await?;
            }
            from = next;
        }
        let applied = started.elapsed();
        self.recompute_heads(&mut pairs).await?;
        tracing::info!(
            rows,
            apply_ms = applied.as_millis() as u64,
            heads_ms = (started.elapsed() - applied).as_millis() as u64,
            "large COPY applied"
        );
        applying.publish();
        clear(self.db(), copy, false)
    }

    /// Recomputes the heads of the pairs a deferred COPY touched.
    async fn recompute_heads(&self, pairs: &mut PairsToRecompute) -> Result<()> {
        for keys in pairs.take_groups() {
            self.writer
                .request(vec![], HeadMode::Recompute(keys))
                .await?;
        }
        Ok(())
    }

    /// Up to a chunk of staged rows of `copy` from sequence `from` on,
    /// stamped from the range reserved at `first`, and the sequence after
    /// them: for a cluster, which routes each chunk to its owners instead
    /// of applying it here.
    pub async fn staged_chunk(
        &self,
        copy: u64,
        from: u64,
        first: Hlc,
    ) -> Result<(Vec<Write>, u64)> {
        let (db, node) = (self.db().clone(), self.node_id().to_string());
        crate::runtime::blocking::run(move || read_chunk(&db, copy, from, first, &node))
            .await
            .map_err(|e| Error::internal(format!("reading staged rows: {e}")))?
    }

    /// Drops a COPY's staged rows (it failed or was cancelled).
    pub fn discard_staged(&self, copy: u64) -> Result<()> {
        clear(self.db(), copy, false)
    }
}
