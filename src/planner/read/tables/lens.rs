//! The per-pair views: `recency`, `authority`, `beliefs` (the session's
//! lens) and `conflicts`. Each emits one row per pair from the pair's head
//! ([`crate::lens::Head`]): read from the `heads` column family, or — with
//! time travel, or while a COPY is half applied — resolved from the live
//! claims `by_subject` groups together.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::view_for_scan;
use crate::error::Result;
use crate::lens::{Head, Lens};
use crate::planner::SessionShared;
use crate::planner::read::filters::{pushdown_support, scan_range};
use crate::planner::read::stream::{BatchSender, partitioned_scan};
use crate::planner::schema::{
    BATCH_ROWS, CONFLICTS, ConflictRows, LENS, LensRows, RowBuilder, Wanted,
};
use crate::storage::ScanRange;
use crate::storage::View;

/// What a pair table computes per (subject, predicate).
#[derive(Debug, Clone, Copy)]
pub enum PairKind {
    /// A lens; `None` means the session's `stemedb.lens` (`beliefs`).
    Lens(Option<Lens>),
    Conflicts,
}

pub struct PairTable {
    session: Arc<SessionShared>,
    kind: PairKind,
}

impl PairTable {
    pub fn new(session: Arc<SessionShared>, kind: PairKind) -> Self {
        PairTable { session, kind }
    }

    pub fn kind(&self) -> PairKind {
        self.kind
    }
}

impl fmt::Debug for PairTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PairTable({:?})", self.kind)
    }
}

/// Scans the pairs in `range`, letting `push` add a row for each pair's
/// head (stored, or resolved from its live claims: [`View::for_each_head`]).
fn scan_heads<R: RowBuilder>(
    view: &View,
    range: &ScanRange,
    out: &BatchSender,
    mut rows: R,
    mut push: impl FnMut(&mut R, &Head),
) -> Result<()> {
    view.for_each_head(range, |head| {
        push(&mut rows, &head);
        out.flush(&mut rows, BATCH_ROWS)
    })?;
    out.flush(&mut rows, 0)?;
    Ok(())
}

#[async_trait]
impl TableProvider for PairTable {
    fn schema(&self) -> SchemaRef {
        match self.kind {
            PairKind::Lens(_) => LENS.clone(),
            PairKind::Conflicts => CONFLICTS.clone(),
        }
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(pushdown_support(filters))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // A full scan without a LIMIT runs as the session's target number
        // of partitions, each resolving the pairs of a slice of subjects.
        let split = limit
            .is_none()
            .then(|| state.config_options().execution.target_partitions);
        let lens = match self.kind {
            PairKind::Lens(lens) => Some(lens.unwrap_or(self.session.settings().lens)),
            PairKind::Conflicts => None,
        };
        let heads = lens.is_none_or(Lens::in_heads);
        let (view, slices) =
            view_for_scan(&self.session, scan_range(filters), split, heads).await?;
        let n = slices.len();
        match (self.kind, lens) {
            (PairKind::Lens(_), Some(lens)) => {
                let wanted = Wanted::of(projection);
                partitioned_scan(LENS.clone(), projection, limit, n, move |i, out| {
                    let mut rows = LensRows::only(wanted);
                    view.for_each_resolution(&slices[i], lens, wanted.strings(), |r| {
                        rows.push(r);
                        out.flush(&mut rows, BATCH_ROWS)
                    })?;
                    out.flush(&mut rows, 0).map(|_| ())
                })
            }
            _ => partitioned_scan(CONFLICTS.clone(), projection, limit, n, move |i, out| {
                let rows = ConflictRows::default();
                scan_heads(&view, &slices[i], out, rows, |rows, head| {
                    if head.objects.len() >= 2
                        && let Some(c) = head.conflict()
                    {
                        rows.push(&head.recency.subject, &head.recency.predicate, &c);
                    }
                })
            }),
        }
    }
}
