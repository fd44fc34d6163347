//! The table an `INSERT INTO assertions` is planned against. DataFusion
//! casts an INSERT's values to the target's column types before a sink
//! sees them, and a cast can change a value (`3.7` to a SMALLINT is `3`)
//! or turn a bad one into NULL. So the classifier points INSERTs at this
//! table instead (registered only while such a statement is planned):
//! its columns are the insertable ones, typed wide enough that the casts
//! keep every value ([`crate::planner::write::ingest::INGEST_COLUMNS`]), and its
//! sink hands each value to the one ingest function. Parameters are
//! described as PostgreSQL describes them ([`described_parameters`]).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::physical_plan::ExecutionPlan;

use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Insert, SetExpr, Value};

use super::AssertionSink;
use crate::planner::SessionShared;
use crate::planner::schema::timestamptz;
use crate::planner::write::ingest::INGEST_SCHEMA;

/// The name INSERTs into `assertions` are planned under.
pub const INGEST_TABLE: &str = "__stemedb_insert_assertions";

pub struct IngestTable {
    session: Arc<SessionShared>,
}

impl IngestTable {
    pub fn new(session: Arc<SessionShared>) -> Self {
        IngestTable { session }
    }
}

impl fmt::Debug for IngestTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IngestTable")
    }
}

#[async_trait]
impl TableProvider for IngestTable {
    fn schema(&self) -> SchemaRef {
        INGEST_SCHEMA.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Plan(
            "an INSERT cannot read the rows it inserts; read assertions instead".into(),
        ))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        _insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let sink = AssertionSink::new(self.session.clone());
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

/// The parameters an INSERT gives straight to `tier` or `observed_at`
/// (`VALUES (…, $5, …)`, 0-based), with the type clients are told:
/// smallint and timestamptz, as PostgreSQL describes them, rather than the
/// ingest table's float8 and text. Values of those types reach the ingest
/// function as they are.
pub fn described_parameters(insert: &Insert) -> Vec<(usize, DataType)> {
    let Some(SetExpr::Values(values)) = insert.source.as_ref().map(|q| q.body.as_ref()) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (i, column) in insert.columns.iter().enumerate() {
        let ty = match column.to_string().to_ascii_lowercase().as_str() {
            "tier" => DataType::Int16,
            "observed_at" => timestamptz(),
            _ => continue,
        };
        for row in &values.rows {
            if let Some(SqlExpr::Value(v)) = row.content.get(i)
                && let Value::Placeholder(p) = &v.value
                && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
                && n >= 1
            {
                out.push((n - 1, ty.clone()));
            }
        }
    }
    out
}
