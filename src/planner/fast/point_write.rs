//! INSERT … SELECT over a point lookup — how an application retracts a
//! pair's current winner: `INSERT INTO retractions (assertion_id, reason)
//! SELECT assertion_id, $2 FROM recency WHERE subject = $1 AND predicate =
//! 'status'` — without a physical plan per execution (DataFusion's
//! physical planning and optimising cost more than the write). Recognised
//! on the optimised plan: the Dml's input is a projection over a point
//! lookup ([`super::point_query`]). Each execution reads the lookup's rows
//! from heads, evaluates the projection over them and hands them to the
//! table's own INSERT sink — the same sink, so the same checks and the
//! same ingest, as the general path.
//!
//! Nothing here clones the session's DataFusion state: `ctx.state()` and
//! `ctx.task_ctx()` copy every function registry (hundreds of entries),
//! the top user-space cost of a retraction on its connection thread in
//! `perf` (docs/benchmarks.md, eighth session). Our
//! tables' `insert_into` and sinks use neither the state nor the task
//! context they are given, so one bare state and one task context serve
//! every execution.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchemaRef, ScalarValue};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::ExecutionProps;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, LogicalPlan, TableSource, WriteOp};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_plan::execute_stream;

use super::point_query::{PointQuery, bind};
use crate::error::Result;
use crate::planner::SessionShared;
use crate::planner::errors::from_datafusion;

/// What `insert_into` is handed (our tables ignore it).
static BARE_STATE: LazyLock<SessionState> = LazyLock::new(|| SessionStateBuilder::new().build());

/// What the sink runs with (our sinks ignore it).
static BARE_TASK: LazyLock<Arc<TaskContext>> = LazyLock::new(|| Arc::new(TaskContext::default()));

#[derive(Clone)]
pub struct PointWrite {
    lookup: PointQuery,
    /// The projection, parameters unbound, over the lookup's rows.
    exprs: Vec<Expr>,
    rows: DFSchemaRef,
    /// The rows the table's sink takes.
    output: SchemaRef,
    target: Arc<dyn TableSource>,
}

impl std::fmt::Debug for PointWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointWrite")
            .field("lookup", &self.lookup)
            .field("exprs", &self.exprs)
            .finish()
    }
}

/// Recognises an INSERT (no RETURNING) of a projection over a point lookup.
pub fn recognise(optimised: &LogicalPlan) -> Option<PointWrite> {
    let LogicalPlan::Dml(dml) = optimised else {
        return None;
    };
    if dml.op != WriteOp::Insert(InsertOp::Append) {
        return None;
    }
    let LogicalPlan::Projection(p) = dml.input.as_ref() else {
        return None;
    };
    Some(PointWrite {
        lookup: super::point_query::recognise(&p.input)?,
        exprs: p.expr.clone(),
        rows: p.input.schema().clone(),
        output: Arc::new(p.schema.as_arrow().clone()),
        target: dml.target.clone(),
    })
}

impl PointWrite {
    /// Runs the write; its stream yields the row count as the sink
    /// reports it. `None`: the lookup lists more than `max_points`
    /// subjects (read on a blocking thread by the general path).
    pub async fn execute(
        &self,
        session: &SessionShared,
        params: &[ScalarValue],
        max_points: usize,
    ) -> Result<Option<SendableRecordBatchStream>> {
        let df = |e| from_datafusion(&e);
        let range = self.lookup.range(params)?;
        if range.is_wide() || range.points() > max_points || !session.reads_alone(&range) {
            return Ok(None);
        }
        let rows = self.lookup.execute(session, session.view(), &range)?;
        // As `SessionState::create_physical_expr`: coerced (a bound
        // parameter's type may differ from its placeholder's), then
        // planned; the plan's function rewrites already ran.
        let simplifier = ExprSimplifier::new(
            SimplifyContext::builder()
                .with_schema(self.rows.clone())
                .build(),
        );
        let props = ExecutionProps::new();
        let planning = PhysicalPlanningContext::default();
        let columns = self
            .exprs
            .iter()
            .map(|e| {
                let coerced = simplifier
                    .coerce(bind(e, params)?, &self.rows)
                    .map_err(df)?;
                let physical =
                    create_physical_expr(&coerced, &self.rows, &props, &planning).map_err(df)?;
                physical
                    .evaluate(&rows)
                    .and_then(|v| v.into_array(rows.num_rows()))
                    .map_err(df)
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(self.output.clone(), columns)
            .map_err(|e| crate::error::Error::internal(e.to_string()))?;
        let input = MemorySourceConfig::try_new_exec(&[vec![batch]], self.output.clone(), None)
            .map_err(df)?;
        let table = source_as_provider(&self.target).map_err(df)?;
        let sink = table
            .insert_into(&*BARE_STATE, input, InsertOp::Append)
            .await
            .map_err(df)?;
        execute_stream(sink, BARE_TASK.clone())
            .map(Some)
            .map_err(df)
    }
}

#[cfg(test)]
mod tests {
    use crate::planner::prepare::prepared::Fast;
    use crate::planner::{Engine, Output};
    use crate::storage::{Durability, Store};

    #[tokio::test]
    async fn a_retraction_of_a_lens_winner_skips_physical_planning() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some("n1"), Durability::Buffered).unwrap();
        let session = Engine::new(store).session("u");
        let run = |sql: &'static str| {
            let session = &session;
            async move {
                let action = session.parse(sql).unwrap().remove(0);
                let p = session.prepare(action).await.unwrap();
                (
                    matches!(p.fast(), Some(Fast::Write(_))),
                    session.execute(&p, vec![]).await.unwrap(),
                )
            }
        };
        run(
            "INSERT INTO assertions (subject, predicate, object, source, observed_at) VALUES \
             ('a', 'p', 'x', 's', '2024-01-01'), ('a', 'p', 'y', 's', '2024-02-01')",
        )
        .await;
        let tag = |o: Output| match o {
            Output::Command { tag, .. } => tag,
            _ => panic!("not a command"),
        };
        let retract = "INSERT INTO retractions (assertion_id, reason) \
                       SELECT assertion_id, 'r' FROM recency WHERE subject = 'a' AND predicate = 'p'";
        let (fast, out) = run(retract).await;
        assert!(fast, "not recognised");
        assert_eq!(tag(out), "INSERT 0 1");
        let (_, out) = run(retract).await;
        assert_eq!(tag(out), "INSERT 0 1");
        let (_, out) = run(retract).await;
        assert_eq!(tag(out), "INSERT 0 0");
        // With RETURNING, or a filter that is not a lookup: the general path.
        let (fast, _) = run("INSERT INTO retractions (assertion_id) \
             SELECT assertion_id FROM recency WHERE object = 'x'")
        .await;
        assert!(!fast);
    }
}
