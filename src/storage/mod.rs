//! Storage: RocksDB with one column family per concern (docs/architecture.md, "Storage layout").
//!
//! | column family | key | value |
//! |---|---|---|
//! | `assertions` | id | canonical encoding (the hashed bytes) |
//! | `by_subject` | subject, predicate, id | the same encoding, so lens scans never seek back |
//! | `by_predicate` | predicate, subject, id | empty |
//! | `by_hlc` | hlc, node, kind, id | empty: the total order of writes, for replication, `as_of` and Merkle buckets |
//! | `retractions` | assertion id | canonical retraction encoding |
//! | `meta` | name | node id, HLC high-water, format version, COPYs being applied |
//! | `staging` | copy id, sequence | rows of a large COPY not yet applied ([`staging`]) |
//! | `heads` | subject, predicate | the pair's lens head: winners, counts, object tallies ([`heads`]) |
//! | `hints` | target node, sequence | writes held for a cluster member that was away ([`hints`]) |
//!
//! All writes go through [`GroupCommit`] ([`writer`]: one thread stamps
//! HLCs and updates lens heads in the same batch; [`syncer`] fsyncs the WAL
//! off that thread); reads go straight to RocksDB at a [`ReadPoint`]
//! ([`visibility`]) through [`scan`], and a statement sees claims and
//! pair heads through a [`View`] ([`view`]). Beside them: [`staging`] (large COPYs
//! applied at once), [`landed`] and [`accepted`] (what each batch stored,
//! for anti-entropy and the archive), [`checkpoint`] and [`truncate`]
//! (backups and point-in-time restore), [`forget`] (copies of subjects this
//! node no longer owns), [`split`] (slices of a full scan), [`stats`]
//! (RocksDB's figures for `/metrics`) and [`verify`]. This layer imports
//! the model and the lens rules, nothing above.

mod accepted;
mod catalog;
mod changes;
mod checkpoint;
mod forget;
mod frontier;
mod heads;
mod hints;
mod inventory;
mod keys;
mod landed;
#[cfg(test)]
mod open_tests;
#[cfg(test)]
mod replica_order_tests;
mod scan;
mod sorted_puts;
mod split;
mod staging;
mod stats;
mod syncer;
mod truncate;
mod trust;
mod verify;
mod view;
mod visibility;
mod writer;

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, DB, Options};

pub use catalog::CatalogEntry;
pub use changes::{After, CHANGE_ID_LEN, Change, next_stamp, stamp_bound, stamp_of};
pub use frontier::Unsettled;
pub use heads::has_heads;
pub use hints::{HintBatch, decode_write, encode_write};
pub use inventory::{Inventory, inventory};
pub use keys::ALL_CFS;
pub use landed::{Landed, LandedSink, retraction_digest};
pub use scan::ScanRange;
pub use stats::{FamilyStats, StorageStats};
pub use verify::{VerifyReport, verify};
pub use view::{View, read_time};
pub use visibility::ReadPoint;
pub use writer::{Durability, GroupCommit};

/// RocksDB counts per-operation perf counters in thread-local storage by
/// default; nothing reads them, and the lookups cost a few percent of a
/// batch lookup. Called on every thread that reads.
pub fn quiet_perf_counters() {
    rocksdb::perf::set_perf_stats(rocksdb::perf::PerfStatsLevel::Disable)
}

use crate::error::{Error, Result};
use crate::model::{Assertion, Claim, Clock, Hlc, Id, Retraction};
use keys::*;

/// Version of the on-disk layout, stored in `meta`. Version 2 added the
/// `heads` column family; a version 1 data dir gets its heads built at open.
const FORMAT_VERSION: u8 = 2;

/// One record to write.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new claim; the writer stamps it (HLC in commit order, node, id).
    Claim(Claim),
    /// A new retraction; the writer stamps it.
    Retract(Retraction),
    /// A claim already stamped: a transaction block's (its timestamps were
    /// reserved when its statement ran) or a large COPY's (its range).
    Assertion(Assertion),
    /// A retraction already stamped.
    Retraction(Retraction),
}

impl Write {
    /// Roughly the memory the write holds (for bounding buffers).
    pub fn approximate_size(&self) -> usize {
        match self {
            Write::Claim(c) => Write::approximate_assertion_size(c.fields()),
            Write::Assertion(a) => Write::approximate_assertion_size(a),
            Write::Retraction(r) | Write::Retract(r) => {
                96 + r.reason.as_ref().map_or(0, String::len) + r.agent.len() + r.node.len()
            }
        }
    }

    /// Roughly the memory a claim holds.
    pub fn approximate_assertion_size(a: &Assertion) -> usize {
        128 + a.subject.len()
            + a.predicate.len()
            + a.object.len()
            + a.source.len()
            + a.agent.len()
            + a.node.len()
    }
}

/// The node's storage: the database, its clock, its id and its writer.
pub struct Store {
    db: Arc<DB>,
    /// The data dir.
    dir: std::path::PathBuf,
    /// The options the database was opened with (its statistics).
    options: Options,
    clock: Arc<Clock>,
    node_id: String,
    writer: GroupCommit,
    /// Stamps the writes of transaction blocks (from reserved timestamps).
    stamper: writer::Stamper,
    applying: Arc<visibility::Applying>,
    /// Hints held for other cluster members ([`hints`]).
    hints: hints::HintCounter,
    /// Writes not settled yet, holding back [`Store::closed`] ([`frontier`]).
    unsettling: Arc<frontier::Unsettling>,
    /// Told what each batch stored ([`landed`]).
    landed: landed::LandedSlot,
    /// One catalog write at a time ([`catalog`]: read, compare, write).
    catalog_writes: std::sync::Mutex<()>,
    /// Grows with every catalog change ([`Store::catalog_version`]).
    catalog_version: std::sync::atomic::AtomicU64,
    /// `stemedb.source_trust`, parsed once per catalog version ([`trust`]).
    trust: trust::TrustCache,
}

fn db_options() -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.increase_parallelism(2);
    // Memtables of all column families together stay under this bound, so
    // a long COPY or import runs in flat memory.
    o.set_db_write_buffer_size(128 << 20);
    // A WAL file is deleted only once every column family holding writes
    // from it has flushed. `meta` takes one small key per batch and would
    // not fill a memtable for hours, pinning every WAL since — gigabytes
    // on disk, all replayed after a crash. Past this total, the families
    // holding the oldest WAL are flushed.
    o.set_max_total_wal_size(256 << 20);
    // Counters only, for the block cache's hit ratio: histograms time
    // every seek (two clock reads each).
    o.enable_statistics();
    o.set_statistics_level(rocksdb::statistics::StatsLevel::ExceptHistogramOrTimers);
    o
}

/// One block cache for every column family, so reads have a single,
/// bounded cache rather than one per family. Sized for the working set of
/// point queries at a few million claims while keeping the node's resident
/// memory under 1 GiB (memtables add at most 128 MiB). A hyper clock
/// cache: lookups take no lock, where the LRU cache's sharded mutex and
/// hash chains were a tenth of a batch lookup's time. Its entry size is
/// sized automatically (0).
pub(crate) const BLOCK_CACHE_BYTES: usize = 256 << 20;
static BLOCK_CACHE: std::sync::LazyLock<rocksdb::Cache> =
    std::sync::LazyLock::new(|| rocksdb::Cache::new_hyper_clock_cache(BLOCK_CACHE_BYTES, 0));

pub(super) fn cf_options(name: &str) -> Options {
    let mut o = Options::default();
    let mut t = rocksdb::BlockBasedOptions::default();
    t.set_block_cache(&BLOCK_CACHE);
    // Index and filter blocks live in (and are bounded by) the cache too,
    // rather than growing with the data outside it; L0's stay pinned.
    t.set_cache_index_and_filter_blocks(true);
    t.set_pin_l0_filter_and_index_blocks_in_cache(true);
    if name == CF_ASSERTIONS || name == CF_RETRACTIONS {
        // Point lookups by id: bloom filters make misses cheap.
        t.set_bloom_filter(10.0, false);
    }
    if name == CF_BY_SUBJECT || name == CF_HEADS {
        // Point lens queries seek to one subject: a bloom filter on the
        // subject part of the key lets the seek skip every SST file that
        // lacks it (after a bulk load, most L0 files). Scans that are not
        // within one subject must ask for total order (see `scan`).
        t.set_bloom_filter(10.0, false);
        t.set_whole_key_filtering(false);
        o.set_prefix_extractor(rocksdb::SliceTransform::create(
            "stemedb.subject",
            keys::subject_part,
            Some(keys::has_subject_part),
        ));
    }
    if name == CF_HEADS {
        // A lens read seeks to a subject in each sorted run: a hash of the
        // subject finds its index entry without a binary search, and short
        // restart intervals shorten the scan within the data block.
        t.set_index_type(rocksdb::BlockBasedIndexType::HashSearch);
        t.set_block_restart_interval(4);
        // Each seek consults a file's filter and index: pinned in the
        // cache, it skips a cache lookup for each (small: a filter entry
        // per subject, an index entry per block).
        t.set_unpartitioned_pinning_tier(rocksdb::BlockBasedTablePinningTier::All);
        // The writer reads a pair's head for every new claim, mostly a
        // miss for a new pair: a memtable bloom filter answers it without
        // walking the memtable.
        o.set_memtable_prefix_bloom_ratio(0.1);
        o.set_memtable_whole_key_filtering(true);
        // Every lens read seeks in each sorted run that may hold its
        // subject, and L0 files linger until enough of them pile up: a
        // batch lookup of 1 000 subjects took 1.6x the CPU with three L0
        // files left by a COPY than with the family compacted. Heads are
        // small (one per pair), so compacting at two files costs little.
        o.set_level_zero_file_num_compaction_trigger(2);
    }
    o.set_block_based_table_factory(&t);
    o.set_write_buffer_size(32 << 20);
    o.set_compression_type(rocksdb::DBCompressionType::Lz4);
    o
}

/// Opens the data dir's database; also returns the options it was opened
/// with, which hold its statistics.
pub(crate) fn open_db(dir: &Path) -> Result<(DB, Options)> {
    let cfs = ALL_CFS
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, cf_options(name)));
    let options = db_options();
    let db = DB::open_cf_descriptors(&options, dir, cfs).map_err(|e| {
        let e = e.to_string();
        // Column families this build does not know: a newer version's.
        if e.contains("Column families not opened") {
            Error::internal(format!(
                "cannot open data dir {}: it was written by a newer stemedb ({e}); run that \
                 version, or restore a backup taken before the upgrade",
                dir.display()
            ))
        } else {
            Error::internal(format!("cannot open data dir {}: {e}", dir.display()))
        }
    })?;
    Ok((db, options))
}

impl Store {
    /// Opens (or creates) the data dir. The node id is read from `meta`, or
    /// on first start taken from `node_id` (or generated) and persisted.
    pub fn open(dir: &Path, node_id: Option<&str>, durability: Durability) -> Result<Arc<Store>> {
        std::fs::create_dir_all(dir)?;
        let (db, options) = open_db(dir)?;
        let db = Arc::new(db);
        let meta = db
            .cf_handle(CF_META)
            .ok_or_else(|| Error::internal("no meta cf"))?;
        if let Some(v) = db.get_cf(&meta, META_FORMAT)? {
            if v.as_slice() == [1] {
                tracing::warn!(
                    "upgrading data dir {} in place from format 1 to {FORMAT_VERSION} (building \
                     lens heads); an older stemedb cannot open it afterwards, so keep a backup \
                     taken before the upgrade (stemedb backup create) until this version has \
                     proven itself",
                    dir.display()
                );
                let pairs = heads::rebuild(&db)?;
                let mut o = rocksdb::WriteOptions::default();
                o.set_sync(true);
                db.put_cf_opt(&meta, META_FORMAT, [FORMAT_VERSION], &o)?;
                tracing::info!(pairs, "lens heads built");
            } else if v.as_slice() != [FORMAT_VERSION] {
                return Err(Error::internal(format!(
                    "data dir {} has format version {:?}, newer than this build's \
                     {FORMAT_VERSION}: it was written by a newer stemedb. Run that version, or \
                     restore a backup taken before the upgrade",
                    dir.display(),
                    v
                )));
            }
        }
        let stored_id = db
            .get_cf(&meta, META_NODE_ID)?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        let never_a_member =
            db.get_cf(&meta, META_LAYOUT)?.is_none() && db.get_cf(&meta, META_MEMBERS)?.is_none();
        let node_id = match (stored_id, node_id) {
            (Some(stored), Some(wanted)) if stored != wanted && never_a_member => {
                // A single node becoming the first member of a cluster: it
                // takes the configured name (claims it stamped keep the old
                // one as their origin, which only breaks ties).
                tracing::warn!(
                    "data dir {} was the single node \"{stored}\" and was never a cluster \
                     member: it is node \"{wanted}\" from now on",
                    dir.display()
                );
                let mut o = rocksdb::WriteOptions::default();
                o.set_sync(true);
                db.put_cf_opt(&meta, META_NODE_ID, wanted.as_bytes(), &o)?;
                wanted.to_string()
            }
            (Some(stored), Some(wanted)) if stored != wanted => {
                return Err(Error::internal(format!(
                    "data dir {} belongs to cluster member \"{stored}\", not \"{wanted}\": \
                     a member keeps its name (set node_id = \"{stored}\")",
                    dir.display()
                )));
            }
            (Some(stored), _) => stored,
            (None, wanted) => {
                let id = wanted.map(str::to_string).unwrap_or_else(generate_node_id);
                let mut o = rocksdb::WriteOptions::default();
                o.set_sync(true);
                let mut b = rocksdb::WriteBatch::default();
                b.put_cf(&meta, META_NODE_ID, id.as_bytes());
                b.put_cf(&meta, META_FORMAT, [FORMAT_VERSION]);
                db.write_opt(b, &o)?;
                id
            }
        };
        staging::recover(&db, &node_id)?;
        // Read after recovery, which may have stored newer stamps.
        let high_water = db
            .get_cf(&meta, META_HLC)?
            .and_then(|v| Hlc::from_key(&v))
            .unwrap_or_default();
        let clock = Arc::new(Clock::starting_after(high_water));
        let hints = hints::HintCounter::load(&db)?;
        let landed = landed::LandedSlot::default();
        let applying = Arc::<visibility::Applying>::default();
        let writer = GroupCommit::start(
            db.clone(),
            clock.clone(),
            node_id.clone(),
            durability,
            landed.clone(),
            applying.clone(),
        );
        let stamper = writer::Stamper {
            clock: clock.clone(),
            node: node_id.clone(),
        };
        Ok(Arc::new(Store {
            db,
            dir: dir.to_path_buf(),
            options,
            clock,
            node_id,
            writer,
            stamper,
            applying,
            hints,
            unsettling: Arc::default(),
            landed,
            catalog_writes: std::sync::Mutex::new(()),
            catalog_version: std::sync::atomic::AtomicU64::new(1),
            trust: trust::TrustCache::default(),
        }))
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    /// What a statement starting now may see ([`visibility`]).
    pub fn read_point(&self) -> ReadPoint {
        self.applying.read_point(&self.db)
    }

    /// Writes atomically and durably through the group-commit writer;
    /// returns the writes as stamped and stored.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<Vec<Write>> {
        self.writer.commit(writes).await
    }

    /// Writes stamped elsewhere — replicated to this node, or handed off
    /// — durably; the clock moves past their stamps first (docs/architecture.md, "Clock and identity"), so
    /// later local writes sort after them. Writing one again is a no-op.
    pub async fn commit_replica(&self, writes: Vec<Write>) -> Result<()> {
        for write in &writes {
            match write {
                Write::Assertion(a) => self.clock.observe(a.hlc),
                Write::Retraction(r) => self.clock.observe(r.hlc),
                Write::Claim(_) | Write::Retract(_) => {
                    return Err(Error::internal("a replicated write must be stamped"));
                }
            }
        }
        self.writer
            .request(writes, writer::HeadMode::Replica)
            .await
            .map(drop)
    }

    /// The subject of the claim `id`, if this node stores it.
    pub fn subject_of(&self, id: &Id) -> Result<Option<String>> {
        let cf = self.cf(CF_ASSERTIONS)?;
        match self.db.get_pinned_cf(cf, id.0)? {
            Some(v) => Ok(Some(Assertion::decode_keyed(&v, *id)?.subject)),
            None => Ok(None),
        }
    }

    /// Stamps a transaction block's writes now, from timestamps reserved
    /// for them, so its statements can return ids and `asserted_at`; the
    /// block commits them at COMMIT. The writer's high-water covers the
    /// reservation.
    pub fn stamp_reserved(&self, writes: Vec<Write>) -> Vec<Write> {
        self.stamper.stamp(writes)
    }

    /// Whether an assertion with this id is stored (now, not as of a read
    /// point: for checking writes).
    pub fn contains(&self, id: &Id) -> Result<bool> {
        let cf = self.cf(CF_ASSERTIONS)?;
        Ok(self.db.get_pinned_cf(cf, id.0)?.is_some())
    }

    /// The SCRAM salt of `user`: random, made the first time it is asked
    /// for and kept in `meta`, so each installation (and user) has its own
    /// and restarts keep it.
    /// RocksDB's estimate of how many retractions are stored (memtables
    /// and files); `None` if it cannot say.
    pub fn estimated_retractions(&self) -> Option<u64> {
        let handle = cf(&self.db, CF_RETRACTIONS).ok()?;
        self.db
            .property_int_value_cf(handle, "rocksdb.estimate-num-keys")
            .ok()
            .flatten()
    }

    pub fn scram_salt(&self, user: &str) -> Result<Vec<u8>> {
        let meta = self.cf(CF_META)?;
        let key = [META_SCRAM_SALT, user.as_bytes()].concat();
        if let Some(salt) = self.db.get_cf(meta, &key)? {
            return Ok(salt);
        }
        let mut salt = vec![0u8; 16];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut salt)?;
        let mut sync = rocksdb::WriteOptions::default();
        sync.set_sync(true);
        self.db.put_cf_opt(meta, &key, &salt, &sync)?;
        Ok(salt)
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        cf(&self.db, name)
    }

    /// The cluster members this node has known (ids), kept so a restarted
    /// node places subjects over the whole cluster even before every
    /// member answers again.
    pub fn remembered_members(&self) -> Result<Vec<String>> {
        let v = self.db.get_cf(self.cf(CF_META)?, META_MEMBERS)?;
        let text = v.map(|v| String::from_utf8_lossy(&v).into_owned());
        Ok(text
            .iter()
            .flat_map(|t| t.lines())
            .map(str::to_string)
            .collect())
    }

    /// Keeps `ids` as the members this node has known (synced).
    pub fn remember_members(&self, ids: &[String]) -> Result<()> {
        self.put_meta(META_MEMBERS, ids.join("\n").as_bytes())
    }

    /// The cluster layout this node holds (JSON), if any.
    pub fn layout(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(CF_META)?, META_LAYOUT)?)
    }

    /// Keeps `json` as this node's cluster layout (synced).
    pub fn set_layout(&self, json: &[u8]) -> Result<()> {
        self.put_meta(META_LAYOUT, json)
    }

    fn put_meta(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut sync = rocksdb::WriteOptions::default();
        sync.set_sync(true);
        self.db.put_cf_opt(self.cf(CF_META)?, key, value, &sync)?;
        Ok(())
    }
}

/// A column family's handle, or an internal error naming it.
pub(crate) fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a rocksdb::ColumnFamily> {
    db.cf_handle(name)
        .ok_or_else(|| Error::internal(format!("missing column family {name}")))
}

fn generate_node_id() -> String {
    let seed = format!(
        "{}-{}-{:?}",
        std::process::id(),
        crate::model::wall_clock_micros(),
        std::thread::current().id()
    );
    format!("node-{}", &blake3::hash(seed.as_bytes()).to_hex()[..8])
}
