//! Where a session's writes go: to the cluster's [`Replicas`] — on a
//! single node a cluster of one that hands them to the store's group-commit
//! writer; in a cluster the accepting node stamps them (its HLC, its node
//! id) and stores each on the owners of its subject (docs/cluster.md),
//! returning only when two nodes hold it durably. Every write path of the
//! planner — INSERT, INSERT … SELECT, COPY, retractions, COMMIT — goes
//! through here, so routing lives in one place.

use std::sync::Arc;

use crate::cluster::Replicas;
use crate::error::{Error, Result};
use crate::model::Id;
use crate::storage::{Store, Unsettled, Write};

/// At most this many ids are checked on the caller's thread
/// ([`WritePath::unknown`]).
const INLINE_IDS: usize = 16;

/// A session's way to make writes durable.
#[derive(Clone)]
pub struct WritePath {
    store: Arc<Store>,
    replicas: Arc<dyn Replicas>,
}

impl WritePath {
    pub fn new(store: Arc<Store>, replicas: Arc<dyn Replicas>) -> WritePath {
        WritePath { store, replicas }
    }

    /// Stamps writes now (timestamps reserved from the clock), for a
    /// transaction block that commits them later.
    pub fn stamp(&self, writes: Vec<Write>) -> Vec<Write> {
        self.store.stamp_reserved(writes)
    }

    /// Writes atomically (per owner, in a cluster) and durably; returns the
    /// writes as stamped.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<Vec<Write>> {
        // Unsettled until stored where readers find them: the change feed
        // does not pass them before (docs/changes.md).
        let _unsettled = self.store.unsettled();
        self.replicas.commit(writes).await
    }

    /// Holds the change feed's frontier below writes stamped from now on
    /// until the guard drops (a transaction block's, until it ends).
    pub fn unsettled(&self) -> Unsettled {
        self.store.unsettled()
    }

    /// Makes a staged COPY durable and visible (on a single node all at
    /// once for readers; in a cluster chunk by chunk to the owners).
    pub async fn apply_staged(&self, copy: u64, rows: usize) -> Result<()> {
        let _unsettled = self.store.unsettled();
        self.replicas.apply_staged(copy, rows).await
    }

    /// Which of `ids` are stored nowhere (on this node, nor, in a
    /// cluster, on any member it can reach). A few ids — a retraction's
    /// one — are looked up on the caller's thread, as a point query reads
    /// (a bloom-filtered get each): handing them to a blocking thread and
    /// back cost two thread wake-ups, more than the gets.
    pub async fn unknown(&self, ids: Vec<Id>) -> Result<Vec<Id>> {
        let inline = ids.len() <= INLINE_IDS;
        let store = self.store.clone();
        let check = move || {
            let mut missing = Vec::new();
            for id in ids {
                if !store.contains(&id)? {
                    missing.push(id);
                }
            }
            Ok::<_, Error>(missing)
        };
        let missing = if inline {
            check()?
        } else {
            tokio::task::spawn_blocking(check)
                .await
                .map_err(|e| Error::internal(format!("checking ids: {e}")))??
        };
        if missing.is_empty() {
            return Ok(missing);
        }
        let found = self.replicas.locate(missing.clone()).await?;
        Ok(missing
            .into_iter()
            .filter(|id| !found.contains(id))
            .collect())
    }
}
