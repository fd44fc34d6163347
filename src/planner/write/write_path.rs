//! Where a session's writes go. On a single node, to the store's
//! group-commit writer. In a cluster, the accepting node stamps them (its
//! HLC, its node id) and hands them to [`Replicas`], which stores each on
//! the owners of its subject (docs/cluster.md) and returns only when two nodes
//! hold it durably. Every write path of the planner — INSERT, INSERT …
//! SELECT, COPY, retractions, COMMIT — goes through here, so routing lives
//! in one place.

use std::sync::Arc;

use crate::cluster::Replicas;
use crate::error::{Error, Result};
use crate::model::Id;
use crate::storage::{Store, Write};

/// At most this many ids are checked on the caller's thread
/// ([`WritePath::unknown`]).
const INLINE_IDS: usize = 16;

/// A session's way to make writes durable.
#[derive(Clone)]
pub struct WritePath {
    store: Arc<Store>,
    replicas: Option<Arc<dyn Replicas>>,
}

impl WritePath {
    pub fn new(store: Arc<Store>, replicas: Option<Arc<dyn Replicas>>) -> WritePath {
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
        match &self.replicas {
            None => self.store.commit(writes).await,
            Some(replicas) => {
                let stamped = self.stamp(writes);
                replicas.replicate(stamped.clone()).await?;
                Ok(stamped)
            }
        }
    }

    /// Makes a staged COPY durable and visible. On a single node it is
    /// applied here, all at once for readers; in a cluster its chunks go to
    /// their owners one after the other (readers elsewhere may see the
    /// first chunks before the last: documented in docs/cluster.md).
    pub async fn apply_staged(&self, copy: u64, rows: usize) -> Result<()> {
        let Some(replicas) = &self.replicas else {
            return self.store.apply_staged(copy, rows).await;
        };
        let result = async {
            let n = u32::try_from(rows)
                .map_err(|_| Error::internal(format!("a COPY of {rows} rows is too large")))?;
            let first = self.store.clock().reserve(n);
            let mut from = 0;
            loop {
                let (chunk, next) = self.store.staged_chunk(copy, from, first).await?;
                if chunk.is_empty() {
                    return Ok(());
                }
                replicas.replicate(chunk).await?;
                from = next;
            }
        }
        .await;
        self.store.discard_staged(copy)?;
        result
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
        match &self.replicas {
            Some(replicas) if !missing.is_empty() => {
                let found = replicas.locate(missing.clone()).await?;
                Ok(missing
                    .into_iter()
                    .filter(|id| !found.contains(id))
                    .collect())
            }
            _ => Ok(missing),
        }
    }
}
