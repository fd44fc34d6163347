//! Merkle anti-entropy (docs/cluster.md): two owners of the same subjects compare
//! the roots of their tree for that owner set; on a mismatch they walk
//! down only the differing nodes to the differing leaves, look again a
//! moment later (so writes still in flight are not taken for divergence),
//! list those leaves' records and move only the missing ones — pulled
//! with `Fetch`, pushed with `Replicate` — both stored as replicas
//! (idempotent). An in-sync check is one root each way.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::digests::{Current, Digests, Owners};
use super::layout::Phase;
use super::members::Membership;
use super::merkle::{DEPTH, Hash, children, differing, leaf_bounds};
use super::peers::Peers;
use super::resize::Layouts;
use super::wire::proto::Item;
use crate::error::{Error, Result};
use crate::model::Id;
use crate::storage::{Store, encode_write};

/// How long a difference must last to be repaired.
const RECHECK: Duration = Duration::from_millis(200);
/// Leaves listed per call.
const LEAVES_PER_CALL: usize = 128;

/// The records of `leaves` this node holds for `owners`.
pub fn items(
    store: &Store,
    digests: &Digests,
    owners: &[String],
    leaves: &[u32],
) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    for &leaf in leaves {
        let (from, to) = leaf_bounds(leaf as usize);
        store.landed_between(&from, to.as_deref(), |l| {
            if digests.owners_of(&l.subject).as_deref() == Some(owners) {
                out.push(Item {
                    claim: l.claim.0.to_vec(),
                    retraction: l.item != l.claim.0,
                    digest: l.item.to_vec(),
                });
            }
        })?;
    }
    Ok(out)
}

/// The encoded writes of `claims` and of the retractions of `retractions`
/// (claims first, so a replica stores a claim before its retraction).
pub fn records(store: &Store, claims: &[Vec<u8>], retractions: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    let wanted = claims.iter().map(|c| (c, false));
    let mut out = Vec::new();
    for (raw, retraction) in wanted.chain(retractions.iter().map(|r| (r, true))) {
        if let Some(id) = Id::from_slice(raw)
            && let Some(write) = store.record(&id, retraction)?
        {
            out.push(encode_write(&write)?);
        }
    }
    Ok(out)
}

/// What one exchange with a peer found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub in_sync: bool,
    /// Records moved, both ways.
    pub repaired: u64,
    /// Bytes of the tree comparison (not of the records moved).
    pub compared_bytes: usize,
}

pub struct AntiEntropy {
    pub store: Arc<Store>,
    pub membership: Arc<Membership>,
    pub peers: Arc<Peers>,
    pub digests: Arc<Current>,
    pub layouts: Arc<Layouts>,
}

type Key = (Vec<u8>, bool, Vec<u8>);

fn key(i: &Item) -> Key {
    (i.claim.clone(), i.retraction, i.digest.clone())
}

impl AntiEntropy {
    /// Compares and repairs every owner set this node shares with `peer`
    /// (at RPC address `addr`).
    pub async fn sync_with(&self, peer: &str, addr: &str) -> Result<Outcome> {
        // The catalog first: it does not wait for the Merkle trees.
        let catalog_in_sync = super::catalog::sync_with(&self.store, &self.peers, addr).await?;
        let digests = self
            .digests
            .get()
            .ok_or_else(|| Error::internal("this node's Merkle trees are not built yet"))?;
        let mut outcome = Outcome {
            in_sync: catalog_in_sync,
            ..Outcome::default()
        };
        for owners in digests.shared_with(peer) {
            let leaves = self
                .differing_leaves(&digests, addr, &owners, &mut outcome)
                .await?;
            if leaves.is_empty() {
                continue;
            }
            tokio::time::sleep(RECHECK).await;
            let leaves = self
                .recheck(&digests, addr, &owners, leaves, &mut outcome)
                .await?;
            if leaves.is_empty() {
                continue;
            }
            outcome.in_sync = false;
            for chunk in leaves.chunks(LEAVES_PER_CALL) {
                outcome.repaired += self.repair(&digests, addr, &owners, chunk).await?;
            }
        }
        crate::monitor::merkle_sync(outcome.repaired);
        Ok(outcome)
    }

    /// The leaves of `owners`' tree where this node and `addr` differ.
    async fn differing_leaves(
        &self,
        digests: &Digests,
        addr: &str,
        owners: &Owners,
        outcome: &mut Outcome,
    ) -> Result<Vec<u32>> {
        let mut nodes = vec![0];
        for depth in 0..=DEPTH {
            let wanted = if depth == 0 { nodes } else { children(&nodes) };
            nodes = self
                .compare(digests, addr, owners, depth, &wanted, outcome)
                .await?;
            if nodes.is_empty() {
                break;
            }
        }
        Ok(nodes)
    }

    async fn recheck(
        &self,
        digests: &Digests,
        addr: &str,
        owners: &Owners,
        leaves: Vec<u32>,
        outcome: &mut Outcome,
    ) -> Result<Vec<u32>> {
        self.compare(digests, addr, owners, DEPTH, &leaves, outcome)
            .await
    }

    /// Which of `nodes` at `depth` differ between the two trees.
    async fn compare(
        &self,
        digests: &Digests,
        addr: &str,
        owners: &Owners,
        depth: u32,
        nodes: &[u32],
        outcome: &mut Outcome,
    ) -> Result<Vec<u32>> {
        let (theirs, bytes) = self
            .peers
            .digest(addr, (digests.epoch(), owners), depth, nodes)
            .await?;
        outcome.compared_bytes += bytes;
        let level = digests.level(owners, depth);
        let mine: Vec<Hash> = nodes.iter().map(|&n| level[n as usize]).collect();
        let theirs: Vec<Hash> = theirs
            .iter()
            .map(|h| h.as_slice().try_into().unwrap_or([0xFF; 32]))
            .collect();
        Ok(differing(&mine, &theirs)
            .into_iter()
            .map(|i| nodes[i as usize])
            .collect())
    }

    /// Moves the records of `leaves` one side lacks; how many.
    async fn repair(
        &self,
        digests: &Arc<Digests>,
        addr: &str,
        owners: &Owners,
        leaves: &[u32],
    ) -> Result<u64> {
        let theirs = self.peers.items(addr, owners, leaves).await?;
        let (store, mine_of) = (self.store.clone(), digests.clone());
        let (owned, wanted) = (owners.clone(), leaves.to_vec());
        let mine = crate::runtime::blocking::run(move || items(&store, &mine_of, &owned, &wanted))
            .await
            .map_err(|e| Error::internal(format!("listing records: {e}")))??;
        let their_keys: HashSet<Key> = theirs.iter().map(key).collect();
        let my_keys: HashSet<Key> = mine.iter().map(key).collect();
        let split = |items: &[Item], other: &HashSet<Key>| {
            let mut claims = Vec::new();
            let mut retractions = Vec::new();
            for i in items.iter().filter(|i| !other.contains(&key(i))) {
                match i.retraction {
                    false => claims.push(i.claim.clone()),
                    true => retractions.push(i.claim.clone()),
                }
            }
            (claims, retractions)
        };
        let (pull_claims, pull_retractions) = split(&theirs, &my_keys);
        let (push_claims, push_retractions) = split(&mine, &their_keys);
        let mut moved = 0;
        if !pull_claims.is_empty() || !pull_retractions.is_empty() {
            let writes = self
                .peers
                .fetch(addr, pull_claims, pull_retractions)
                .await?;
            moved += writes.len() as u64;
            self.store.commit_replica(writes).await?;
        }
        if !push_claims.is_empty() || !push_retractions.is_empty() {
            let store = self.store.clone();
            let encoded = crate::runtime::blocking::run(move || {
                records(&store, &push_claims, &push_retractions)
            })
            .await
            .map_err(|e| Error::internal(format!("reading records: {e}")))??;
            moved += encoded.len() as u64;
            self.peers.replicate_encoded(addr, encoded).await?;
        }
        Ok(moved)
    }

    /// Syncs with live peers now — every one, or (`scheduled`) those whose
    /// id sorts after this node's, so each pair runs one exchange per round
    /// — per peer, the outcome or the error.
    pub async fn sync_all(&self, scheduled: bool) -> Vec<(String, Result<Outcome>)> {
        let mut out = Vec::new();
        let me = self.membership.me().id.clone();
        let members = self.membership.placement_ids();
        for m in self.membership.members() {
            if m.is_self || !m.status.is_alive() || (scheduled && m.identity.id < me) {
                continue;
            }
            if !members.contains(&m.identity.id) {
                continue;
            }
            let started = Instant::now();
            let result = self.sync_with(&m.identity.id, &m.identity.rpc).await;
            if let Ok(o) = &result {
                self.membership
                    .record_sync(&m.identity.id, o.in_sync, o.repaired);
                // The other side shows it too (it did not start the round).
                let told = self.peers.synced(&m.identity.rpc, o.in_sync, o.repaired);
                if let Err(e) = told.await {
                    tracing::debug!(peer = m.identity.id, "anti-entropy report: {}", e.message);
                }
            }
            tracing::debug!(peer = m.identity.id, elapsed = ?started.elapsed(), ?result, "anti-entropy");
            out.push((m.identity.id, result));
        }
        out
    }

    /// Runs [`AntiEntropy::sync_all`] every `interval`, and at once when a
    /// peer comes back, until `stopped`; settles the layout first (and
    /// catches up with a newer one before each round), and builds the
    /// trees for it. Nothing runs while a change of members is under way:
    /// the node driving it moves the data.
    pub async fn run(
        self: Arc<Self>,
        interval: Duration,
        factor: usize,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) {
        let tick = Duration::from_millis(500);
        let mut last = Instant::now();
        let mut alive: HashMap<String, bool> = HashMap::new();
        // Subjects this node holds but does not own (it joined with data)
        // go to their owners once per layout, when every member is up; a
        // round that failed (it reads every claim) is retried after
        // `interval`.
        let mut placed: Option<u64> = None;
        let mut tried: Option<Instant> = None;
        loop {
            // `biased`: polled in order, so the simulation replays it.
            tokio::select! {
                biased;
                _ = stopped.changed() => return,
                _ = tokio::time::sleep(tick) => {}
            }
            let Some(layout) = self.membership.layout() else {
                if let Err(e) = self.layouts.refresh().await {
                    tracing::debug!("cluster: settling the layout: {}", e.message);
                }
                continue;
            };
            if layout.phase != Phase::Stable {
                continue;
            }
            if self.digests.get().is_none_or(|d| d.epoch() != layout.epoch) {
                let store = self.store.clone();
                let members = (layout.epoch, layout.target.clone());
                match crate::runtime::blocking::run(move || Digests::build(&store, members, factor))
                    .await
                {
                    Ok(Ok(d)) => {
                        self.digests.set(d);
                        tracing::info!(epoch = layout.epoch, "cluster: Merkle trees built");
                    }
                    Ok(Err(e)) => tracing::warn!("cluster: building Merkle trees: {}", e.message),
                    Err(e) => tracing::warn!("cluster: building Merkle trees: {e}"),
                }
                continue;
            }
            let everyone_up = layout.target.iter().all(|id| {
                let m = self.membership.find(id);
                m.is_some_and(|m| m.is_self || m.status.is_alive())
            });
            if placed != Some(layout.epoch)
                && tried.is_none_or(|t| t.elapsed() >= interval)
                && everyone_up
            {
                tried = Some(Instant::now());
                match self.layouts.move_subjects(layout.epoch).await {
                    Ok(moved) => {
                        placed = Some(layout.epoch);
                        if moved > 0 {
                            tracing::info!(moved, "cluster: claims moved to their owners");
                        }
                    }
                    Err(e) => {
                        tracing::warn!("cluster: moving claims to their owners: {}", e.message)
                    }
                }
            }
            let mut returned = false;
            for m in self.membership.members() {
                let up = m.status.is_alive();
                if alive.insert(m.identity.id.clone(), up) == Some(false) && up {
                    returned = true;
                }
            }
            if returned || last.elapsed() >= interval {
                last = Instant::now();
                if let Err(e) = self.layouts.refresh().await {
                    tracing::warn!("cluster: catching up with the layout: {}", e.message);
                }
                for (peer, result) in self.sync_all(true).await {
                    if let Err(e) = result {
                        tracing::warn!(peer, "cluster: anti-entropy: {}", e.message);
                    }
                }
            }
        }
    }
}
