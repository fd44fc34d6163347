//! A node that is the whole database (`[cluster] enabled = false`) as a
//! cluster of one: the same [`Replicas`] the planner uses in a cluster, so
//! the SQL layer has one code path and never asks whether it is clustered.
//! Writes go to this node's group-commit writer (stamped there, in commit
//! order); a staged COPY is applied here all at once; every subject is read
//! here, so no scan or point lookup is ever sent elsewhere.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::BoxStream;

use tokio::sync::watch;

use super::frontier::{self, Resolved};
use super::readers::{PointRequest, Readers, ScanRequest};
use super::replicas::Replicas;
use crate::error::{Error, Result, sqlstate};
use crate::model::{Hlc, Id};
use crate::storage::{Store, Write};

/// This node's store as a cluster of one member.
pub struct Solo {
    store: Arc<Store>,
    resolved: watch::Receiver<Resolved>,
}

impl Solo {
    /// A cluster of one; its listeners are told of new changes by a task
    /// of the runtime it is made in (none outside one).
    pub fn new(store: Arc<Store>) -> Solo {
        let (tx, resolved) = watch::channel(Resolved::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(frontier::run_alone(store.clone(), tx));
        }
        Solo { store, resolved }
    }

    fn elsewhere(&self, node: &str) -> Error {
        Error::internal(format!(
            "a single node reads nothing from {node}: it is the only member"
        ))
    }
}

#[async_trait]
impl Replicas for Solo {
    fn alone(&self) -> bool {
        true
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<Vec<Write>> {
        self.store.commit(writes).await
    }

    async fn apply_staged(&self, copy: u64, rows: usize) -> Result<()> {
        self.store.apply_staged(copy, rows).await
    }

    async fn locate(&self, _ids: Vec<Id>) -> Result<HashSet<Id>> {
        Ok(HashSet::new())
    }

    fn readers(&self) -> Readers {
        let me = self.store.node_id().to_string();
        Readers {
            coordinator: me.clone(),
            members: vec![me.clone()],
            alive: vec![me],
            factor: 1,
        }
    }

    async fn scan(
        &self,
        node: &str,
        _request: ScanRequest,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        Err(self.elsewhere(node))
    }

    async fn point(&self, node: &str, _request: PointRequest) -> Result<RecordBatch> {
        Err(self.elsewhere(node))
    }

    fn frontier(&self) -> Option<Hlc> {
        Some(frontier::alone(&self.store))
    }

    fn resolved(&self) -> watch::Receiver<Resolved> {
        self.resolved.clone()
    }

    async fn sync(&self) -> Result<String> {
        Ok("single node: no replicas to compare".to_string())
    }

    async fn publish_catalog(&self, entries: Vec<crate::storage::CatalogEntry>) -> Result<()> {
        self.store.catalog_put(&entries).map(drop)
    }

    async fn change_members(
        &self,
        _add: Option<String>,
        _remove: Option<String>,
    ) -> Result<String> {
        Err(Error::new(
            sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
            "this node is not part of a cluster ([cluster] enabled = false): there are no \
             members to change",
        ))
    }
}
