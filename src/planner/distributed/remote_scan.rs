//! The serving side of a cluster scan: another node (the coordinator)
//! asks this one for the rows of a table whose subjects it reads
//! ([`crate::cluster::Readers`]); they come from this node's own store, with the
//! coordinator's filters, projection, lens and `stemedb.as_of`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use futures::stream::BoxStream;

use datafusion::common::DFSchema;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::utils::conjunction;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_plan::filter::FilterExec;
use datafusion_proto::bytes::Serializeable;

use crate::cluster::{PointRequest, ReadService, ScanRequest, Share};
use crate::error::{Error, Result};
use crate::planner::Engine;
use crate::planner::errors::from_datafusion;
use crate::planner::prepare::offload::run_plan;
use crate::planner::read::tables::{Placement, Placing, local_table, owned_rows};

/// The context remote scans are planned in: nothing registered (each scan
/// builds its one table), so serving a scan costs no session set-up.
static SERVING: LazyLock<SessionContext> =
    LazyLock::new(|| SessionContext::new_with_config(crate::planner::datafusion_config()));

/// The engine answers the reads other nodes send this one.
#[async_trait::async_trait]
impl ReadService for Engine {
    async fn serve_scan(
        &self,
        request: ScanRequest,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        // Through the one runner every DataFusion run takes: on the query
        // runtime if this were a connection thread, in place otherwise.
        let engine = self.clone();
        let run = async move { engine.answer_scan(request).await };
        let rows = run_plan(self.query_runtime.as_ref(), run).await?;
        Ok(rows.map(|r| r.map_err(|e| from_datafusion(&e))).boxed())
    }

    fn serve_point(&self, request: PointRequest) -> Result<RecordBatch> {
        self.answer_point(request)
    }
}

impl Engine {
    /// Runs `request` over this node's store.
    async fn answer_scan(&self, request: ScanRequest) -> Result<SendableRecordBatchStream> {
        let shared = self.shared_alone("stemedb");
        {
            let mut settings = shared.settings.write().unwrap_or_else(|e| e.into_inner());
            settings.lens = request.lens;
        }
        shared.read_for_coordinator(request.as_of, request.weighing);
        let table = local_table(&request.table, &shared)
            .ok_or_else(|| Error::internal(format!("no table {} to scan", request.table)))?;
        let schema = table.schema();
        let ctx = &*SERVING;
        let bare = Arc::new(DFSchema::try_from(schema.as_ref().clone()).map_err(df)?);
        // Simplified as the coordinator's optimiser left them (a literal
        // list stays a list), so the table turns them into the same index
        // ranges; and applied again above the scan, so a filter the table
        // took as exact holds even if its shape changed on the way.
        let simplifier =
            ExprSimplifier::new(SimplifyContext::builder().with_schema(bare.clone()).build());
        let mut filters = Vec::new();
        let task = ctx.task_ctx();
        for bytes in &request.filters {
            let filter = Expr::from_bytes_with_ctx(bytes, &task).map_err(df)?;
            filters.push(simplifier.simplify(filter).map_err(df)?);
        }
        let placement = Placement::of(&request.table, &schema).map_err(df)?;
        let out = match &request.projection {
            Some(p) => Arc::new(schema.project(p).map_err(Error::internal)?),
            None => schema.clone(),
        };
        let state = ctx.state();
        let mut plan = table.scan(&state, None, &filters, None).await.map_err(df)?;
        if let Some(all) = conjunction(filters) {
            let predicate = state.create_physical_expr(all, &bare).map_err(df)?;
            plan = Arc::new(FilterExec::try_new(predicate, plan).map_err(df)?);
        }
        let share = Share {
            readers: request.readers,
            node: self.store().node_id().to_string(),
            instead_of: request.instead_of,
        };
        owned_rows(
            plan,
            ctx.task_ctx(),
            out,
            Placing {
                placement,
                at: placement.column(),
                keep: request.projection,
            },
            share,
            self.store().clone(),
        )
        .map_err(df)
    }
}

fn df(e: datafusion::error::DataFusionError) -> Error {
    from_datafusion(&e)
}
