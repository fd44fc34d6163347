//! Transactions. Outside a block every statement commits on its own; inside
//! `BEGIN … COMMIT` a statement's writes are buffered in the session and go
//! to the group-commit writer as one atomic batch at `COMMIT`. `ROLLBACK`
//! (or an error, then `COMMIT`) discards them.
//!
//! Reads inside a block see committed data only, not the block's own
//! pending writes (documented in docs/sql.md).

use std::collections::HashSet;
use std::sync::Mutex;

use crate::error::{Error, Result, sqlstate};
use crate::model::Id;
use crate::storage::{Store, Write};

#[derive(Debug, Default)]
enum State {
    #[default]
    Idle,
    Open(Vec<Write>),
    /// A statement failed inside the block; only COMMIT/ROLLBACK may follow.
    Failed,
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
    state: Mutex<State>,
}

impl Transaction {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn in_block(&self) -> bool {
        !matches!(*self.lock(), State::Idle)
    }

    pub fn is_failed(&self) -> bool {
        matches!(*self.lock(), State::Failed)
    }

    /// `BEGIN`. Returns false (a warning, as in PostgreSQL) if already open.
    pub fn begin(&self) -> bool {
        let mut s = self.lock();
        if matches!(*s, State::Idle) {
            *s = State::Open(Vec::new());
            true
        } else {
            false
        }
    }

    /// Marks the open block as failed after a statement error.
    pub fn fail(&self) {
        let mut s = self.lock();
        if matches!(*s, State::Open(_)) {
            *s = State::Failed;
        }
    }

    /// `COMMIT`: writes the block's buffered writes atomically.
    pub async fn commit(&self, store: &Store) -> Result<Ended> {
        let state = std::mem::take(&mut *self.lock());
        match state {
            State::Open(writes) => {
                store.commit(writes).await?;
                Ok(Ended::Committed)
            }
            State::Failed => Ok(Ended::RolledBack),
            State::Idle => Ok(Ended::Committed),
        }
    }

    /// `ROLLBACK`: discards the block.
    pub fn rollback(&self) {
        *self.lock() = State::Idle;
    }

    /// Writes now (outside a block) or buffers them (inside one).
    pub async fn write(&self, store: &Store, writes: Vec<Write>) -> Result<()> {
        {
            let mut s = self.lock();
            match &mut *s {
                State::Open(pending) => {
                    pending.extend(writes);
                    return Ok(());
                }
                State::Failed => return Err(aborted()),
                State::Idle => {}
            }
        }
        store.commit(writes).await
    }

    /// Ids of assertions buffered in the open block (a block may retract
    /// what it inserted).
    pub fn pending_ids(&self) -> HashSet<Id> {
        match &*self.lock() {
            State::Open(w) => w
                .iter()
                .filter_map(|w| match w {
                    Write::Assertion(a) => Some(a.id),
                    Write::Retraction(_) => None,
                })
                .collect(),
            _ => HashSet::new(),
        }
    }
}

/// The error for any statement in a failed block.
pub fn aborted() -> Error {
    Error::new(
        sqlstate::IN_FAILED_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}
