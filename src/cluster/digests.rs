//! This node's Merkle trees ([`super::merkle`]), one per owner set it
//! belongs to, kept up to date by the writer ([`crate::storage::Landed`]).
//! Built once the node has settled its layout, and again whenever the
//! members reads place over change: from a snapshot of the store, while
//! later writes are reported.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use super::merkle::{Hash, Tree};
use super::placement::owners;
use crate::error::Result;
use crate::storage::{Landed, Store};

/// The sorted node ids of an owner set.
pub type Owners = Vec<String>;

/// The trees in use, replaced when the layout changes.
#[derive(Default)]
pub struct Current(RwLock<Option<Arc<Digests>>>);

impl Current {
    pub fn get(&self) -> Option<Arc<Digests>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, digests: Arc<Digests>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(digests);
    }
}

pub struct Digests {
    me: String,
    /// The layout epoch these trees were built for.
    epoch: u64,
    members: Vec<String>,
    factor: usize,
    trees: Mutex<BTreeMap<Owners, Tree>>,
}

impl Digests {
    /// Builds the trees of `store` over `members` and keeps them current.
    pub fn build(
        store: &Store,
        (epoch, members): (u64, Vec<String>),
        factor: usize,
    ) -> Result<Arc<Digests>> {
        let digests = Arc::new(Digests {
            me: store.node_id().to_string(),
            epoch,
            members,
            factor,
            trees: Mutex::new(BTreeMap::new()),
        });
        let sink = digests.clone();
        let mut trees = BTreeMap::new();
        store.listen_landed(Arc::new(move |landed| sink.add_all(landed)), |l| {
            digests.add_to(&mut trees, &l)
        })?;
        // Writes reported while the snapshot was read went straight into
        // the (then empty) map: merge, XOR is order-free.
        let mut current = digests.trees.lock().unwrap_or_else(|e| e.into_inner());
        for (owners, tree) in trees {
            current.entry(owners).or_default().merge(&tree);
        }
        drop(current);
        Ok(digests)
    }

    pub fn members(&self) -> &[String] {
        &self.members
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The owner set of `subject`, if this node is in it.
    pub fn owners_of(&self, subject: &str) -> Option<Owners> {
        let mut set = owners(subject, &self.members, self.factor);
        if !set.contains(&self.me.as_str()) {
            return None;
        }
        set.sort_unstable();
        Some(set.into_iter().map(String::from).collect())
    }

    fn add_to(&self, trees: &mut BTreeMap<Owners, Tree>, l: &Landed) {
        if let Some(set) = self.owners_of(&l.subject) {
            trees.entry(set).or_default().add(&l.claim, &l.item);
        }
    }

    fn add_all(&self, landed: &[Landed]) {
        let mut trees = self.trees.lock().unwrap_or_else(|e| e.into_inner());
        for l in landed {
            self.add_to(&mut trees, l);
        }
    }

    /// The owner sets this node shares with `peer`: what the two compare.
    pub fn shared_with(&self, peer: &str) -> Vec<Owners> {
        let others: Vec<&String> = self
            .members
            .iter()
            .filter(|m| **m != self.me && *m != peer)
            .collect();
        let extra = self.factor.saturating_sub(2);
        let mut sets = Vec::new();
        for chosen in combinations(&others, extra) {
            let mut set: Owners = vec![self.me.clone(), peer.to_string()];
            set.extend(chosen.into_iter().cloned());
            set.sort_unstable();
            sets.push(set);
        }
        sets
    }

    /// The hashes at `depth` of the tree of `owners` (an empty tree if
    /// this node holds nothing of it).
    pub fn level(&self, owners: &Owners, depth: u32) -> Vec<Hash> {
        let trees = self.trees.lock().unwrap_or_else(|e| e.into_inner());
        match trees.get(owners) {
            Some(tree) => tree.clone(),
            None => Tree::default(),
        }
        .level(depth)
    }
}

/// Every way to choose `k` of `items`.
fn combinations<'a, T>(items: &[&'a T], k: usize) -> Vec<Vec<&'a T>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for (i, first) in items.iter().enumerate() {
        for mut rest in combinations(&items[i + 1..], k - 1) {
            rest.insert(0, *first);
            out.push(rest);
        }
    }
    out
}
