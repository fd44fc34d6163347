//! What the node stores, as RocksDB reports it: per column family its
//! files on disk, keys, memtables and pending compaction; the block
//! cache's size and hits. Read on demand (a `/metrics` scrape), never on
//! the write or read path.

use rocksdb::statistics::Ticker;

use super::{ALL_CFS, BLOCK_CACHE, BLOCK_CACHE_BYTES, Store};

/// One column family's figures.
#[derive(Debug, Clone, Default)]
pub struct FamilyStats {
    pub name: &'static str,
    /// Live SST files.
    pub disk_bytes: u64,
    /// RocksDB's estimate of the keys (claims, retractions, heads…).
    pub keys: u64,
    pub memtable_bytes: u64,
    pub compaction_pending_bytes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct StorageStats {
    pub families: Vec<FamilyStats>,
    pub block_cache_bytes: u64,
    pub block_cache_capacity: u64,
    pub block_cache_hits: u64,
    pub block_cache_misses: u64,
    /// Compactions and memtable flushes running now.
    pub compactions_running: u64,
    pub flushes_running: u64,
    /// The data dir's filesystem: its size and the bytes still available.
    pub filesystem_bytes: u64,
    pub filesystem_avail_bytes: u64,
}

impl Store {
    pub fn stats(&self) -> StorageStats {
        let property = |cf: &rocksdb::ColumnFamily, name: &str| {
            self.db
                .property_int_value_cf(cf, name)
                .ok()
                .flatten()
                .unwrap_or(0)
        };
        let families = ALL_CFS
            .iter()
            .filter_map(|name| {
                let cf = self.db.cf_handle(name)?;
                Some(FamilyStats {
                    name,
                    disk_bytes: property(cf, "rocksdb.live-sst-files-size"),
                    keys: property(cf, "rocksdb.estimate-num-keys"),
                    memtable_bytes: property(cf, "rocksdb.size-all-mem-tables"),
                    compaction_pending_bytes: property(
                        cf,
                        "rocksdb.estimate-pending-compaction-bytes",
                    ),
                })
            })
            .collect();
        let (size, avail) = filesystem(&self.dir);
        StorageStats {
            families,
            block_cache_bytes: BLOCK_CACHE.get_usage() as u64,
            block_cache_capacity: BLOCK_CACHE_BYTES as u64,
            block_cache_hits: self.options.get_ticker_count(Ticker::BlockCacheHit),
            block_cache_misses: self.options.get_ticker_count(Ticker::BlockCacheMiss),
            compactions_running: self.db_property("rocksdb.num-running-compactions"),
            flushes_running: self.db_property("rocksdb.num-running-flushes"),
            filesystem_bytes: size,
            filesystem_avail_bytes: avail,
        }
    }
}

impl Store {
    /// A database-wide integer property (0 if RocksDB does not answer).
    fn db_property(&self, name: &str) -> u64 {
        self.db.property_int_value(name).ok().flatten().unwrap_or(0)
    }
}

/// Size and available bytes of the filesystem holding `dir` (zeros if it
/// cannot be read).
fn filesystem(dir: &std::path::Path) -> (u64, u64) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return (0, 0);
    };
    let mut fs = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `fs` points to writable
    // memory of the right type; statvfs fills it on success.
    if unsafe { libc::statvfs(path.as_ptr(), fs.as_mut_ptr()) } != 0 {
        return (0, 0);
    }
    // SAFETY: statvfs returned 0, so it initialised `fs`.
    let fs = unsafe { fs.assume_init() };
    // The field types differ between platforms (u64 on x86-64 Linux).
    #[allow(clippy::unnecessary_cast)]
    let (blocks, avail, unit) = (fs.f_blocks as u64, fs.f_bavail as u64, fs.f_frsize as u64);
    (blocks * unit, avail * unit)
}
