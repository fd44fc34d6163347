//! The member set placement is computed over, and how it changes when a
//! node is added or removed (docs/cluster.md: only adding or removing a member
//! moves data).
//!
//! A cluster settles its first layout when every configured member is
//! known; a node that starts later adopts the layout of the members it
//! finds, so it holds nothing until an operator adds it. A change from
//! the settled set `S` to a target `T` goes through three phases, each
//! adopted by every member of `S ∪ T` before the next starts:
//!
//! | phase | reads place over | writes go to the owners under | data moves |
//! |---|---|---|---|
//! | `copying` | `S` | `S` and `T` | each node copies its subjects to their new owners |
//! | `switched` | `T` | `S` and `T` | — |
//! | `stable` | `T` (now `S`) | `T` | old owners send, then forget, what they no longer own |
//!
//! So a read always goes to nodes that hold everything of its subjects:
//! under `S` until the new owners have their copies, under `T` after; and
//! no node forgets a subject until every node reads under `T`. A member
//! adopts a newer layout only after the writes it placed under the older
//! one are stored (the replicator holds the layout for a write's whole
//! duration), so no write can slip past a copy.

use serde::{Deserialize, Serialize};

use super::wire::proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Stable,
    Copying,
    Switched,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Grows with every phase of every change; a node adopts only newer.
    pub epoch: u64,
    /// The members before the change (sorted).
    pub settled: Vec<String>,
    /// The members after it (sorted); equal to `settled` when stable.
    pub target: Vec<String>,
    pub phase: Phase,
}

impl Layout {
    /// The first layout of a cluster: `members`, stable.
    pub fn first(mut members: Vec<String>) -> Layout {
        members.sort();
        members.dedup();
        Layout {
            epoch: 1,
            target: members.clone(),
            settled: members,
            phase: Phase::Stable,
        }
    }

    /// The members reads and anti-entropy place subjects over.
    pub fn readers(&self) -> &[String] {
        use crate::runtime::planted::{Bug, planted};
        match self.phase {
            // The planted bug: reads switch before the copy is done.
            Phase::Copying if planted(Bug::ReadsSwitchEarly) => &self.target,
            Phase::Copying => &self.settled,
            Phase::Switched | Phase::Stable => &self.target,
        }
    }

    /// The member sets a write goes to the owners under (one when stable).
    pub fn writers(&self) -> Vec<&[String]> {
        match self.phase {
            Phase::Stable => vec![&self.target],
            Phase::Copying | Phase::Switched => vec![&self.settled, &self.target],
        }
    }

    /// Every member of the layout, before and after the change.
    pub fn all(&self) -> Vec<String> {
        let mut all: Vec<String> = self.settled.iter().chain(&self.target).cloned().collect();
        all.sort();
        all.dedup();
        all
    }

    /// The next phase of the change to `target`, or `None` once stable.
    pub fn next(&self) -> Option<Layout> {
        let phase = match self.phase {
            Phase::Copying => Phase::Switched,
            Phase::Switched => Phase::Stable,
            Phase::Stable => return None,
        };
        let settled = match phase {
            Phase::Stable => self.target.clone(),
            _ => self.settled.clone(),
        };
        Some(Layout {
            epoch: self.epoch + 1,
            settled,
            target: self.target.clone(),
            phase,
        })
    }

    /// The start of a change from this stable layout to `target`.
    pub fn change_to(&self, mut target: Vec<String>) -> Layout {
        target.sort();
        target.dedup();
        Layout {
            epoch: self.epoch + 1,
            settled: self.target.clone(),
            target,
            phase: Phase::Copying,
        }
    }

    pub fn to_proto(&self) -> proto::Layout {
        proto::Layout {
            epoch: self.epoch,
            settled: self.settled.clone(),
            target: self.target.clone(),
            phase: match self.phase {
                Phase::Stable => 0,
                Phase::Copying => 1,
                Phase::Switched => 2,
            },
        }
    }

    /// `None` for a node that has no layout yet (epoch 0).
    pub fn from_proto(p: proto::Layout) -> Option<Layout> {
        let phase = match p.phase {
            0 => Phase::Stable,
            1 => Phase::Copying,
            2 => Phase::Switched,
            _ => return None,
        };
        (p.epoch > 0).then_some(Layout {
            epoch: p.epoch,
            settled: p.settled,
            target: p.target,
            phase,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_change_reads_old_owners_until_the_copy_and_writes_both_until_stable() {
        let three = Layout::first(ids(&["node3", "node1", "node2"]));
        assert_eq!(three.readers(), ids(&["node1", "node2", "node3"]));
        let copying = three.change_to(ids(&["node1", "node2", "node3", "node4"]));
        assert_eq!(copying.readers(), three.readers());
        assert_eq!(copying.writers().len(), 2);
        let switched = copying.next().unwrap();
        assert_eq!(switched.readers().len(), 4);
        assert_eq!(switched.writers().len(), 2);
        let stable = switched.next().unwrap();
        assert_eq!((stable.phase, stable.epoch), (Phase::Stable, 4));
        assert_eq!(stable.settled, stable.target);
        assert_eq!(stable.writers(), vec![stable.readers()]);
        assert!(stable.next().is_none());
        assert_eq!(Layout::from_proto(switched.to_proto()), Some(switched));
        assert_eq!(Layout::from_proto(proto::Layout::default()), None);
    }
}
