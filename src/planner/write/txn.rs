//! Transactions. Outside a block every statement commits on its own; inside
//! `BEGIN … COMMIT` a statement's writes are buffered in the session and go
//! to the group-commit writer as one atomic batch at `COMMIT`. `ROLLBACK`
//! (or an error, then `COMMIT`) discards them. Savepoints mark a point in
//! the buffer: `ROLLBACK TO` truncates back to it (and clears a failure).
//!
//! Every statement of a block reads the same snapshot, taken when the
//! block's first statement reads: committed data as of then, not the
//! block's own pending writes (documented in docs/sql.md).
//!
//! A block's writes are stamped when their statement runs, from timestamps
//! reserved for them ([`WritePath::stamp`]), so `RETURNING id` and a
//! later retraction in the same block name the ids that COMMIT stores.
//!
//! A block holds its writes in memory until COMMIT, so their size is
//! bounded ([`MAX_BLOCK_BYTES`], `54000`): bulk loads belong in a COPY
//! outside a block, which stages its rows on disk.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::error::{Error, Result, sqlstate};
use crate::model::Id;
use crate::planner::WritePath;
use crate::storage::{ReadPoint, Store, Unsettled, Write};

/// The most claim data one block may hold before COMMIT.
pub const MAX_BLOCK_BYTES: usize = 256 << 20;

/// `54000` once a block (or a COPY inside one) holds more than
/// [`MAX_BLOCK_BYTES`].
pub fn check_block_size(bytes: usize) -> Result<()> {
    if bytes <= MAX_BLOCK_BYTES {
        return Ok(());
    }
    Err(Error::new(
        sqlstate::PROGRAM_LIMIT_EXCEEDED,
        format!(
            "the transaction block holds more than {} MiB of writes: commit in smaller blocks, \
             or load with COPY outside a block (it stages rows on disk)",
            MAX_BLOCK_BYTES >> 20
        ),
    ))
}

/// An open `BEGIN … COMMIT` block.
#[derive(Debug, Default)]
struct Block {
    writes: Vec<Write>,
    /// Approximate bytes held by `writes`.
    bytes: usize,
    /// (name, number of writes when it was set), oldest first.
    savepoints: Vec<(String, usize)>,
    /// A statement failed; only ROLLBACK [TO] / COMMIT may follow.
    failed: bool,
    /// What every statement of the block reads, once one has read.
    read: Option<ReadPoint>,
    /// Holds the change feed's frontier below the block's stamps from its
    /// first write until it ends.
    unsettled: Option<Unsettled>,
}

/// What ending a block did.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Committed,
    RolledBack,
}

/// The transaction state of one session.
#[derive(Debug, Default)]
pub struct Transaction {
    block: Mutex<Option<Block>>,
}

impl Transaction {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Block>> {
        self.block.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn in_block(&self) -> bool {
        self.lock().is_some()
    }

    pub fn is_failed(&self) -> bool {
        self.lock().as_ref().is_some_and(|b| b.failed)
    }

    /// `BEGIN`. Returns false (a warning, as in PostgreSQL) if already open.
    pub fn begin(&self) -> bool {
        let mut b = self.lock();
        if b.is_some() {
            return false;
        }
        *b = Some(Block::default());
        true
    }

    /// Marks the open block as failed after a statement error.
    pub fn fail(&self) {
        if let Some(b) = self.lock().as_mut() {
            b.failed = true;
        }
    }

    /// `COMMIT`: writes the block's buffered writes atomically.
    pub async fn commit(&self, path: &WritePath) -> Result<Ended> {
        let block = self.lock().take();
        match block {
            Some(b) if b.failed => Ok(Ended::RolledBack),
            Some(b) => {
                // Dropped once the writes are stored (or failed).
                let _unsettled = b.unsettled;
                path.commit(b.writes).await?;
                Ok(Ended::Committed)
            }
            None => Ok(Ended::Committed),
        }
    }

    /// Whether the open block has writes to commit.
    pub fn has_writes(&self) -> bool {
        self.lock().as_ref().is_some_and(|b| !b.writes.is_empty())
    }

    /// `ROLLBACK`: discards the block.
    pub fn rollback(&self) {
        *self.lock() = None;
    }

    /// `SAVEPOINT name`.
    pub fn savepoint(&self, name: &str) -> Result<()> {
        let mut guard = self.lock();
        let b = guard.as_mut().ok_or_else(|| outside_block("SAVEPOINT"))?;
        let at = b.writes.len();
        b.savepoints.push((name.to_string(), at));
        Ok(())
    }

    /// `ROLLBACK TO SAVEPOINT name`: drops the writes made since, keeps the
    /// savepoint, and clears a failure.
    pub fn rollback_to(&self, name: &str) -> Result<()> {
        let mut guard = self.lock();
        let b = guard
            .as_mut()
            .ok_or_else(|| outside_block("ROLLBACK TO SAVEPOINT"))?;
        let i = find(b, name)?;
        let at = b.savepoints[i].1;
        b.savepoints.truncate(i + 1);
        b.writes.truncate(at);
        b.bytes = b.writes.iter().map(Write::approximate_size).sum();
        b.failed = false;
        Ok(())
    }

    /// `RELEASE SAVEPOINT name`: forgets it (and any set after it).
    pub fn release(&self, name: &str) -> Result<()> {
        let mut guard = self.lock();
        let b = guard
            .as_mut()
            .ok_or_else(|| outside_block("RELEASE SAVEPOINT"))?;
        let i = find(b, name)?;
        b.savepoints.truncate(i);
        Ok(())
    }

    /// The block's read point (taken now if no statement of it has read
    /// yet), or `None` outside a block.
    pub fn read_point(&self, store: &Store) -> Option<ReadPoint> {
        let mut guard = self.lock();
        let b = guard.as_mut()?;
        Some(b.read.get_or_insert_with(|| store.read_point()).clone())
    }

    /// Writes now (outside a block) or buffers them (inside one); returns
    /// them as stamped.
    pub async fn write(&self, path: &WritePath, writes: Vec<Write>) -> Result<Vec<Write>> {
        {
            let mut guard = self.lock();
            if let Some(b) = guard.as_mut() {
                if b.failed {
                    return Err(aborted());
                }
                let bytes = b.bytes + writes.iter().map(Write::approximate_size).sum::<usize>();
                check_block_size(bytes)?;
                b.unsettled.get_or_insert_with(|| path.unsettled());
                let writes = path.stamp(writes);
                b.bytes = bytes;
                b.writes.extend(writes.iter().cloned());
                return Ok(writes);
            }
        }
        path.commit(writes).await
    }

    /// Ids of assertions buffered in the open block (a block may retract
    /// what it inserted).
    pub fn pending_ids(&self) -> HashSet<Id> {
        match &*self.lock() {
            Some(b) => b
                .writes
                .iter()
                .filter_map(|w| match w {
                    Write::Assertion(a) => Some(a.id),
                    _ => None,
                })
                .collect(),
            None => HashSet::new(),
        }
    }
}

fn find(b: &Block, name: &str) -> Result<usize> {
    b.savepoints
        .iter()
        .rposition(|(n, _)| n.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            Error::new(
                sqlstate::INVALID_SAVEPOINT_SPECIFICATION,
                format!("savepoint \"{name}\" does not exist"),
            )
        })
}

fn outside_block(what: &str) -> Error {
    Error::new(
        sqlstate::NO_ACTIVE_TRANSACTION,
        format!("{what} can only be used in transaction blocks"),
    )
}

/// The error for any statement in a failed block.
pub fn aborted() -> Error {
    Error::new(
        sqlstate::IN_FAILED_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}
