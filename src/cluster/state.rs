//! The replication state of a node, per peer: what `stemedb.replication`
//! and the `stemedb_replication_lag_seconds{peer}` metric show (docs/cluster.md).
//!
//! Lag is measured by hinted handoff: a peer is behind this node by the
//! age of the oldest write held here for it (0 when none is). `in_sync`,
//! `last_sync_at` and `repaired` come from the last anti-entropy exchange
//! ([`super::anti_entropy`]); NULL / 0 before the first.

use super::members::{Membership, Status};
use crate::error::Result;
use crate::model::wall_clock_micros;
use crate::storage::Store;

/// One peer as this node sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerState {
    pub peer: String,
    pub status: Status,
    pub lag_seconds: f64,
    pub hints_pending: u64,
    pub in_sync: Option<bool>,
    /// µs since the epoch.
    pub last_sync_at: Option<i64>,
    pub repaired: u64,
}

/// Every other member this node knows, sorted by id.
pub fn peers(membership: &Membership, store: &Store) -> Result<Vec<PeerState>> {
    let now = wall_clock_micros();
    let mut out = Vec::new();
    for m in membership.members() {
        if m.is_self {
            continue;
        }
        let (hints_pending, oldest) = store.hints_held_for(&m.identity.id)?;
        let lag_seconds = oldest.map_or(0.0, |hlc| (now - hlc.physical).max(0) as f64 / 1e6);
        let sync = membership.last_sync(&m.identity.id);
        out.push(PeerState {
            in_sync: sync.map(|s| s.in_sync),
            last_sync_at: sync.map(|s| s.at),
            repaired: sync.map_or(0, |s| s.repaired),
            peer: m.identity.id,
            status: m.status,
            lag_seconds,
            hints_pending,
        });
    }
    Ok(out)
}
