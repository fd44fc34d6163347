//! `retractions`: every visible retraction. INSERT goes through
//! [`RetractionSink`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::physical_plan::ExecutionPlan;

use crate::planner::SessionShared;
use crate::planner::read::stream::blocking_scan;
use crate::planner::schema::{BATCH_ROWS, RETRACTIONS, RetractionRows};
use crate::planner::write::sinks::RetractionSink;

pub struct RetractionsTable {
    session: Arc<SessionShared>,
}

impl RetractionsTable {
    pub fn new(session: Arc<SessionShared>) -> Self {
        RetractionsTable { session }
    }
}

impl fmt::Debug for RetractionsTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetractionsTable")
    }
}

#[async_trait]
impl TableProvider for RetractionsTable {
    fn schema(&self) -> SchemaRef {
        RETRACTIONS.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let view = self.session.view();
        blocking_scan(RETRACTIONS.clone(), projection, limit, move |out| {
            let mut rows = RetractionRows::default();
            view.read().for_each_retraction(|r| {
                if !view.sees(r.hlc) {
                    return Ok(true);
                }
                rows.push(&r);
                out.flush(&mut rows, BATCH_ROWS)
            })?;
            out.flush(&mut rows, 0)?;
            Ok(())
        })
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        _insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let sink = RetractionSink::new(self.session.clone());
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}
