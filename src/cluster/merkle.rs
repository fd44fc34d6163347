//! The Merkle trees of anti-entropy (docs/cluster.md): one per owner set this
//! node belongs to, over the claims and retractions placed on that set,
//! so two nodes compare only what both should hold. A tree has a fixed
//! shape — [`LEAVES`] leaves chosen by the first bits of the claim id,
//! [`FANOUT`] children per inner node — so two trees compare level by
//! level without agreeing on anything first. A leaf is the XOR of its
//! records' BLAKE3 digests: a write lands in O(1), with no rescan; inner
//! nodes are BLAKE3 of their children, computed when asked (microseconds).

use crate::model::Id;

/// Children per inner node.
pub const FANOUT: usize = 16;
/// Levels below the root; the last holds the leaves.
pub const DEPTH: u32 = 3;
/// `FANOUT ^ DEPTH` leaves.
pub const LEAVES: usize = FANOUT * FANOUT * FANOUT;

pub type Hash = [u8; 32];

#[derive(Clone)]
pub struct Tree {
    leaves: Vec<Hash>,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree {
            leaves: vec![[0; 32]; LEAVES],
        }
    }
}

/// The leaf a claim (and its retraction) falls in: the id's first 12 bits.
pub fn leaf_of(claim: &Id) -> usize {
    ((claim.0[0] as usize) << 4) | (claim.0[1] >> 4) as usize
}

/// The claim ids of leaf `leaf`: from (inclusive) and to (exclusive; `None`
/// for the last leaf), as key bounds.
pub fn leaf_bounds(leaf: usize) -> (Vec<u8>, Option<Vec<u8>>) {
    let bound = |l: usize| vec![(l >> 4) as u8, ((l & 0xF) << 4) as u8];
    let to = (leaf + 1 < LEAVES).then(|| bound(leaf + 1));
    (bound(leaf), to)
}

impl Tree {
    /// Adds one record (never the same one twice: see `storage::landed`).
    pub fn add(&mut self, claim: &Id, digest: &Hash) {
        let leaf = &mut self.leaves[leaf_of(claim)];
        for (l, d) in leaf.iter_mut().zip(digest) {
            *l ^= d;
        }
    }

    /// Adds every record of `other` (a disjoint set).
    pub fn merge(&mut self, other: &Tree) {
        for (leaf, theirs) in self.leaves.iter_mut().zip(&other.leaves) {
            for (l, t) in leaf.iter_mut().zip(theirs) {
                *l ^= t;
            }
        }
    }

    /// Every hash at `depth` (0: the root; [`DEPTH`]: the leaves).
    pub fn level(&self, depth: u32) -> Vec<Hash> {
        let mut level = self.leaves.clone();
        for _ in depth..DEPTH {
            level = level
                .chunks(FANOUT)
                .map(|children| {
                    let mut h = blake3::Hasher::new();
                    for c in children {
                        h.update(c);
                    }
                    *h.finalize().as_bytes()
                })
                .collect();
        }
        level
    }

    #[cfg(test)]
    pub fn root(&self) -> Hash {
        self.level(0)[0]
    }
}

/// The nodes at `depth` where `mine` and `theirs` (the same level of two
/// trees) differ.
pub fn differing(mine: &[Hash], theirs: &[Hash]) -> Vec<u32> {
    (0..mine.len().max(theirs.len()))
        .filter(|&i| mine.get(i) != theirs.get(i))
        .map(|i| i as u32)
        .collect()
}

/// The children, one level down, of `nodes`.
pub fn children(nodes: &[u32]) -> Vec<u32> {
    nodes
        .iter()
        .flat_map(|&n| (0..FANOUT as u32).map(move |c| n * FANOUT as u32 + c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u32) -> Id {
        Id::of(&i.to_le_bytes())
    }

    #[test]
    fn equal_sets_have_equal_roots_and_a_difference_leads_to_its_leaf() {
        let (mut a, mut b) = (Tree::default(), Tree::default());
        for i in 0..10_000 {
            a.add(&id(i), &id(i).0);
        }
        // Same records, other order.
        for i in (0..10_000).rev() {
            b.add(&id(i), &id(i).0);
        }
        assert_eq!(a.root(), b.root());
        assert_ne!(a.root(), Tree::default().root());

        b.add(&id(77_777), &id(77_777).0);
        assert_ne!(a.root(), b.root());
        // Walking down the differing nodes finds exactly the one leaf.
        let mut nodes = vec![0];
        for depth in 1..=DEPTH {
            let wanted = children(&nodes);
            let (la, lb) = (a.level(depth), b.level(depth));
            let pick = |l: &[Hash]| wanted.iter().map(|&i| l[i as usize]).collect::<Vec<_>>();
            nodes = differing(&pick(&la), &pick(&lb))
                .into_iter()
                .map(|i| wanted[i as usize])
                .collect();
            assert_eq!(nodes.len(), 1, "depth {depth}");
        }
        assert_eq!(nodes[0] as usize, leaf_of(&id(77_777)));
        // The leaf's key bounds hold the claim.
        let (from, to) = leaf_bounds(nodes[0] as usize);
        let key = id(77_777).0;
        assert!(key.as_slice() >= from.as_slice());
        assert!(to.is_none_or(|to| key.as_slice() < to.as_slice()));
    }
}
