//! `stemedb.explain`: every claim of one (subject, predicate) in a lens's
//! order, with the rule step that placed each ([`crate::lens::explain`]).
//! Clients call it as a function, `stemedb.explain(subject, predicate[,
//! lens])`, which the frontend turns into a read of this table with
//! `subject`, `predicate` (and `lens`) filters — so parameters bind as in
//! any other filter. The lens defaults to the session's; the claims are
//! those the statement sees (`stemedb.as_of` applies).
//!
//! In a cluster it is read over the cluster like the other tables: one
//! owner of the subject computes the rows from its own claims (exact HLC
//! order, which `asserted_at`'s microseconds alone would not give).

use std::fmt;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int16Array, Int32Array, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::error::{Error, Result, sqlstate};
use crate::lens::{Lens, explain};
use crate::model::Assertion;
use crate::planner::SessionShared;
use crate::planner::errors::external;
use crate::planner::read::filters::{constrains, only_value};
use crate::planner::schema::timestamptz;
use crate::storage::{ScanRange, View};

/// The columns the function returns, after the three it is called with.
pub const COLUMNS: [&str; 11] = [
    "rank",
    "assertion_id",
    "object",
    "source",
    "tier",
    "confidence",
    "weight",
    "observed_at",
    "asserted_at",
    "retracted",
    "decided_by",
];

/// The arguments, as columns a call's filters set.
const ARGUMENTS: [&str; 3] = ["subject", "predicate", "lens"];

pub static EXPLAIN: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("subject"),
        text("predicate"),
        text("lens"),
        Field::new("rank", DataType::Int32, false),
        text("assertion_id"),
        text("object"),
        text("source"),
        Field::new("tier", DataType::Int16, true),
        Field::new("confidence", DataType::Float64, true),
        Field::new("weight", DataType::Float64, true),
        Field::new("observed_at", timestamptz(), true),
        Field::new("asserted_at", timestamptz(), true),
        Field::new("retracted", DataType::Boolean, true),
        text("decided_by"),
    ]))
});

pub struct ExplainTable {
    session: Arc<SessionShared>,
}

impl ExplainTable {
    pub fn new(session: Arc<SessionShared>) -> ExplainTable {
        ExplainTable { session }
    }
}

impl fmt::Debug for ExplainTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stemedb.explain")
    }
}

/// What a call asks: the pair and the lens.
pub fn arguments(filters: &[Expr], session: &SessionShared) -> Result<(String, String, Lens)> {
    let (Some(subject), Some(predicate)) = (
        only_value(filters, "subject"),
        only_value(filters, "predicate"),
    ) else {
        return Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "stemedb.explain needs one subject and one predicate: \
             SELECT * FROM stemedb.explain('subject', 'predicate'[, 'lens'])",
        ));
    };
    let lens = match only_value(filters, "lens") {
        Some(lens) => Lens::parse(lens)?,
        None => session.settings().lens,
    };
    Ok((subject.to_string(), predicate.to_string(), lens))
}

/// The rows explaining one pair, as `view` sees it.
fn rows(view: &View, subject: &str, predicate: &str, lens: Lens) -> Result<RecordBatch> {
    let mut claims: Vec<Assertion> = Vec::new();
    let pair = ScanRange::SubjectPredicate(subject.to_string(), predicate.to_string());
    view.read().for_each_assertion(&pair, |a| {
        if view.visible(&a) {
            claims.push(a);
        }
        Ok(true)
    })?;
    let marked = claims
        .iter()
        .map(|a| Ok((a, view.retracted(a)?)))
        .collect::<Result<Vec<_>>>()?;
    let explained = explain(lens, &marked, view.weighing());
    let n = explained.len();
    let repeat = |s: &str| -> ArrayRef { Arc::new(StringArray::from(vec![s; n])) };
    let texts = |f: &dyn Fn(&Assertion) -> &str| -> ArrayRef {
        Arc::new(
            explained
                .iter()
                .map(|e| Some(f(e.claim)))
                .collect::<StringArray>(),
        )
    };
    let times = |f: &dyn Fn(&Assertion) -> i64| -> ArrayRef {
        Arc::new(
            explained
                .iter()
                .map(|e| Some(f(e.claim)))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        repeat(subject),
        repeat(predicate),
        repeat(lens.as_str()),
        Arc::new(Int32Array::from_iter_values(1..=n as i32)),
        Arc::new(
            explained
                .iter()
                .map(|e| Some(e.claim.id.to_string()))
                .collect::<StringArray>(),
        ),
        texts(&|a| &a.object),
        texts(&|a| &a.source),
        Arc::new(
            explained
                .iter()
                .map(|e| Some(e.claim.tier as i16))
                .collect::<Int16Array>(),
        ),
        Arc::new(Float64Array::from_iter_values(
            explained.iter().map(|e| e.claim.confidence),
        )),
        Arc::new(Float64Array::from_iter_values(
            explained.iter().map(|e| e.weight),
        )),
        times(&|a| a.observed_at),
        times(&|a| a.hlc.physical),
        Arc::new(
            explained
                .iter()
                .map(|e| Some(e.retracted))
                .collect::<BooleanArray>(),
        ),
        Arc::new(
            explained
                .iter()
                .map(|e| Some(e.decided_by))
                .collect::<StringArray>(),
        ),
    ];
    RecordBatch::try_new(EXPLAIN.clone(), columns).map_err(Error::internal)
}

#[async_trait]
impl TableProvider for ExplainTable {
    fn schema(&self) -> SchemaRef {
        EXPLAIN.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match ARGUMENTS.iter().any(|c| constrains(f, c)) {
                true => TableProviderFilterPushDown::Exact,
                false => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let (subject, predicate, lens) = arguments(filters, &self.session).map_err(external)?;
        let view = self.session.view();
        let batch = tokio::task::spawn_blocking(move || {
            let view = view.for_range(
                &ScanRange::SubjectPredicate(subject.clone(), predicate.clone()),
                false,
            )?;
            rows(&view, &subject, &predicate, lens)
        })
        .await
        .map_err(|e| DataFusionError::Execution(format!("explaining a pair: {e}")))?
        .map_err(external)?;
        MemorySourceConfig::try_new_exec(&[vec![batch]], EXPLAIN.clone(), projection.cloned())
            .map(|e| e as Arc<dyn ExecutionPlan>)
    }
}
