//! StemeDB's tables as DataFusion TableProviders, one file each. Each
//! connection gets its own instances, bound to its session, so scans read
//! that connection's `stemedb.lens` / `stemedb.as_of` and inserts join its
//! transaction.

mod assertions;
pub mod changes;
mod cluster_scan;
pub mod explain;
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
pub const TABLE_NAMES: [&str; 7] = [
    "assertions",
    "retractions",
    "recency",
    "authority",
    "consensus",
    "beliefs",
    "conflicts",
];

/// `stemedb.explain`'s name among the tables a cluster scan may ask for.
pub const EXPLAIN_TABLE: &str = "stemedb.explain";

/// The table `name` of this node's own store.
pub fn local_table(name: &str, session: &Arc<SessionShared>) -> Option<Arc<dyn TableProvider>> {
    let pair =
        |kind| Some(Arc::new(PairTable::new(session.clone(), kind)) as Arc<dyn TableProvider>);
    match name {
        "assertions" => Some(Arc::new(AssertionsTable::new(session.clone()))),
        "retractions" => Some(Arc::new(RetractionsTable::new(session.clone()))),
        "recency" => pair(PairKind::Lens(Some(Lens::Recency))),
        "authority" => pair(PairKind::Lens(Some(Lens::Authority))),
        "consensus" => pair(PairKind::Lens(Some(Lens::Consensus))),
        "beliefs" => pair(PairKind::Lens(None)),
        "conflicts" => pair(PairKind::Conflicts),
        EXPLAIN_TABLE => Some(Arc::new(explain::ExplainTable::new(session.clone()))),
        changes::CHANGES_TABLE => Some(Arc::new(changes::ChangesTable::new(session.clone()))),
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
        ctx.register_table(name, table(name, session))?;
    }
    Ok(())
}

/// The table `name` (one of [`TABLE_NAMES`], [`EXPLAIN_TABLE`] or
/// [`changes::CHANGES_TABLE`]) as a
/// session reads it: this node's own, or in a cluster read over it.
pub fn table(name: &'static str, session: &Arc<SessionShared>) -> Arc<dyn TableProvider> {
    let table = local_table(name, session).expect("every table name has a table");
    if session.cluster.alone() {
        return table;
    }
    Arc::new(ClusterTable::new(
        name,
        table,
        session.clone(),
        session.cluster.clone(),
    ))
}

/// `stemedb.changes` as a session reads it: up to the resolved frontier,
/// over the cluster.
pub fn changes(session: &Arc<SessionShared>) -> Arc<dyn TableProvider> {
    let feed = table(changes::CHANGES_TABLE, session);
    Arc::new(changes::Resolved::new(feed, session.clone()))
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
