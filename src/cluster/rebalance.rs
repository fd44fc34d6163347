//! Moving claims to their owners: a node that holds subjects it does not
//! own — a single node that joined a cluster with its data (DESIGN §6's
//! migration) — sends each such subject's claims and retractions to its
//! owners, and forgets its own copy once every owner holds them durably.
//! Runs once the node knows every member and all are alive; a round that
//! cannot reach an owner leaves the rest for the next round.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::members::Membership;
use super::peers::Peers;
use super::placement::owners;
use crate::error::{Error, Result};
use crate::storage::{Store, Write};

/// Claims handled per step.
const CLAIMS_PER_STEP: usize = 5000;

/// Moves every misplaced subject; the claims moved.
pub async fn rebalance(
    store: &Arc<Store>,
    membership: &Membership,
    peers: &Peers,
    factor: usize,
) -> Result<u64> {
    let me = membership.me().id.clone();
    let members = membership.placement_ids();
    let mut from = String::new();
    let mut moved = 0;
    loop {
        let (s, m, at) = (store.clone(), members.clone(), me.clone());
        let (chunk, next) = tokio::task::spawn_blocking(move || {
            s.misplaced(&from, CLAIMS_PER_STEP, |subject| {
                !owners(subject, &m, factor).contains(&at.as_str())
            })
        })
        .await
        .map_err(|e| Error::internal(format!("rebalancing: {e}")))??;
        if !chunk.is_empty() {
            moved += send(store, membership, peers, &members, factor, chunk).await?;
        }
        match next {
            Some(n) => from = n,
            None => return Ok(moved),
        }
    }
}

/// Sends one chunk to its owners, then forgets it here.
async fn send(
    store: &Arc<Store>,
    membership: &Membership,
    peers: &Peers,
    members: &[String],
    factor: usize,
    chunk: BTreeMap<String, Vec<Write>>,
) -> Result<u64> {
    let mut by_owner: BTreeMap<String, Vec<Write>> = BTreeMap::new();
    for (subject, writes) in &chunk {
        for owner in owners(subject, members, factor) {
            by_owner
                .entry(owner.to_string())
                .or_default()
                .extend(writes.iter().cloned());
        }
    }
    for (owner, writes) in by_owner {
        let member = membership
            .find(&owner)
            .filter(|m| m.status.is_alive())
            .ok_or_else(|| Error::internal(format!("owner {owner} is not alive")))?;
        peers.replicate(&member.identity.rpc, &writes).await?;
    }
    let claims = chunk
        .values()
        .flatten()
        .filter(|w| matches!(w, Write::Assertion(_)))
        .count() as u64;
    let subjects: Vec<String> = chunk.keys().cloned().collect();
    let writes: Vec<Write> = chunk.into_values().flatten().collect();
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.forget(&subjects, &writes))
        .await
        .map_err(|e| Error::internal(format!("rebalancing: {e}")))??;
    Ok(claims)
}
