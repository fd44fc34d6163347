//! The INSERT sink of `assertions`.

use std::collections::HashSet;
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
use crate::error::{Error, sqlstate};
use crate::model::{Id, NewAssertion};
use crate::planner::SessionShared;
use crate::planner::schema::{ASSERTIONS, AssertionRows, RowBuilder};
use crate::planner::tables::external;
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
        &ASSERTIONS
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let store = &self.session.store;
        let mut inserted = Vec::new();
        while let Some(batch) = data.next().await {
            let batch = batch?;
            let c = Columns::new(&batch);
            let (subject, predicate, object, object_type, source) = (
                c.text("subject")?,
                c.text("predicate")?,
                c.text("object")?,
                c.text("object_type")?,
                c.text("source")?,
            );
            let (tier, confidence, agent, observed_at, supersedes) = (
                c.int("tier")?,
                c.float("confidence")?,
                c.text("agent")?,
                c.time("observed_at")?,
                c.text("supersedes")?,
            );
            for row in 0..batch.num_rows() {
                let new = NewAssertion {
                    subject: subject.text(row),
                    predicate: predicate.text(row),
                    object: object.text(row),
                    object_type: object_type.text(row),
                    source: source.text(row),
                    tier: tier.int(row),
                    confidence: confidence.float(row),
                    agent: agent.text(row),
                    observed_at: observed_at.micros(row),
                    supersedes: supersedes.text(row),
                };
                let a = new
                    .into_assertion(&self.session.user, store.clock().now(), store.node_id())
                    .map_err(external)?;
                inserted.push(a);
            }
        }
        check_supersedes(&self.session, &inserted).map_err(external)?;
        let writes = inserted.iter().cloned().map(Write::Assertion).collect();
        self.session
            .txn
            .write(store, writes)
            .await
            .map_err(external)?;
        let mut rows = AssertionRows::default();
        inserted.iter().for_each(|a| rows.push(a, false));
        self.session.last_inserted.set(rows.finish()?);
        Ok(inserted.len() as u64)
    }
}

/// `supersedes` must name an assertion that exists (stored, pending in the
/// open block, or earlier in this statement).
pub fn check_supersedes(
    session: &SessionShared,
    inserted: &[crate::model::Assertion],
) -> crate::error::Result<()> {
    if inserted.iter().all(|a| a.supersedes.is_none()) {
        return Ok(());
    }
    let mut known: HashSet<Id> = session.txn.pending_ids();
    for a in inserted {
        if let Some(target) = a.supersedes {
            if !known.contains(&target) && !session.store.contains(&target)? {
                return Err(Error::new(
                    sqlstate::FOREIGN_KEY_VIOLATION,
                    format!("supersedes {target}: no such assertion"),
                ));
            }
        }
        known.insert(a.id);
    }
    Ok(())
}
