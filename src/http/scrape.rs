//! Answers `GET /metrics`: sets the gauges that read another layer's state
//! at the moment of the scrape — storage (RocksDB's own figures), the
//! members as this node sees them, each peer's replication lag — then
//! renders every metric [`crate::monitor`] holds. Reading them here keeps
//! `monitor` a leaf that every layer may record through.

use metrics::{counter, gauge};

use crate::cluster::{Membership, Status};
use crate::storage::{StorageStats, Store};

/// The Prometheus text of every metric, gauges read now.
pub fn render(members: &Membership, store: &Store) -> String {
    member_gauges(members);
    replication_lag(members, store);
    storage(&store.stats());
    crate::monitor::render()
}

/// `stemedb_members{status}`: the members as this node sees them; and
/// `stemedb_quorum{state}`: the members it counts alive and the number its
/// majority is taken of (the current layout's members), so the quorum
/// alert sees what the node's own write check sees.
fn member_gauges(members: &Membership) {
    let (alive, counted) = members.quorum();
    gauge!("stemedb_quorum", "state" => "alive").set(alive as f64);
    gauge!("stemedb_quorum", "state" => "counted").set(counted as f64);
    let list = members.members();
    for status in [Status::Up, Status::Suspect, Status::Down] {
        let n = list.iter().filter(|m| m.status == status).count();
        gauge!("stemedb_members", "status" => status.as_str()).set(n as f64);
    }
}

/// `stemedb_replication_lag_seconds{peer}`: how far each peer is behind
/// this node (the age of the oldest write held here for it).
fn replication_lag(members: &Membership, store: &Store) {
    match crate::cluster::state::peers(members, store) {
        Ok(peers) => {
            for p in peers {
                gauge!("stemedb_replication_lag_seconds", "peer" => p.peer).set(p.lag_seconds);
            }
        }
        Err(e) => tracing::warn!("replication state: {}", e.message),
    }
}

/// Storage gauges, per column family and for the block cache.
fn storage(stats: &StorageStats) {
    for f in &stats.families {
        let cf = f.name;
        gauge!("stemedb_disk_bytes", "cf" => cf).set(f.disk_bytes as f64);
        gauge!("stemedb_keys", "cf" => cf).set(f.keys as f64);
        gauge!("stemedb_memtable_bytes", "cf" => cf).set(f.memtable_bytes as f64);
        gauge!("stemedb_compaction_pending_bytes", "cf" => cf)
            .set(f.compaction_pending_bytes as f64);
    }
    gauge!("stemedb_compactions_running").set(stats.compactions_running as f64);
    gauge!("stemedb_flushes_running").set(stats.flushes_running as f64);
    gauge!("stemedb_block_cache_bytes").set(stats.block_cache_bytes as f64);
    gauge!("stemedb_block_cache_capacity_bytes").set(stats.block_cache_capacity as f64);
    counter!("stemedb_block_cache_hits_total").absolute(stats.block_cache_hits);
    counter!("stemedb_block_cache_misses_total").absolute(stats.block_cache_misses);
    let lookups = stats.block_cache_hits + stats.block_cache_misses;
    let ratio = if lookups == 0 {
        1.0
    } else {
        stats.block_cache_hits as f64 / lookups as f64
    };
    gauge!("stemedb_block_cache_hit_ratio").set(ratio);
    gauge!("stemedb_filesystem_size_bytes").set(stats.filesystem_bytes as f64);
    gauge!("stemedb_filesystem_avail_bytes").set(stats.filesystem_avail_bytes as f64);
    let assertions = stats.families.iter().find(|f| f.name == "assertions");
    gauge!("stemedb_assertions_stored").set(assertions.map_or(0, |f| f.keys) as f64);
}
