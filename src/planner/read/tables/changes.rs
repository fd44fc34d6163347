//! `stemedb.changes`: one row per claim and per retraction, in
//! `change_id` order, up to the resolved frontier (docs/changes.md).
//!
//! [`ChangesTable`] reads this node's `by_hlc` index between the ends its
//! `change_id` filters give — `change_id > $1` is a seek, not a scan —
//! and declares its rows ordered, so `ORDER BY change_id LIMIT n` reads n
//! rows (a cluster merges the owners' ordered streams). It trusts its
//! filters for the upper end: [`Resolved`], the table sessions see, adds
//! `change_id < frontier` before anything reads, and the same filter
//! travels to the owners a cluster scan asks, so every node stops at the
//! coordinator's frontier, not its own.
//!
//! The feed reads the newest resolved changes at every statement, also
//! inside a transaction block (whose other reads keep the block's
//! snapshot); `stemedb.as_of` stops it at that instant.

use std::fmt;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int16Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, col, lit};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::ExecutionPlan;

use crate::cluster::Readers;
use crate::error::{Error, sqlstate};
use crate::model::Hlc;
use crate::planner::SessionShared;
use crate::planner::read::filters::{compared_with_null, compares_text, text_range};
use crate::planner::read::stream::ordered_scan;
#[cfg(doc)]
use crate::planner::schema::BATCH_ROWS;
use crate::planner::schema::{RowBuilder, timestamptz};
use crate::storage::{After, Change, next_stamp, stamp_bound, stamp_of};

/// `stemedb.changes`'s name among the tables a cluster scan may ask for.
pub const CHANGES_TABLE: &str = "stemedb.changes";

/// Rows per batch of the feed: a consumer reads a page of a few hundred
/// rows, and the scan runs ahead of it by the batches in flight — at
/// [`BATCH_ROWS`] a page of 500 read 16 000 changes.
const FEED_BATCH_ROWS: usize = 256;

/// The column the feed is ordered by.
const CHANGE_ID: &str = "change_id";

pub static CHANGES: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new(CHANGE_ID, DataType::Utf8, false),
        text("kind"),
        text("assertion_id"),
        text("subject"),
        text("predicate"),
        text("object"),
        text("object_type"),
        text("source"),
        Field::new("tier", DataType::Int16, true),
        Field::new("confidence", DataType::Float64, true),
        text("agent"),
        Field::new("observed_at", timestamptz(), true),
        Field::new("changed_at", timestamptz(), true),
    ]))
});

/// The order rows of `schema` (the feed's columns, maybe projected) come
/// in: by `change_id`, when it is among them.
pub fn change_order(schema: &Schema) -> Option<LexOrdering> {
    let at = schema.index_of(CHANGE_ID).ok()?;
    let ascending = SortOptions {
        descending: false,
        nulls_first: false,
    };
    LexOrdering::new([PhysicalSortExpr::new(
        Arc::new(Column::new(CHANGE_ID, at)),
        ascending,
    )])
}

/// `change_id` compared with text (or a parameter, bound before the scan
/// runs) is applied by the scan itself, exactly: no filter above it, so a
/// `LIMIT` stops the scan after its rows rather than after the batches a
/// parallel filter pulled ahead.
fn pushdown(filters: &[&Expr]) -> Vec<TableProviderFilterPushDown> {
    filters
        .iter()
        .map(|f| match compares_text(f, CHANGE_ID) {
            true => TableProviderFilterPushDown::Exact,
            false => TableProviderFilterPushDown::Unsupported,
        })
        .collect()
}

/// The changes this node stores, between the ends its filters give.
pub struct ChangesTable {
    session: Arc<SessionShared>,
}

impl ChangesTable {
    pub fn new(session: Arc<SessionShared>) -> ChangesTable {
        ChangesTable { session }
    }
}

impl fmt::Debug for ChangesTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChangesTable")
    }
}

#[async_trait]
impl TableProvider for ChangesTable {
    fn schema(&self) -> SchemaRef {
        CHANGES.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(pushdown(filters))
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let nothing = compared_with_null(filters, CHANGE_ID);
        let (lower, upper) = text_range(filters, CHANGE_ID);
        let after = lower.map(|(change_id, inclusive)| After {
            change_id,
            inclusive,
        });
        // Ids below `upper` are stamped at most at its stamp.
        let below = upper
            .as_ref()
            .and_then(|(id, _)| stamp_of(id))
            .map_or(Hlc::new(i64::MAX, u32::MAX), next_stamp);
        let projected = match projection {
            Some(p) => CHANGES.project(p)?,
            None => CHANGES.as_ref().clone(),
        };
        let store = self.session.store.clone();
        ordered_scan(
            CHANGES.clone(),
            projection,
            change_order(&projected),
            move |out| {
                if nothing {
                    return Ok(());
                }
                let read = store.read_point();
                let mut rows = ChangeRows::default();
                read.for_each_change(after.as_ref(), below, |change| {
                    if let Some((id, inclusive)) = &upper
                        && (change.id > *id || (!inclusive && change.id == *id))
                    {
                        return Ok(false);
                    }
                    rows.push(&change);
                    out.flush(&mut rows, FEED_BATCH_ROWS)
                })?;
                out.flush(&mut rows, 0)?;
                Ok(())
            },
        )
    }
}

/// The feed as a session reads it: [`ChangesTable`] (or, in a cluster,
/// the same read over the owners) up to the resolved frontier.
pub struct Resolved {
    inner: Arc<dyn TableProvider>,
    session: Arc<SessionShared>,
}

impl Resolved {
    pub fn new(inner: Arc<dyn TableProvider>, session: Arc<SessionShared>) -> Resolved {
        Resolved { inner, session }
    }

    /// The stamp the feed stops below now: the frontier (nothing before
    /// it is known), or the instant after `stemedb.as_of`.
    fn bound(&self) -> Hlc {
        let frontier = self.session.cluster.frontier().unwrap_or_default();
        match self.session.settings().as_of {
            Some(as_of) => frontier.min(Hlc::new(as_of.saturating_add(1), 0)),
            None => frontier,
        }
    }
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Resolved({:?})", self.inner)
    }
}

#[async_trait]
impl TableProvider for Resolved {
    fn schema(&self) -> SchemaRef {
        CHANGES.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(pushdown(filters))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut bounded = filters.to_vec();
        bounded.push(col(CHANGE_ID).lt(lit(stamp_bound(self.bound()))));
        self.inner.scan(state, projection, &bounded, limit).await
    }
}

/// Refuses a read of the feed over the cluster while some subject may
/// have no live owner (as many members down as copies of each subject):
/// skipping their changes would let a consumer resume past them.
pub fn every_subject_readable(readers: &Readers) -> crate::error::Result<()> {
    let down: Vec<&str> = readers
        .members
        .iter()
        .filter(|m| !readers.alive.contains(m))
        .map(String::as_str)
        .collect();
    if down.len() < readers.factor {
        return Ok(());
    }
    Err(Error::new(
        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!(
            "cannot read stemedb.changes now: {} are down, so some subjects have no live \
             owner; retry when one is back",
            down.join(", ")
        ),
    ))
}

/// Builds `stemedb.changes` batches.
#[derive(Default)]
struct ChangeRows {
    len: usize,
    change_id: StringBuilder,
    kind: StringBuilder,
    assertion_id: StringBuilder,
    subject: StringBuilder,
    predicate: StringBuilder,
    object: StringBuilder,
    object_type: StringBuilder,
    source: StringBuilder,
    tier: Int16Builder,
    confidence: Float64Builder,
    agent: StringBuilder,
    observed_at: TimestampMicrosecondBuilder,
    changed_at: TimestampMicrosecondBuilder,
}

impl ChangeRows {
    fn push(&mut self, change: &Change) {
        let a = &change.claim;
        self.len += 1;
        self.change_id.append_value(&change.id);
        self.kind.append_value(match change.retraction {
            Some(_) => "retract",
            None => "assert",
        });
        self.assertion_id.append_value(a.id.to_hex());
        self.subject.append_value(&a.subject);
        self.predicate.append_value(&a.predicate);
        self.object.append_value(&a.object);
        self.object_type.append_value(a.object_type.as_str());
        self.source.append_value(&a.source);
        self.tier.append_value(a.tier as i16);
        self.confidence.append_value(a.confidence);
        // Who made the change: the retraction's agent for a retraction.
        let agent = change.retraction.as_ref().map_or(&a.agent, |r| &r.agent);
        self.agent.append_value(agent);
        self.observed_at.append_value(a.observed_at);
        self.changed_at.append_value(change.hlc.physical);
    }
}

impl RowBuilder for ChangeRows {
    fn len(&self) -> usize {
        self.len
    }

    fn finish(&mut self) -> DfResult<RecordBatch> {
        self.len = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.change_id.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.assertion_id.finish()),
            Arc::new(self.subject.finish()),
            Arc::new(self.predicate.finish()),
            Arc::new(self.object.finish()),
            Arc::new(self.object_type.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.tier.finish()),
            Arc::new(self.confidence.finish()),
            Arc::new(self.agent.finish()),
            Arc::new(self.observed_at.finish().with_timezone("UTC")),
            Arc::new(self.changed_at.finish().with_timezone("UTC")),
        ];
        Ok(RecordBatch::try_new(CHANGES.clone(), columns)?)
    }
}
