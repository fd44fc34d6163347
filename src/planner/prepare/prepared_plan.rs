//! A query is optimised once, when it is prepared, and each Execute only
//! binds the values into that plan and builds its physical plan — instead
//! of planning and optimising the whole statement again. Filters on
//! `subject` / `predicate` against a parameter (cast or not) are pushed
//! into the scan while still parameters ([`crate::planner::read::filters`]), so the bound
//! plan is an index read.

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, LogicalPlan, WriteOp};
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::SessionContext;

use super::prepared::{Planned, dml_tag};
use crate::error::Result;
use crate::planner::errors::from_datafusion;

/// The optimised plan of a query or an INSERT … SELECT, if it can be kept
/// (every parameter has a type and the plan does not read the clock).
pub fn optimise_once(ctx: &SessionContext, plan: &LogicalPlan) -> Option<LogicalPlan> {
    let is_query = match plan {
        LogicalPlan::Dml(dml) => dml.op == WriteOp::Insert(InsertOp::Append),
        _ => !matches!(
            plan,
            LogicalPlan::Explain(_)
                | LogicalPlan::Analyze(_)
                | LogicalPlan::Statement(_)
                | LogicalPlan::Copy(_)
                | LogicalPlan::Ddl(_)
        ),
    };
    let typed = plan
        .get_parameter_types()
        .is_ok_and(|types| types.values().all(Option::is_some));
    if !is_query || !typed || reads_the_clock(plan) {
        return None;
    }
    ctx.state().optimize(plan).ok()
}

/// Functions the optimiser replaces by the time it runs (`now()` is the
/// statement's start in PostgreSQL, not the time it was prepared).
const CLOCK: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "today",
];

fn reads_the_clock(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarFunction(f) = e
                    && CLOCK.contains(&f.func.name())
                {
                    found = true;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

/// Runs `optimised` with its parameters bound.
pub async fn run(
    ctx: &SessionContext,
    optimised: &LogicalPlan,
    params: Vec<ScalarValue>,
) -> Result<SendableRecordBatchStream> {
    let df = |e| from_datafusion(&e);
    let bound = optimised.clone().with_param_values(params).map_err(df)?;
    let state = ctx.state();
    let physical = state
        .query_planner()
        .create_physical_plan(&bound, &state)
        .await
        .map_err(df)?;
    execute_stream(physical, ctx.task_ctx()).map_err(df)
}

/// Starts `planned` with `params` bound — on `runtime` when the caller is
/// on a connection thread ([`super::offload`]) — and says whether it is an
/// INSERT (whose stream yields its row count). Every DataFusion run of a
/// prepared statement comes here: queries, INSERT … SELECT, COPY TO.
pub async fn start(
    ctx: &SessionContext,
    runtime: Option<&tokio::runtime::Handle>,
    planned: &Planned,
    params: Vec<ScalarValue>,
) -> Result<(SendableRecordBatchStream, Option<&'static str>)> {
    let df = |e| from_datafusion(&e);
    let ctx = ctx.clone();
    match &planned.optimised {
        Some(optimised) => {
            let plan = optimised.clone();
            let run = async move { run(&ctx, &plan, params).await };
            let stream = super::offload::run_plan(runtime, run).await?;
            Ok((stream, dml_tag(optimised)))
        }
        None => {
            let plan = planned.plan.clone().with_param_values(params).map_err(df)?;
            let insert = dml_tag(&plan);
            let run = async move {
                let frame = ctx.execute_logical_plan(plan).await.map_err(df)?;
                frame.execute_stream().await.map_err(df)
            };
            Ok((super::offload::run_plan(runtime, run).await?, insert))
        }
    }
}
