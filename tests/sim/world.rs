//! What the simulated hosts and the driver share: the run's directory, its
//! random numbers, the phase of the schedule, each node's handles and the
//! history of what clients asked for and what was acknowledged. The whole
//! simulation runs on one thread, so plain `Rc`/`RefCell` suffice.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use stemedb::cluster::Membership;
use stemedb::model::Id;
use stemedb::storage::Store;

/// A small seeded generator (SplitMix64): every random choice of a run
/// comes from the seed through one of these.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Clients write while faults happen.
    Faults,
    /// Everything healed: no new writes; nodes repair and compare.
    Settle,
}

/// What a client asked for.
#[derive(Debug, Clone)]
pub enum Op {
    Claim { subject: String, object: String },
    Retract { id: Id },
}

/// What became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still running when its node crashed, or never answered: it may or
    /// may not have been stored.
    Unknown,
    /// Acknowledged: a claim with its id, or a retraction.
    Acked(Option<Id>),
    /// Refused: it may still have been stored in part (a write refused
    /// for quorum may have reached one owner), so it counts as unknown for
    /// presence but never as acknowledged.
    Refused,
}

/// An operator's change of members, run by node `by` until it succeeds
/// (an interrupted change is finished by running it again).
#[derive(Debug, Clone)]
pub struct Change {
    pub by: usize,
    pub add: Option<String>,
    pub remove: Option<String>,
}

/// One node's running handles, while its software runs.
#[derive(Default)]
pub struct Slot {
    pub store: Option<std::sync::Weak<Store>>,
    pub membership: Option<std::sync::Weak<Membership>>,
    /// Its last anti-entropy round found every peer in sync.
    pub in_sync: bool,
    /// Starts so far (its software is restarted after a crash).
    pub starts: u32,
}

pub struct World {
    pub seed: u64,
    pub dir: PathBuf,
    pub phase: Cell<Phase>,
    /// Node names, `node1`…; the last may join during the run.
    pub names: Vec<String>,
    /// How many nodes form the cluster at boot.
    pub initial: usize,
    pub slots: RefCell<Vec<Slot>>,
    /// A disk was wiped this run (from then on fewer copies are expected).
    pub wiped: Cell<bool>,
    /// Wipe the node's disk at its next start.
    pub wipe: RefCell<Vec<bool>>,
    /// Each node's clock skew, microseconds.
    pub skew: RefCell<Vec<i64>>,
    /// Whether each node's software may start (a node that joins later
    /// waits, powered off, until the operator starts it).
    pub powered: RefCell<Vec<bool>>,
    /// Changes of members not finished yet, in order.
    pub changes: RefCell<Vec<Change>>,
    /// Every client operation, by number.
    pub history: RefCell<BTreeMap<u64, (Op, Outcome)>>,
    next_op: Cell<u64>,
    /// What clients' reads found wrong ([`crate::reads`]).
    pub read_problems: RefCell<Vec<String>>,
}

impl World {
    pub fn new(seed: u64, dir: PathBuf, nodes: usize, initial: usize) -> Rc<World> {
        Rc::new(World {
            seed,
            dir,
            phase: Cell::new(Phase::Faults),
            names: (1..=nodes).map(|i| format!("node{i}")).collect(),
            initial,
            slots: RefCell::new((0..nodes).map(|_| Slot::default()).collect()),
            wiped: Cell::new(false),
            wipe: RefCell::new(vec![false; nodes]),
            skew: RefCell::new(vec![0; nodes]),
            powered: RefCell::new((0..nodes).map(|i| i < initial).collect()),
            changes: RefCell::default(),
            history: RefCell::default(),
            next_op: Cell::new(0),
            read_problems: RefCell::default(),
        })
    }

    /// Records a client's request; its number.
    pub fn begin(&self, op: Op) -> u64 {
        let n = self.next_op.get();
        self.next_op.set(n + 1);
        self.history.borrow_mut().insert(n, (op, Outcome::Unknown));
        n
    }

    pub fn end(&self, n: u64, outcome: Outcome) {
        if let Some(entry) = self.history.borrow_mut().get_mut(&n) {
            entry.1 = outcome;
        }
    }

    /// A claim acknowledged so far, picked by `rng` (to retract).
    pub fn acked_claim(&self, rng: &mut Rng) -> Option<Id> {
        let history = self.history.borrow();
        let acked: Vec<Id> = history
            .values()
            .filter_map(|(op, outcome)| match (op, outcome) {
                (Op::Claim { .. }, Outcome::Acked(Some(id))) => Some(*id),
                _ => None,
            })
            .collect();
        (!acked.is_empty()).then(|| acked[rng.below(acked.len() as u64) as usize])
    }

    /// The first unfinished change, if node `i` is to run it.
    pub fn change_for(&self, i: usize) -> Option<Change> {
        self.changes.borrow().first().filter(|c| c.by == i).cloned()
    }

    pub fn store(&self, i: usize) -> Option<Arc<Store>> {
        self.slots.borrow()[i].store.as_ref()?.upgrade()
    }

    pub fn membership(&self, i: usize) -> Option<Arc<Membership>> {
        self.slots.borrow()[i].membership.as_ref()?.upgrade()
    }
}
