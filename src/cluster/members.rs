//! Who is in the cluster, as this node's SWIM instance last saw it: the
//! state that `/cluster/members`, `stemedb.cluster_members`, `/ready` and
//! the write path's majority check read.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use super::layout::Layout;

/// A node as gossip carries it. `swim` is its address in SWIM (one member
/// per address); `generation` grows with each start, so a restarted node
/// replaces its old self. A seed not yet heard from is known only by its
/// address (empty id, generation 0).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NodeIdentity {
    pub id: String,
    pub sql: String,
    pub rpc: String,
    pub swim: SocketAddr,
    pub generation: u64,
}

impl NodeIdentity {
    /// A seed, before it answers.
    pub fn seed(swim: SocketAddr) -> NodeIdentity {
        NodeIdentity {
            id: String::new(),
            sql: String::new(),
            rpc: String::new(),
            swim,
            generation: 0,
        }
    }

    pub fn is_seed_placeholder(&self) -> bool {
        self.generation == 0
    }
}

impl foca::Identity for NodeIdentity {
    type Addr = SocketAddr;

    /// Declared down while alive (a pause, a partition): rejoin at once
    /// with a newer generation.
    fn renew(&self) -> Option<Self> {
        Some(NodeIdentity {
            generation: self.generation + 1,
            ..self.clone()
        })
    }

    fn addr(&self) -> SocketAddr {
        self.swim
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

/// A member's state as docs/cluster.md names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Up,
    Suspect,
    Down,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Suspect => "SUSPECT",
            Status::Down => "DOWN",
        }
    }

    /// Suspect members count as alive until declared down (SWIM).
    pub fn is_alive(self) -> bool {
        self != Status::Down
    }
}

/// One row of the member list.
#[derive(Clone, Debug)]
pub struct Member {
    pub identity: NodeIdentity,
    pub status: Status,
    pub is_self: bool,
}

/// The member list, shared by the gossip task (which writes it) and
/// everything that reads it.
pub struct Membership {
    me: NodeIdentity,
    /// Members the configuration names (this node and its seeds): the
    /// cluster is at least this big even before they answer, so a node
    /// that hears nobody never thinks it has a majority.
    configured: usize,
    others: RwLock<Vec<Member>>,
    /// Ids of every member this node has known (kept across restarts):
    /// placement is computed over them, alive or not.
    known: RwLock<BTreeSet<String>>,
    /// The last anti-entropy exchange with each peer ([`SyncState`]).
    syncs: RwLock<BTreeMap<String, SyncState>>,
    /// The member set placement uses, once settled ([`super::layout`]).
    layout: RwLock<Option<Layout>>,
    /// Held (shared) by each write for its whole duration, and
    /// (exclusively) to adopt a new layout: a layout is adopted only once
    /// the writes placed under the old one are stored.
    gate: tokio::sync::RwLock<()>,
}

/// What anti-entropy last found with a peer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncState {
    pub in_sync: bool,
    /// Wall clock, µs since the epoch.
    pub at: i64,
    /// Records moved with this peer since start.
    pub repaired: u64,
}

impl Membership {
    pub fn new(me: NodeIdentity, seeds: usize) -> Membership {
        Membership {
            me,
            configured: seeds + 1,
            others: RwLock::new(Vec::new()),
            known: RwLock::new(BTreeSet::new()),
            syncs: RwLock::new(BTreeMap::new()),
            layout: RwLock::new(None),
            gate: tokio::sync::RwLock::new(()),
        }
    }

    /// The layout this node holds, if it has settled one.
    pub fn layout(&self) -> Option<Layout> {
        self.layout
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the layout (the caller has made it durable).
    pub(super) fn set_layout(&self, layout: Layout) {
        *self.layout.write().unwrap_or_else(|e| e.into_inner()) = Some(layout);
    }

    /// See the `gate` field.
    pub(super) fn gate(&self) -> &tokio::sync::RwLock<()> {
        &self.gate
    }

    /// The member sets a write goes to the owners under: the layout's
    /// ([`Layout::writers`]), or, before one is settled, the members known.
    pub fn writer_ids(&self) -> Vec<Vec<String>> {
        match &*self.layout.read().unwrap_or_else(|e| e.into_inner()) {
            Some(l) => l.writers().into_iter().map(<[String]>::to_vec).collect(),
            None => vec![self.known_ids()],
        }
    }

    /// A node that is not part of a cluster: a cluster of one, itself.
    pub fn single(id: &str, sql: String) -> Membership {
        let me = NodeIdentity {
            id: id.to_string(),
            sql,
            rpc: String::new(),
            swim: SocketAddr::from(([0, 0, 0, 0], 0)),
            generation: 1,
        };
        let single = Membership::new(me, 0);
        single.set_layout(Layout::first(vec![id.to_string()]));
        single
    }

    pub fn me(&self) -> &NodeIdentity {
        &self.me
    }

    /// Replaces the other members (from the gossip task).
    pub(super) fn set_others(&self, members: Vec<Member>) {
        // One lock at a time: readers take them in another order.
        let ids = members.iter().filter(|m| !m.identity.is_seed_placeholder());
        let ids: Vec<String> = ids.map(|m| m.identity.id.clone()).collect();
        self.remember(ids);
        *self.others.write().unwrap_or_else(|e| e.into_inner()) = members;
    }

    /// Adds ids remembered from an earlier run.
    pub fn remember(&self, ids: impl IntoIterator<Item = String>) {
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        known.extend(ids);
    }

    /// The ids reads place subjects over: the layout's
    /// ([`Layout::readers`]), or, before one is settled, every member this
    /// node has known, itself included, alive or not, sorted.
    pub fn placement_ids(&self) -> Vec<String> {
        match &*self.layout.read().unwrap_or_else(|e| e.into_inner()) {
            Some(l) => l.readers().to_vec(),
            None => self.known_ids(),
        }
    }

    fn known_ids(&self) -> Vec<String> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let mut ids: BTreeSet<String> = known.clone();
        ids.insert(self.me.id.clone());
        ids.into_iter().collect()
    }

    /// Records an anti-entropy exchange with `peer`.
    pub fn record_sync(&self, peer: &str, in_sync: bool, repaired: u64) {
        let mut syncs = self.syncs.write().unwrap_or_else(|e| e.into_inner());
        let before = syncs.get(peer).map_or(0, |s| s.repaired);
        syncs.insert(
            peer.to_string(),
            SyncState {
                in_sync,
                at: crate::model::wall_clock_micros(),
                repaired: before + repaired,
            },
        );
    }

    /// The last exchange with `peer`, if any.
    pub fn last_sync(&self, peer: &str) -> Option<SyncState> {
        let syncs = self.syncs.read().unwrap_or_else(|e| e.into_inner());
        syncs.get(peer).copied()
    }

    /// Whether this node has settled its layout (until then it places
    /// subjects over the members it knows, and is not ready).
    pub fn knows_all(&self) -> bool {
        self.layout
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Whether this node knows as many members as its configuration
    /// names: then it can settle a first layout.
    pub fn knows_configured(&self) -> bool {
        self.known_ids().len() >= self.configured
    }

    /// The member with this id, if known.
    pub fn find(&self, id: &str) -> Option<Member> {
        self.members().into_iter().find(|m| m.identity.id == id)
    }

    /// Every member this node knows of, itself included, sorted by id.
    pub fn members(&self) -> Vec<Member> {
        let mut all = vec![Member {
            identity: self.me.clone(),
            status: Status::Up,
            is_self: true,
        }];
        all.extend(
            self.others
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        all.sort_by(|a, b| a.identity.id.cmp(&b.identity.id));
        all
    }

    /// Whether this node sees more than half of the cluster alive.
    /// (Checked on every write: counts under the lock, copies nothing.)
    pub fn has_majority(&self) -> bool {
        let (alive, counted) = self.quorum();
        alive * 2 > counted
    }

    /// The members this node counts alive and the number the majority is
    /// taken of: the current layout's members (before and after a change)
    /// once there is one, else every member known (at least itself and its
    /// seeds). `stemedb_quorum{state}` exports both, so an alert sees what
    /// the node sees.
    pub fn quorum(&self) -> (usize, usize) {
        if let Some(layout) = &*self.layout.read().unwrap_or_else(|e| e.into_inner()) {
            return self.alive_of(&layout.all());
        }
        let known = self.known.read().unwrap_or_else(|e| e.into_inner()).len();
        let others = self.others.read().unwrap_or_else(|e| e.into_inner());
        let alive = 1 + others.iter().filter(|m| m.status.is_alive()).count();
        (alive, (1 + others.len()).max(self.configured).max(known))
    }

    /// How many of `ids` are alive (this node is), and how many there are.
    fn alive_of(&self, ids: &[String]) -> (usize, usize) {
        let others = self.others.read().unwrap_or_else(|e| e.into_inner());
        let alive = ids
            .iter()
            .filter(|id| {
                **id == self.me.id
                    || others
                        .iter()
                        .any(|m| m.identity.id == **id && m.status.is_alive())
            })
            .count();
        (alive, ids.len())
    }

    /// The ids of the members this node sees alive.
    pub fn alive_ids(&self) -> Vec<String> {
        self.members()
            .into_iter()
            .filter(|m| m.status.is_alive())
            .map(|m| m.identity.id)
            .collect()
    }

    /// `{"members":[{"id":"node1","status":"UP"},…]}` (docs/cluster.md).
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }

    /// `{"members": [{"id", "status"}…]}`.
    pub fn to_json_value(&self) -> serde_json::Value {
        let members: Vec<serde_json::Value> = self
            .members()
            .iter()
            .map(|m| serde_json::json!({"id": m.identity.id, "status": m.status.as_str()}))
            .collect();
        serde_json::json!({ "members": members })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, n: u8) -> NodeIdentity {
        NodeIdentity {
            id: id.into(),
            sql: String::new(),
            rpc: String::new(),
            swim: SocketAddr::from(([127, 0, 0, n], 18183)),
            generation: 1,
        }
    }

    #[test]
    fn a_majority_counts_the_configured_members_before_they_answer() {
        let m = Membership::new(node("node1", 1), 2);
        assert!(!m.has_majority(), "alone, of three configured");
        let other = |id, n, status| Member {
            identity: node(id, n),
            status,
            is_self: false,
        };
        m.set_others(vec![other("node2", 2, Status::Suspect)]);
        assert!(m.has_majority(), "two of three (suspect counts as alive)");
        m.set_others(vec![
            other("node2", 2, Status::Down),
            other("node3", 3, Status::Down),
        ]);
        assert!(!m.has_majority());
        assert_eq!(m.alive_ids(), ["node1"]);
        assert_eq!(
            m.to_json(),
            r#"{"members":[{"id":"node1","status":"UP"},{"id":"node2","status":"DOWN"},{"id":"node3","status":"DOWN"}]}"#
        );
    }
}
