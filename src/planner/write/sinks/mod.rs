//! INSERT sinks. DataFusion plans `INSERT … VALUES` and `INSERT … SELECT`
//! into a stream of batches shaped like the table; a sink validates every
//! row with the model's rules, stamps it, and hands the whole statement's
//! writes to the session's transaction in one piece — so a statement is
//! atomic: one bad row and nothing of it is written.

mod assertions;
mod columns;
mod ingest_table;
mod retractions;

pub use assertions::{AssertionSink, write_claims};
pub use ingest_table::{INGEST_TABLE, IngestTable, described_parameters};
pub use retractions::RetractionSink;

use std::sync::{Arc, Mutex};

use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::model::Id;
use crate::planner::SessionShared;

/// The first of `ids` that names no assertion — neither stored nor pending
/// in the open block — looked up on a blocking thread.
pub async fn first_unknown(session: &Arc<SessionShared>, ids: Vec<Id>) -> Result<Option<Id>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let pending = session.txn.pending_ids();
    let ids = ids.into_iter().filter(|id| !pending.contains(id)).collect();
    Ok(session.writes.unknown(ids).await?.into_iter().next())
}

/// The rows written by the session's last INSERT, for its RETURNING clause.
#[derive(Debug, Default)]
pub struct LastInserted(Mutex<Option<RecordBatch>>);

impl LastInserted {
    pub fn set(&self, batch: RecordBatch) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(batch);
    }

    pub fn take(&self) -> Option<RecordBatch> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
