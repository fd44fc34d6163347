//! `stemedb.source_trust(source_prefix text, weight float8)`: how much the
//! `consensus` lens trusts each source, by prefix (docs/sql.md). Rows are
//! catalog entries ([`crate::storage::Store::source_trust`]), so a change
//! reaches every node and is kept in backups. Administrators write it:
//! `INSERT … ON CONFLICT (source_prefix) DO UPDATE SET weight =
//! EXCLUDED.weight` (rewritten to a replacing insert by
//! `frontend::trust_writes`), a plain `INSERT` of a new prefix, and
//! `DELETE … WHERE …`. A weight is a finite number from 0 to 1 000 000.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, StringArray};
use datafusion::arrow::compute::{and, cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DFSchema;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::StreamExt;

use crate::error::{Error, Result, sqlstate};
use crate::planner::SessionShared;
use crate::planner::errors::external;

/// The largest weight a source may be given.
const MAX_WEIGHT: f64 = 1_000_000.0;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("source_prefix", DataType::Utf8, true),
        Field::new("weight", DataType::Float64, true),
    ]))
});

/// The table, read and written through one session.
pub struct SourceTrustTable {
    session: Arc<SessionShared>,
}

impl SourceTrustTable {
    pub fn new(session: Arc<SessionShared>) -> SourceTrustTable {
        SourceTrustTable { session }
    }

    /// Every row, as the catalog holds it now.
    fn rows(&self) -> Result<RecordBatch> {
        let trust = self.session.store.source_trust()?;
        let (prefixes, weights): (Vec<&str>, Vec<f64>) = trust.entries().unzip();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(prefixes)),
            Arc::new(Float64Array::from(weights)),
        ];
        RecordBatch::try_new(SCHEMA.clone(), columns).map_err(Error::internal)
    }
}

impl fmt::Debug for SourceTrustTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stemedb.source_trust")
    }
}

#[async_trait]
impl TableProvider for SourceTrustTable {
    fn schema(&self) -> SchemaRef {
        SCHEMA.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let rows = self.rows().map_err(external)?;
        MemorySourceConfig::try_new_exec(&[vec![rows]], SCHEMA.clone(), projection.cloned())
            .map(|e| e as Arc<dyn ExecutionPlan>)
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let write = match insert_op {
            InsertOp::Replace => Write::Upsert,
            _ => Write::Insert,
        };
        let sink = TrustSink {
            session: self.session.clone(),
            write,
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // The rows to delete are chosen now, and deleted when the plan runs.
        let rows = self.rows().map_err(external)?;
        let schema = DFSchema::try_from(SCHEMA.clone())?;
        let mut keep: Option<BooleanArray> = None;
        for filter in filters {
            let expr = state.create_physical_expr(filter, &schema)?;
            let value = expr.evaluate(&rows)?.into_array(rows.num_rows())?;
            let mask = value.as_boolean_opt().cloned().ok_or_else(|| {
                external(Error::new(
                    sqlstate::DATATYPE_MISMATCH,
                    "argument of WHERE must be type boolean",
                ))
            })?;
            keep = Some(match keep {
                Some(k) => and(&k, &mask)?,
                None => mask,
            });
        }
        let chosen = match keep {
            Some(mask) => filter_record_batch(&rows, &mask)?,
            None => rows,
        };
        let input = MemorySourceConfig::try_new_exec(&[vec![chosen]], SCHEMA.clone(), None)?;
        let sink = TrustSink {
            session: self.session.clone(),
            write: Write::Delete,
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

/// What the sink does with the rows it is given.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Write {
    /// A new prefix each (`23505` for one already there).
    Insert,
    /// Set each prefix's weight, new or not.
    Upsert,
    /// Remove each prefix.
    Delete,
}

struct TrustSink {
    session: Arc<SessionShared>,
    write: Write,
}

impl fmt::Debug for TrustSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceTrustSink({:?})", self.write)
    }
}

impl DisplayAs for TrustSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceTrustSink({:?})", self.write)
    }
}

/// One row's prefix and weight, checked.
fn row(prefixes: &StringArray, weights: &Float64Array, i: usize) -> Result<(String, f64)> {
    let null = |column: &str| {
        Error::new(
            sqlstate::NOT_NULL_VIOLATION,
            format!(
                "null value in column \"{column}\" of relation \"source_trust\" violates not-null constraint"
            ),
        )
    };
    if prefixes.is_null(i) {
        return Err(null("source_prefix"));
    }
    if weights.is_null(i) {
        return Err(null("weight"));
    }
    let weight = weights.value(i);
    if !(0.0..=MAX_WEIGHT).contains(&weight) {
        return Err(Error::new(
            sqlstate::CHECK_VIOLATION,
            format!("a source's weight must be a number from 0 to {MAX_WEIGHT}, not {weight}"),
        ));
    }
    Ok((prefixes.value(i).to_string(), weight))
}

impl TrustSink {
    /// The catalog changes the rows ask for.
    fn changes(&self, rows: Vec<(String, f64)>) -> Result<Vec<crate::storage::CatalogEntry>> {
        let store = &self.session.store;
        let held: BTreeSet<String> = store
            .source_trust()?
            .entries()
            .map(|(p, _)| p.to_string())
            .collect();
        let mut set: BTreeMap<String, Option<f64>> = BTreeMap::new();
        for (prefix, weight) in rows {
            let twice = set.contains_key(&prefix);
            match self.write {
                Write::Insert if twice || held.contains(&prefix) => {
                    return Err(Error::new(
                        sqlstate::UNIQUE_VIOLATION,
                        format!(
                            "duplicate key value violates unique constraint \"source_trust_pkey\": \
                             source_prefix {prefix:?} is already there (update it with ON CONFLICT \
                             (source_prefix) DO UPDATE SET weight = EXCLUDED.weight)"
                        ),
                    ));
                }
                Write::Upsert if twice => {
                    return Err(Error::new(
                        sqlstate::CARDINALITY_VIOLATION,
                        format!(
                            "ON CONFLICT DO UPDATE command cannot affect row a second time \
                             (source_prefix {prefix:?} appears twice)"
                        ),
                    ));
                }
                Write::Delete => set.insert(prefix, None),
                _ => set.insert(prefix, Some(weight)),
            };
        }
        Ok(set
            .into_iter()
            .map(|(prefix, weight)| store.trust_entry(&prefix, weight))
            .collect())
    }
}

#[async_trait]
impl DataSink for TrustSink {
    fn schema(&self) -> &SchemaRef {
        &SCHEMA
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let mut rows = Vec::new();
        while let Some(batch) = data.next().await {
            let batch = batch?;
            let prefixes = cast(batch.column(0), &DataType::Utf8)?;
            let weights = cast(batch.column(1), &DataType::Float64)?;
            let (prefixes, weights) = (
                prefixes.as_string::<i32>(),
                weights.as_primitive::<Float64Type>(),
            );
            for i in 0..batch.num_rows() {
                rows.push(row(prefixes, weights, i).map_err(external)?);
            }
        }
        let n = rows.len() as u64;
        let entries = self.changes(rows).map_err(external)?;
        if !entries.is_empty() {
            self.session
                .cluster
                .publish_catalog(entries)
                .await
                .map_err(external)?;
        }
        tracing::info!(
            target: "stemedb::audit",
            user = self.session.user(),
            rows = n,
            "stemedb.source_trust: {:?}",
            self.write
        );
        Ok(n)
    }
}
