//! The serving side of a cluster scan: another node (the coordinator)
//! asks this one for the rows of a table whose subjects it reads
//! ([`super::Readers`]); they come from this node's own store, with the
//! coordinator's filters, projection, lens and `stemedb.as_of`.

use datafusion::common::DFSchema;
use datafusion::execution::SendableRecordBatchStream;

use super::errors::from_datafusion;
use super::tables::{Placement, local_table, owned_rows, with_placement};
use super::{Engine, ScanRequest};
use crate::error::{Error, Result};

impl Engine {
    /// Runs `request` over this node's store.
    pub async fn serve_scan(&self, request: ScanRequest) -> Result<SendableRecordBatchStream> {
        let session = self.local_session("stemedb");
        let shared = session.shared().clone();
        {
            let mut settings = shared.settings.write().unwrap_or_else(|e| e.into_inner());
            settings.lens = request.lens;
            settings.as_of = request.as_of;
        }
        let table = local_table(&request.table, &shared)
            .ok_or_else(|| Error::internal(format!("no table {} to scan", request.table)))?;
        let schema = table.schema();
        let ctx = session.context();
        let bare = DFSchema::try_from(schema.as_ref().clone()).map_err(|e| from_datafusion(&e))?;
        let filters = request
            .filters
            .iter()
            .map(|f| ctx.parse_sql_expr(f, &bare))
            .collect::<datafusion::error::Result<Vec<_>>>()
            .map_err(|e| from_datafusion(&e))?;
        let placement = Placement::of(&request.table, &schema).map_err(|e| from_datafusion(&e))?;
        let (read, at, keep) = with_placement(request.projection.as_ref(), placement);
        let out = match &request.projection {
            Some(p) => std::sync::Arc::new(schema.project(p).map_err(|e| Error::internal(e))?),
            None => schema.clone(),
        };
        let state = ctx.state();
        let plan = table
            .scan(&state, read.as_ref(), &filters, None)
            .await
            .map_err(|e| from_datafusion(&e))?;
        let me = self.store().node_id().to_string();
        owned_rows(
            plan,
            ctx.task_ctx(),
            out,
            placement,
            at,
            keep,
            request.readers,
            me,
            self.store().clone(),
        )
        .map_err(|e| from_datafusion(&e))
    }
}
