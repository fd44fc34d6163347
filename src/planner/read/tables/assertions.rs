//! `assertions`: every claim ever accepted, with `retracted` computed from
//! the visible retractions. INSERTs are planned against
//! [`crate::planner::write::sinks::IngestTable`] instead.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::planner::SessionShared;
use crate::planner::read::filters::{pushdown_support, scan_range};
use crate::planner::read::stream::blocking_scan;
use crate::planner::read::tables::view_for_scan;
use crate::planner::schema::{ASSERTIONS, AssertionRows, BATCH_ROWS, Wanted};

pub struct AssertionsTable {
    session: Arc<SessionShared>,
}

impl AssertionsTable {
    pub fn new(session: Arc<SessionShared>) -> Self {
        AssertionsTable { session }
    }
}

impl fmt::Debug for AssertionsTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AssertionsTable")
    }
}

#[async_trait]
impl TableProvider for AssertionsTable {
    fn schema(&self) -> SchemaRef {
        ASSERTIONS.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(pushdown_support(filters))
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let range = scan_range(filters);
        let (view, _) = view_for_scan(&self.session, range.clone(), None, false).await?;
        let wanted = Wanted::of(projection);
        blocking_scan(ASSERTIONS.clone(), projection, limit, move |out| {
            let mut rows = AssertionRows::only(wanted);
            view.read().for_each_assertion(&range, |a| {
                if !view.visible(&a) {
                    return Ok(true);
                }
                let retracted = rows.wants_retracted() && view.retracted(&a)?;
                rows.push(&a, retracted);
                out.flush(&mut rows, BATCH_ROWS)
            })?;
            out.flush(&mut rows, 0)?;
            Ok(())
        })
    }
}
