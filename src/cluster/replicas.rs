//! The seam between the cluster and the SQL layer above it, as two
//! traits. [`Replicas`] is the cluster as the planner sees it: somewhere
//! to send writes and other nodes to read from (implemented by
//! [`super::Replicator`]). [`ReadService`] is the SQL layer as the cluster
//! sees it: what answers another node's scans and point lookups
//! (implemented by the planner's engine). Through them the cluster imports
//! nothing above storage, and the planner never reaches into the cluster's
//! internals.

use std::collections::HashSet;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::BoxStream;

use super::readers::{PointRequest, Readers, ScanRequest};
use crate::error::Result;
use tokio::sync::watch;

use super::frontier::Resolved;
use crate::model::{Hlc, Id};
use crate::storage::{CatalogEntry, Write};

#[async_trait]
pub trait Replicas: Send + Sync {
    /// Whether this node is the whole cluster: its store answers every
    /// read, so tables need not be read over the cluster.
    fn alone(&self) -> bool {
        false
    }

    /// Stamps writes and stores them on the owners of their subjects;
    /// returns the writes as stamped once each is durable (on two nodes in
    /// a cluster). Writes to one owner go in one atomic batch there.
    async fn commit(&self, writes: Vec<Write>) -> Result<Vec<Write>>;

    /// Makes the staged COPY `copy` of `rows` rows durable and visible (in
    /// a cluster, chunk by chunk to the owners: readers elsewhere may see
    /// the first chunks before the last, as docs/cluster.md says).
    async fn apply_staged(&self, copy: u64, rows: usize) -> Result<()>;

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

    /// Runs a point lookup on `node` (a live owner of its subjects).
    async fn point(&self, node: &str, request: PointRequest) -> Result<RecordBatch>;

    /// Runs an anti-entropy exchange with every live peer now; what each
    /// found, one line per peer.
    async fn sync(&self) -> Result<String>;

    /// Adds or removes a member of the cluster ([`crate::cluster::layout`]),
    /// moving the subjects whose owners change; what moved.
    async fn change_members(&self, add: Option<String>, remove: Option<String>) -> Result<String>;

    /// Stores catalog `entries` (roles) here and on every member
    /// ([`crate::cluster::catalog`]).
    async fn publish_catalog(&self, entries: Vec<CatalogEntry>) -> Result<()>;

    /// The change feed's resolved frontier as a reader on this node uses
    /// it now ([`super::frontier`]); `None` while it is not known yet.
    fn frontier(&self) -> Option<Hlc>;

    /// Follows the frontier and the newest change below it (for `LISTEN`).
    fn resolved(&self) -> watch::Receiver<Resolved>;
}

/// What answers the reads other nodes send this one: a scan of a table over
/// the subjects this node reads, and a point lookup of subjects it owns.
#[async_trait]
pub trait ReadService: Send + Sync {
    /// The rows of `request`'s table that this node reads, as a stream.
    async fn serve_scan(
        &self,
        request: ScanRequest,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>>;

    /// The lens rows of `request`'s ranges, read from this node's store.
    fn serve_point(&self, request: PointRequest) -> Result<RecordBatch>;
}
