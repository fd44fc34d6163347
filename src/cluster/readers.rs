//! Who reads which subject for one statement ([`Readers`], [`Share`]),
//! and the reads one node runs for another: a scan of a table over the
//! subjects it reads ([`ScanRequest`]) and a point lookup of subjects it
//! owns ([`PointRequest`]). These travel on the wire
//! ([`super::scan_wire`]); the SQL layer answers them through
//! [`super::ReadService`].

use super::placement::owners;
use crate::lens::Lens;
use crate::model::Micros;
use crate::storage::ScanRange;

/// Which node reads each subject for one statement, so a scan split over
/// the cluster sees every subject exactly once: the coordinator (the node
/// the client is on) when it owns the subject, else the subject's first
/// live owner. Every node computes the same answer from the same lists,
/// which travel with each remote scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Readers {
    pub coordinator: String,
    /// Every member, alive or not (placement's input).
    pub members: Vec<String>,
    pub alive: Vec<String>,
    pub factor: usize,
}

impl Readers {
    /// The node that reads `subject`; `None` when all its owners are down.
    pub fn reader_of(&self, subject: &str) -> Option<&str> {
        self.reader_without(subject, None)
    }

    /// The reader of `subject` if `absent` were not alive.
    fn reader_without(&self, subject: &str, absent: Option<&str>) -> Option<&str> {
        let owning = owners(subject, &self.members, self.factor);
        if owning.contains(&self.coordinator.as_str()) {
            return Some(&self.coordinator);
        }
        owning
            .into_iter()
            .filter(|o| Some(*o) != absent)
            .find(|o| self.alive.iter().any(|a| a == o))
    }
}

/// The subjects one node reads for one scan: those [`Readers`] gives it,
/// or — standing in for `instead_of`, a node that did not answer — those
/// `instead_of` would have read and this node reads without it.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub readers: Readers,
    pub node: String,
    pub instead_of: Option<String>,
}

impl Share {
    pub fn holds(&self, subject: &str) -> bool {
        let Some(absent) = &self.instead_of else {
            return self.readers.reader_of(subject) == Some(&self.node);
        };
        self.readers.reader_of(subject) == Some(absent)
            && self.readers.reader_without(subject, Some(absent)) == Some(&self.node)
    }
}

/// A scan of one table that a node runs for a coordinator, over the
/// subjects it reads ([`Readers`]).
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub table: String,
    /// Column indexes of the table to return (`None`: all).
    pub projection: Option<Vec<usize>>,
    /// Filters pushed to the scan, each an expression tree in
    /// datafusion-proto's encoding (never SQL text), over the bare table.
    pub filters: Vec<Vec<u8>>,
    /// The session's lens (`beliefs` resolves with it).
    pub lens: Lens,
    pub as_of: Option<Micros>,
    /// The consensus lens's decay and the time it ages from.
    pub weighing: Weighed,
    pub readers: Readers,
    /// Read the subjects of this node instead (it did not answer).
    pub instead_of: Option<String>,
}

/// A point lookup that a node runs for a coordinator, on subjects it
/// owns: the lens rows of `ranges` (each a subject or a pair).
#[derive(Debug, Clone)]
pub struct PointRequest {
    pub lens: Lens,
    /// The lens columns returned, in order.
    pub columns: Vec<usize>,
    pub ranges: Vec<ScanRange>,
    pub as_of: Option<Micros>,
    pub weighing: Weighed,
}

/// What a node reading for a coordinator needs to weigh claims as the
/// coordinator does (source trust is the cluster's, held by every node).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Weighed {
    /// `stemedb.half_life`, µs.
    pub half_life: Option<Micros>,
    /// The coordinator's read time, µs since the epoch.
    pub read_at: Micros,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subject_has_one_reader_and_one_stand_in() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let readers = Readers {
            coordinator: "n1".into(),
            members: ids(&["n1", "n2", "n3"]),
            alive: ids(&["n1", "n2", "n3"]),
            factor: 2,
        };
        let share = |node: &str, instead_of: Option<&str>| Share {
            readers: readers.clone(),
            node: node.into(),
            instead_of: instead_of.map(String::from),
        };
        let mut remote = 0;
        for i in 0..300 {
            let s = format!("s{i}");
            let holding: Vec<&str> = ["n1", "n2", "n3"]
                .into_iter()
                .filter(|n| share(n, None).holds(&s))
                .collect();
            assert_eq!(holding.len(), 1, "{s}: {holding:?}");
            let reader = holding[0];
            let owning = owners(&s, &readers.members, 2);
            assert!(owning.contains(&reader));
            if reader != "n1" {
                // The coordinator owns it when it can: it reads no remote
                // subject it owns.
                assert!(!owning.contains(&"n1"));
                remote += 1;
                // If the reader does not answer, the other owner stands in.
                let other = owning.iter().find(|o| **o != reader).unwrap();
                assert!(share(other, Some(reader)).holds(&s));
                assert!(!share(reader, Some(reader)).holds(&s));
            }
        }
        assert!(
            (60..=140).contains(&remote),
            "{remote} of 300 read remotely"
        );
    }
}
