//! Moving claims to their owners. Two kinds of move, both reading every
//! claim this node holds, a few thousand at a time:
//!
//! - **forget**: a node that holds subjects it does not own — a single
//!   node that joined a cluster with its data (the migration in docs/cluster.md), or
//!   an old owner after a change of members ([`super::layout`]) — sends each
//!   such subject's claims and retractions to its owners, and forgets its
//!   own copy once every owner holds them durably;
//! - **copy**: during a change of members, each node sends the subjects
//!   it owns to the owners they gain, and keeps them.
//!
//! A round that cannot reach an owner fails; what it moved stays moved,
//! and the next round does the rest.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::members::Membership;
use super::peers::Peers;
use super::placement::owners;
use crate::error::{Error, Result};
use crate::storage::{Store, Write};

/// Claims handled per step.
const CLAIMS_PER_STEP: usize = 5000;

/// Forgets every subject this node does not own under `members`, once
/// its owners hold it; the claims moved.
pub async fn rebalance(
    store: &Arc<Store>,
    membership: &Membership,
    peers: &Peers,
    members: Vec<String>,
    factor: usize,
) -> Result<u64> {
    let me = membership.me().id.clone();
    let to = move |subject: &str| {
        let owning = owners(subject, &members, factor);
        match owning.contains(&me.as_str()) {
            true => Vec::new(),
            false => owning.into_iter().map(String::from).collect(),
        }
    };
    moves(store, membership, peers, to, true).await
}

/// Copies every subject this node owns under `settled` to the owners it
/// gains under `target`; the claims copied.
pub async fn copy(
    store: &Arc<Store>,
    membership: &Membership,
    peers: &Peers,
    (settled, target): (Vec<String>, Vec<String>),
    factor: usize,
) -> Result<u64> {
    let me = membership.me().id.clone();
    let to = move |subject: &str| {
        let before = owners(subject, &settled, factor);
        if !before.contains(&me.as_str()) {
            return Vec::new();
        }
        let after = owners(subject, &target, factor);
        let gained = after.into_iter().filter(|id| !before.contains(id));
        gained.map(String::from).collect()
    };
    moves(store, membership, peers, to, false).await
}

/// Sends each subject to the nodes `to` names (none: it stays put), and
/// with `forget` deletes the sent ones here; the claims sent.
async fn moves(
    store: &Arc<Store>,
    membership: &Membership,
    peers: &Peers,
    to: impl Fn(&str) -> Vec<String> + Clone + Send + 'static,
    forget: bool,
) -> Result<u64> {
    let mut from = String::new();
    let mut moved = 0;
    loop {
        let (s, pick) = (store.clone(), to.clone());
        let (chunk, next) = crate::runtime::blocking::run(move || {
            s.misplaced(&from, CLAIMS_PER_STEP, |subject| !pick(subject).is_empty())
        })
        .await
        .map_err(|e| Error::internal(format!("moving claims: {e}")))??;
        if !chunk.is_empty() {
            moved += send(store, membership, peers, &to, chunk, forget).await?;
        }
        match next {
            Some(n) => from = n,
            None => return Ok(moved),
        }
    }
}

/// Sends one chunk where `to` says, then (with `forget`) deletes it here.
async fn send(
    store: &Arc<Store>,
    membership: &Membership,
    peers: &Peers,
    to: &impl Fn(&str) -> Vec<String>,
    chunk: BTreeMap<String, Vec<Write>>,
    forget: bool,
) -> Result<u64> {
    let mut by_node: BTreeMap<String, Vec<Write>> = BTreeMap::new();
    for (subject, writes) in &chunk {
        for node in to(subject) {
            by_node
                .entry(node)
                .or_default()
                .extend(writes.iter().cloned());
        }
    }
    for (node, writes) in by_node {
        let member = membership
            .find(&node)
            .filter(|m| m.status.is_alive())
            .ok_or_else(|| Error::internal(format!("owner {node} is not alive")))?;
        peers.replicate(&member.identity.rpc, &writes).await?;
    }
    let claims = chunk
        .values()
        .flatten()
        .filter(|w| matches!(w, Write::Assertion(_)))
        .count() as u64;
    if forget {
        let subjects: Vec<String> = chunk.keys().cloned().collect();
        let writes: Vec<Write> = chunk.into_values().flatten().collect();
        let s = store.clone();
        crate::runtime::blocking::run(move || s.forget(&subjects, &writes))
            .await
            .map_err(|e| Error::internal(format!("moving claims: {e}")))??;
    }
    Ok(claims)
}
