//! The catalog across the cluster ([`crate::storage::CatalogEntry`]):
//! definitions every member holds in full. A change is stored here, then
//! sent to every live member at once; a member that was down or missed it
//! gets it at the next anti-entropy round, which compares catalog digests
//! and, when they differ, swaps every entry both ways (the catalog is
//! small). Entries merge last-writer-wins, so order does not matter.

use std::sync::Arc;

use super::members::Membership;
use super::peers::Peers;
use crate::error::Result;
use crate::storage::{CatalogEntry, Store};

/// Stores `entries` here and sends them to every live member; a member
/// that does not take them now catches up by anti-entropy.
pub async fn publish(
    store: &Store,
    membership: &Membership,
    peers: &Arc<Peers>,
    entries: Vec<CatalogEntry>,
) -> Result<()> {
    store.catalog_put(&entries)?;
    let others = membership
        .members()
        .into_iter()
        .filter(|m| !m.is_self && m.status.is_alive());
    let sends = others.map(|m| {
        let (peers, entries) = (peers.clone(), entries.clone());
        async move {
            if let Err(e) = peers.put_catalog(&m.identity.rpc, &entries).await {
                tracing::debug!(peer = m.identity.id, "catalog: {}", e.message);
            }
        }
    });
    futures::future::join_all(sends).await;
    Ok(())
}

/// Compares catalogs with the member at `addr` and swaps entries when they
/// differ; whether they were equal.
pub async fn sync_with(store: &Store, peers: &Peers, addr: &str) -> Result<bool> {
    let mine = store.catalog_digest()?;
    let (theirs, entries) = peers.catalog(addr, &mine).await?;
    if theirs == mine {
        return Ok(true);
    }
    store.catalog_put(&entries)?;
    peers.put_catalog(addr, &store.catalog()?).await?;
    Ok(false)
}
