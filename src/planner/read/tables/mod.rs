//! StemeDB's tables as DataFusion TableProviders, one file each. Each
//! connection gets its own instances, bound to its session, so scans read
//! that connection's `stemedb.lens` / `stemedb.as_of` and inserts join its
//! transaction.

mod assertions;
mod cluster_scan;
mod lens;
mod retractions;

use std::sync::Arc;

use datafusion::datasource::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

pub use assertions::AssertionsTable;
pub use cluster_scan::{ClusterTable, Placement, Placing, owned_rows, reads_alone};
pub use lens::{PairKind, PairTable};
pub use retractions::RetractionsTable;

use crate::lens::Lens;
use crate::planner::SessionShared;
use crate::planner::errors::external;
use crate::storage::{ScanRange, View};

/// Table names, as clients see them.
pub const TABLE_NAMES: [&str; 6] = [
    "assertions",
    "retractions",
    "recency",
    "authority",
    "beliefs",
    "conflicts",
];

/// The table `name` of this node's own store.
pub fn local_table(name: &str, session: &Arc<SessionShared>) -> Option<Arc<dyn TableProvider>> {
    let pair =
        |kind| Some(Arc::new(PairTable::new(session.clone(), kind)) as Arc<dyn TableProvider>);
    match name {
        "assertions" => Some(Arc::new(AssertionsTable::new(session.clone()))),
        "retractions" => Some(Arc::new(RetractionsTable::new(session.clone()))),
        "recency" => pair(PairKind::Lens(Some(Lens::Recency))),
        "authority" => pair(PairKind::Lens(Some(Lens::Authority))),
        "beliefs" => pair(PairKind::Lens(None)),
        "conflicts" => pair(PairKind::Conflicts),
        _ => None,
    }
}

/// Registers every table in the session's default schema: this node's
/// own, or in a cluster the same tables read over the cluster.
pub fn register(
    ctx: &SessionContext,
    session: &Arc<SessionShared>,
) -> datafusion::error::Result<()> {
    for name in TABLE_NAMES {
        let table = local_table(name, session).expect("every table name has a table");
        let table = if session.cluster.alone() {
            table
        } else {
            Arc::new(ClusterTable::new(
                name,
                table,
                session.clone(),
                session.cluster.clone(),
            ))
        };
        ctx.register_table(name, table)?;
    }
    Ok(())
}

/// The session's [`View`], prepared for a scan of `range` ([`View::for_range`])
/// and, for a full scan, the slices it splits into (up to `split` of them;
/// one slice otherwise) — on a blocking thread, as both read storage.
pub async fn view_for_scan(
    session: &SessionShared,
    range: ScanRange,
    split: Option<usize>,
    pairs: bool,
) -> datafusion::error::Result<(View, Vec<ScanRange>)> {
    let view = session.view();
    tokio::task::spawn_blocking(move || {
        let view = view.for_range(&range, pairs)?;
        let slices = match (&range, split) {
            (ScanRange::All, Some(n)) => view.store().split_full_scan(n),
            _ => vec![range],
        };
        Ok((view, slices))
    })
    .await
    .map_err(|e| DataFusionError::Execution(format!("preparing a scan: {e}")))?
    .map_err(external)
}
