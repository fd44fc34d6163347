//! The cluster as the planner sees it: somewhere to send writes
//! ([`Replicas::replicate`]) and other nodes to read from
//! ([`Replicas::scan`]). Implemented by `cluster::Replicator`; a single
//! node has none, and every table reads its own store.

use std::collections::HashSet;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::BoxStream;

use crate::cluster::placement::owners;
use crate::error::Result;
use crate::lens::Lens;
use crate::model::{Id, Micros};
use crate::storage::Write;

#[async_trait]
pub trait Replicas: Send + Sync {
    /// Stores stamped writes on the owners of their subjects; returns once
    /// each is durable on two nodes. Writes to one owner go in one atomic
    /// batch there.
    async fn replicate(&self, writes: Vec<Write>) -> Result<()>;

    /// Which of `ids` (claims not stored on this node) some member stores.
    async fn locate(&self, ids: Vec<Id>) -> Result<HashSet<Id>>;

    /// Who reads which subject, as of now ([`Readers`]).
    fn readers(&self) -> Readers;

    /// Runs `request` on `node` (a live member other than this one).
    async fn scan(
        &self,
        node: &str,
        request: ScanRequest,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>>;
}

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
        let owning = owners(subject, &self.members, self.factor);
        if owning.contains(&self.coordinator.as_str()) {
            return Some(&self.coordinator);
        }
        owning
            .into_iter()
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
        if self.readers.reader_of(subject) != Some(absent) {
            return false;
        }
        let mut without = self.readers.clone();
        without.alive.retain(|a| a != absent);
        without.reader_of(subject) == Some(&self.node)
    }
}

/// A scan of one table that a node runs for a coordinator, over the
/// subjects it reads ([`Readers`]).
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub table: String,
    /// Column indexes of the table to return (`None`: all).
    pub projection: Option<Vec<usize>>,
    /// Filters pushed to the scan, as SQL.
    pub filters: Vec<String>,
    /// The session's lens (`beliefs` resolves with it).
    pub lens: Lens,
    pub as_of: Option<Micros>,
    pub readers: Readers,
    /// Read the subjects of this node instead (it did not answer).
    pub instead_of: Option<String>,
}
