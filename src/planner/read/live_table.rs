//! A read-only table whose rows are computed when a statement scans it,
//! not when it is planned — so a prepared `SELECT` over server state
//! (`pg_stat_activity`, `stemedb.cluster_members`) stays current.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::common::Result;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

type Rows = dyn Fn() -> Result<RecordBatch> + Send + Sync;

pub struct LiveTable {
    name: &'static str,
    schema: SchemaRef,
    rows: Arc<Rows>,
}

impl LiveTable {
    /// The table `name`, whose rows (of `schema`) `rows` computes.
    pub fn new(
        name: &'static str,
        schema: SchemaRef,
        rows: impl Fn() -> Result<RecordBatch> + Send + Sync + 'static,
    ) -> LiveTable {
        LiveTable {
            name,
            schema,
            rows: Arc::new(rows),
        }
    }
}

impl fmt::Debug for LiveTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[async_trait]
impl TableProvider for LiveTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = MemTable::try_new(self.schema.clone(), vec![vec![(self.rows)()?]])?;
        rows.scan(state, projection, filters, limit).await
    }
}
