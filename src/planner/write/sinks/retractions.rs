//! The INSERT sink of `retractions`. Retracting an unknown id fails
//! (`23503`); retracting twice is accepted and changes nothing (the writer
//! keeps the first retraction).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::sink::DataSink;
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;

use super::columns::Columns;
use crate::error::{Error, Result, sqlstate};
use crate::model::{Id, Retraction};
use crate::planner::SessionShared;
use crate::planner::errors::external;
use crate::planner::schema::{RETRACTIONS, RetractionRows, RowBuilder};
use crate::storage::Write;

pub struct RetractionSink {
    session: Arc<SessionShared>,
}

impl RetractionSink {
    pub fn new(session: Arc<SessionShared>) -> Self {
        RetractionSink { session }
    }
}

impl fmt::Debug for RetractionSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetractionSink")
    }
}

impl DisplayAs for RetractionSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetractionSink")
    }
}

/// The id a row retracts (`23502` when NULL, `23503` when it is not an id).
fn target(raw: Option<String>) -> Result<Id> {
    let raw = raw.ok_or_else(|| {
        Error::new(
            sqlstate::NOT_NULL_VIOLATION,
            "null value in column \"assertion_id\" of relation \"retractions\" violates not-null constraint",
        )
    })?;
    Id::parse(&raw).ok_or_else(|| unknown(&raw))
}

fn unknown(id: &str) -> Error {
    Error::new(
        sqlstate::FOREIGN_KEY_VIOLATION,
        format!("cannot retract \"{id}\": no such assertion"),
    )
}

#[async_trait]
impl DataSink for RetractionSink {
    fn schema(&self) -> &SchemaRef {
        &RETRACTIONS
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let session = &self.session;
        let mut writes = Vec::new();
        while let Some(batch) = data.next().await {
            let batch = batch?;
            let c = Columns::new(&batch);
            let (ids, reasons, agents) =
                (c.text("assertion_id")?, c.text("reason")?, c.text("agent")?);
            for row in 0..batch.num_rows() {
                let assertion_id = target(ids.text(row)).map_err(external)?;
                let agent = agents.text(row).unwrap_or_else(|| session.user.clone());
                writes.push(Write::Retract(Retraction::new(
                    assertion_id,
                    reasons.text(row),
                    agent,
                )));
            }
        }
        let ids = writes
            .iter()
            .filter_map(|w| match w {
                Write::Retract(r) => Some(r.assertion_id),
                _ => None,
            })
            .collect();
        if let Some(id) = super::first_unknown(session, ids).await.map_err(external)? {
            return Err(external(unknown(&id.to_string())));
        }
        let n = writes.len() as u64;
        session.writable().map_err(external)?;
        let stamped = session
            .txn
            .write(&session.writes, writes)
            .await
            .map_err(external)?;
        let mut rows = RetractionRows::default();
        for w in &stamped {
            if let Write::Retraction(r) = w {
                rows.push(r);
            }
        }
        session.last_inserted.set(rows.finish()?);
        Ok(n)
    }
}
