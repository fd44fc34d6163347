//! Point lookups on a lens, recognised on the *optimised* logical plan —
//! after DataFusion has simplified casts, constants, parentheses and
//! column order — so every spelling of "the rows of `recency` for this
//! subject" runs the same way: `subject = 'a'`, `= $1`, `= $1::text`,
//! `= CAST($1 AS varchar)`, `= ANY($1)`, `IN ('a', 'b')`, with or without a
//! predicate, in any order. Such a query runs straight against storage —
//! the filters bound and turned into index ranges ([`crate::planner::read::filters`]),
//! each pair's live claims resolved — without building a physical plan
//! per execution. Anything else (an expression in the select list, ORDER
//! BY, LIMIT, a join, another filter) takes the general path, which gives
//! the same answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::source_as_provider;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableScan};

use crate::error::{Error, Result, sqlstate};
use crate::lens::Lens;
use crate::planner::SessionShared;
use crate::planner::read::filters::{pushdown_support, scan_range};
use crate::planner::read::stream::blocking_stream;
use crate::planner::read::tables::{ClusterTable, PairKind, PairTable};
use crate::planner::schema::{LENS, LensRows, Wanted};
use crate::storage::ScanRange;
use crate::storage::View;

#[derive(Debug, Clone)]
pub struct PointQuery {
    /// `None`: the session's `stemedb.lens` at execution (`beliefs`).
    lens: Option<Lens>,
    /// The lens columns returned, in order.
    columns: Vec<usize>,
    /// The result's schema, as the plan names the columns.
    schema: SchemaRef,
    /// Filters on `subject` / `predicate`, with parameters still unbound.
    filters: Vec<Expr>,
}

/// The lens scanned by `scan`, if it is one of StemeDB's lens tables.
fn lens_of(scan: &TableScan) -> Option<Option<Lens>> {
    let provider = source_as_provider(&scan.source).ok()?;
    let any = provider.as_ref() as &dyn std::any::Any;
    let table = match any.downcast_ref::<ClusterTable>() {
        Some(cluster) => (cluster.inner().as_ref() as &dyn std::any::Any).downcast_ref()?,
        None => any.downcast_ref::<PairTable>()?,
    };
    match table.kind() {
        PairKind::Lens(lens) => Some(lens),
        PairKind::Conflicts => None,
    }
}

/// The lens columns a plan over one lens scan returns (as indexes of the
/// lens), the filters on the scan, and the scan: for a scan under any
/// number of column-only projections (a view's select list, the query's
/// own, with their aliases) and subquery aliases (a view's name), and one
/// filter right above the scan. `None` for any other shape.
fn lens_scan(plan: &LogicalPlan) -> Option<(Vec<usize>, Vec<Expr>, &TableScan)> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            if scan.fetch.is_some() {
                return None;
            }
            let scanned = match &scan.projection {
                Some(p) => p.clone(),
                None => (0..LENS.fields().len()).collect(),
            };
            Some((scanned, scan.filters.clone(), scan))
        }
        LogicalPlan::SubqueryAlias(a) => lens_scan(&a.input),
        LogicalPlan::Filter(f) => {
            let mut below = f.input.as_ref();
            while let LogicalPlan::SubqueryAlias(a) = below {
                below = a.input.as_ref();
            }
            let LogicalPlan::TableScan(_) = below else {
                return None;
            };
            let (columns, mut filters, scan) = lens_scan(below)?;
            filters.extend(split_conjunction(&f.predicate).into_iter().cloned());
            Some((columns, filters, scan))
        }
        LogicalPlan::Projection(p) => {
            let (below, filters, scan) = lens_scan(&p.input)?;
            let columns = p
                .expr
                .iter()
                .map(|e| {
                    let Expr::Column(c) = unalias(e) else {
                        return None;
                    };
                    below
                        .get(p.input.schema().index_of_column(c).ok()?)
                        .copied()
                })
                .collect::<Option<Vec<_>>>()?;
            Some((columns, filters, scan))
        }
        _ => None,
    }
}

/// Recognises a point lookup in an optimised plan — on a lens, or on a
/// view over one (inlined into the plan, [`lens_scan`]).
pub fn recognise(plan: &LogicalPlan) -> Option<PointQuery> {
    let (columns, filters, scan) = lens_scan(plan)?;
    let lens = lens_of(scan)?;
    let support = pushdown_support(&filters.iter().collect::<Vec<_>>());
    if filters.is_empty() || support.contains(&TableProviderFilterPushDown::Unsupported) {
        return None;
    }
    Some(PointQuery {
        lens,
        columns,
        schema: Arc::new(plan.schema().as_arrow().clone()),
        filters,
    })
}

fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias(&a.expr),
        other => other,
    }
}

/// `filter` (or any expression) with its parameters replaced by their
/// values.
pub(in crate::planner) fn bind(filter: &Expr, params: &[ScalarValue]) -> Result<Expr> {
    let bound = filter.clone().transform(|e| match e {
        Expr::Placeholder(p) => {
            let value =
                p.id.trim_start_matches('$')
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| params.get(i.checked_sub(1)?))
                    .ok_or_else(|| {
                        datafusion::error::DataFusionError::Execution(format!(
                            "statement needs parameter {}, none was bound",
                            p.id
                        ))
                    })?;
            Ok(Transformed::yes(Expr::Literal(value.clone(), None)))
        }
        other => Ok(Transformed::no(other)),
    });
    bound
        .map(|t| t.data)
        .map_err(|e| Error::new(sqlstate::PROTOCOL_VIOLATION, e.to_string()))
}

impl PointQuery {
    /// The lookup of `columns` of `lens` (for another node's request).
    pub fn of_columns(lens: Lens, columns: Vec<usize>, schema: Schema) -> PointQuery {
        PointQuery {
            lens: Some(lens),
            columns,
            schema: Arc::new(schema),
            filters: Vec::new(),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn columns(&self) -> &[usize] {
        &self.columns
    }

    /// The index ranges the filters select, with `params` bound.
    pub fn range(&self, params: &[ScalarValue]) -> Result<ScanRange> {
        let filters = self
            .filters
            .iter()
            .map(|f| bind(f, params))
            .collect::<Result<Vec<_>>>()?;
        match scan_range(&filters) {
            ScanRange::All => Err(Error::internal("a point query lost its filters")),
            range => Ok(range),
        }
    }

    /// Reads the lens rows of `range` ([`PointQuery::range`]).
    pub fn execute(
        &self,
        session: &SessionShared,
        view: View,
        range: &ScanRange,
    ) -> Result<RecordBatch> {
        let lens = self.lens_in(session);
        let view = view.for_range(range, lens.in_heads())?;
        self.read(&view, lens, range)
    }

    /// Streams the lens rows of a long list of subjects from blocking
    /// threads, [`SUBJECTS_PER_BATCH`] at a time, all from one snapshot:
    /// the client decodes one batch while the next are read. Up to one
    /// thread per core takes the next chunk of the list as it finishes
    /// one, so a thread the scheduler starts late (the client and the
    /// connection want the cores too) does less, rather than finishing
    /// last; batches come in the order they are read.
    pub fn stream(
        &self,
        session: &SessionShared,
        view: View,
        range: ScanRange,
    ) -> Result<SendableRecordBatchStream> {
        let view = view.for_range(&range, self.lens_in(session).in_heads())?;
        let ranges = Arc::new(match range {
            ScanRange::Each(ranges) => ranges,
            one => vec![one],
        });
        let chunks = ranges.len().div_ceil(SUBJECTS_PER_BATCH);
        let parts = (*CORES).min(MAX_PARTS).min(chunks).max(1);
        let next = Arc::new(AtomicUsize::new(0));
        let (query, lens) = (self.clone(), self.lens_in(session));
        Ok(blocking_stream(
            self.schema.clone(),
            parts,
            move |_, out| {
                loop {
                    let start = next.fetch_add(1, Ordering::Relaxed) * SUBJECTS_PER_BATCH;
                    if start >= ranges.len() {
                        return Ok(());
                    }
                    let chunk = &ranges[start..(start + SUBJECTS_PER_BATCH).min(ranges.len())];
                    let batch = query.read(&view, lens, &ScanRange::of(chunk.to_vec()))?;
                    if batch.num_rows() > 0 && !out.send(batch) {
                        return Ok(());
                    }
                }
            },
        ))
    }

    pub fn lens_in(&self, session: &SessionShared) -> Lens {
        self.lens.unwrap_or(session.settings().lens)
    }

    fn read(&self, view: &View, lens: Lens, range: &ScanRange) -> Result<RecordBatch> {
        let wanted = Wanted::of(Some(&self.columns));
        let mut rows = LensRows::only(wanted);
        view.for_each_resolution(range, lens, wanted.strings(), |r| {
            rows.push(r);
            Ok(true)
        })?;
        RecordBatch::try_new(self.schema.clone(), rows.finish_columns(&self.columns))
            .map_err(|e| Error::internal(e.to_string()))
    }
}

/// Subjects read per batch when a query lists many.
const SUBJECTS_PER_BATCH: usize = 64;

/// At most this many threads read one query's list of subjects.
const MAX_PARTS: usize = 4;

/// The cores this process may use (read once: the standard library reads
/// the cgroup's quota files on every call).
static CORES: std::sync::LazyLock<usize> =
    std::sync::LazyLock::new(|| std::thread::available_parallelism().map_or(1, |n| n.get()));

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{ArrayRef, ListArray, StringArray};
    use datafusion::arrow::datatypes::Int32Type;
    use futures::TryStreamExt;

    use super::*;
    use crate::planner::prepare::prepared::Fast;
    use crate::planner::{Engine, Output, Prepared, Session};
    use crate::storage::{Durability, Store};

    async fn prepare(session: &Session, sql: &str) -> Prepared {
        let action = session.parse(sql).unwrap().remove(0);
        session.prepare(action).await.unwrap()
    }

    async fn rows(session: &Session, p: &Prepared, params: Vec<ScalarValue>) -> Vec<String> {
        let Output::Rows(stream) = session.execute(p, params).await.unwrap() else {
            panic!("no rows");
        };
        let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
        let mut out: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                let objects = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                objects
                    .iter()
                    .map(|o| o.unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    }

    fn text(s: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(s.into()))
    }

    #[tokio::test]
    async fn every_spelling_of_a_point_lookup_takes_the_point_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some("n1"), Durability::Buffered).unwrap();
        let session = Engine::new(store).session("u");
        let insert = prepare(
            &session,
            "INSERT INTO assertions (subject, predicate, object, source) VALUES \
             ('a', 'p', 'x', 's'), ('a', 'q', 'y', 's'), ('b', 'p', 'z', 's')",
        )
        .await;
        session.execute(&insert, vec![]).await.unwrap();

        let one: [&str; 12] = [
            "SELECT object, source, tier FROM recency WHERE subject = $1",
            "SELECT object, source, tier FROM recency WHERE subject = $1::text",
            "SELECT object, source, tier FROM recency WHERE subject = CAST($1 AS varchar)",
            "SELECT object, source, tier FROM recency WHERE ($1 = (subject))",
            "SELECT object FROM recency r WHERE r.subject = $1",
            "SELECT object AS o FROM recency WHERE subject = $1::varchar",
            "SELECT object FROM authority WHERE subject = $1",
            "SELECT object FROM beliefs WHERE subject IN ($1)",
            "SELECT object FROM recency WHERE subject = ANY($1::text[])",
            "SELECT object FROM recency WHERE subject = ANY(ARRAY[$1])",
            "SELECT object FROM recency WHERE subject = ANY(ARRAY[$1::text])",
            "SELECT object FROM recency WHERE subject IN ($1, 'zz')",
        ];
        for sql in one {
            let p = prepare(&session, sql).await;
            assert!(
                matches!(p.fast(), Some(Fast::Point(_))),
                "not a point lookup: {sql}"
            );
            let value = if sql.contains("ANY($1") {
                let list = ListArray::from_iter_primitive::<Int32Type, _, _>([Some([Some(1)])]);
                let strings: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
                let list = ListArray::new(
                    Arc::new(datafusion::arrow::datatypes::Field::new_list_field(
                        datafusion::arrow::datatypes::DataType::Utf8,
                        true,
                    )),
                    list.offsets().clone(),
                    strings,
                    None,
                );
                ScalarValue::List(Arc::new(list))
            } else {
                text("a")
            };
            assert_eq!(rows(&session, &p, vec![value]).await, ["x", "y"], "{sql}");
        }
        let pair: [&str; 4] = [
            "SELECT object FROM recency WHERE subject = $1 AND predicate = $2",
            "SELECT object FROM recency WHERE predicate = $2::text AND (subject = $1)",
            "SELECT object FROM recency WHERE subject = 'a' AND predicate = 'q'",
            "SELECT object FROM recency WHERE subject = 'a'::text AND predicate IN ('q')",
        ];
        for sql in pair {
            let p = prepare(&session, sql).await;
            assert!(
                matches!(p.fast(), Some(Fast::Point(_))),
                "not a point lookup: {sql}"
            );
            let params = if sql.contains('$') {
                vec![text("a"), text("q")]
            } else {
                vec![]
            };
            assert_eq!(rows(&session, &p, params).await, ["y"], "{sql}");
        }
        let null = prepare(&session, one[1]).await;
        assert!(
            rows(&session, &null, vec![ScalarValue::Utf8(None)])
                .await
                .is_empty()
        );

        let general: [&str; 5] = [
            "SELECT object FROM recency WHERE subject = $1 ORDER BY object",
            "SELECT object FROM recency WHERE subject = $1 LIMIT 1",
            "SELECT object FROM recency WHERE subject = $1 AND object = 'x'",
            "SELECT upper(object) FROM recency WHERE subject = $1",
            "SELECT object FROM recency",
        ];
        for sql in general {
            let p = prepare(&session, sql).await;
            assert!(p.fast().is_none(), "taken as a point lookup: {sql}");
        }
        let p = prepare(&session, general[2]).await;
        assert_eq!(rows(&session, &p, vec![text("a")]).await, ["x"]);
    }
}
