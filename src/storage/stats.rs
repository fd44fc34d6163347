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
        StorageStats {
            families,
            block_cache_bytes: BLOCK_CACHE.get_usage() as u64,
            block_cache_capacity: BLOCK_CACHE_BYTES as u64,
            block_cache_hits: self.options.get_ticker_count(Ticker::BlockCacheHit),
            block_cache_misses: self.options.get_ticker_count(Ticker::BlockCacheMiss),
        }
    }
}
