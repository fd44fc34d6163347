//! The INSERT sink of `assertions`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::sink::DataSink;
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;

use crate::error::{Error, Result, sqlstate};
use crate::model::{Claim, NewAssertion};
use crate::planner::SessionShared;
use crate::planner::errors::external;
use crate::planner::schema::{AssertionRows, RowBuilder};
use crate::planner::write::ingest;
use crate::planner::write::txn::check_block_size;
use crate::storage::Write;

pub struct AssertionSink {
    session: Arc<SessionShared>,
}

impl AssertionSink {
    pub fn new(session: Arc<SessionShared>) -> Self {
        AssertionSink { session }
    }
}

impl fmt::Debug for AssertionSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AssertionSink")
    }
}

impl DisplayAs for AssertionSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AssertionSink")
    }
}

#[async_trait]
impl DataSink for AssertionSink {
    fn schema(&self) -> &SchemaRef {
        &ingest::INGEST_SCHEMA
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let mut inserted = Vec::new();
        let mut bytes = 0;
        while let Some(batch) = data.next().await {
            let batch = batch?;
            let schema = batch.schema();
            let columns = batch
                .columns()
                .iter()
                .map(|c| Ok((ingest::normalize(c)?, c.data_type().is_decimal())))
                .collect::<Result<Vec<_>>>()
                .map_err(external)?;
            for row in 0..batch.num_rows() {
                let mut new = NewAssertion::default();
                for (field, (column, decimal)) in schema.fields().iter().zip(&columns) {
                    let cell = ingest::cell(column.as_ref(), *decimal, row);
                    ingest::set(&mut new, field.name(), cell).map_err(external)?;
                }
                let claim = new.into_claim(&self.session.user).map_err(external)?;
                bytes += Write::approximate_assertion_size(claim.fields());
                check_block_size(bytes).map_err(external)?;
                inserted.push(claim);
            }
        }
        let n = inserted.len() as u64;
        let mut stamped = write_claims(&self.session, inserted)
            .await
            .map_err(external)?;
        self.session.last_inserted.set(stamped.finish()?);
        Ok(n)
    }
}

/// Checks `supersedes`, then writes one statement's claims (at once, or
/// into the open block) and returns them as stored, for RETURNING.
pub async fn write_claims(
    session: &Arc<SessionShared>,
    claims: Vec<Claim>,
) -> Result<AssertionRows> {
    // `supersedes` must name an assertion that exists (stored, or pending
    // in the open block).
    let targets = claims
        .iter()
        .filter_map(|c| c.fields().supersedes)
        .collect();
    if let Some(target) = super::first_unknown(session, targets).await? {
        return Err(Error::new(
            sqlstate::FOREIGN_KEY_VIOLATION,
            format!("supersedes {target}: no such assertion"),
        )
        .in_column("supersedes"));
    }
    let writes = claims.into_iter().map(Write::Claim).collect();
    session.writable()?;
    let stamped = session.txn.write(&session.writes, writes).await?;
    let mut rows = AssertionRows::default();
    for w in &stamped {
        if let Write::Assertion(a) = w {
            rows.push(a, false);
        }
    }
    Ok(rows)
}
