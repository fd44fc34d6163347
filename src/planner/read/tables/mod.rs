//! StemeDB's tables as DataFusion TableProviders, one file each. Each
//! connection gets its own instances, bound to its session, so scans read
//! that connection's `stemedb.lens` / `stemedb.as_of` and inserts join its
//! transaction.

mod assertions;
mod cluster_scan;
mod lens;
mod retractions;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::datasource::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

pub use assertions::AssertionsTable;
pub use cluster_scan::{ClusterTable, Placement, Placing, owned_rows, reads_alone};
pub use lens::{PairKind, PairTable};
pub use retractions::RetractionsTable;

use crate::error::Result;
use crate::lens::{Head, Lens, LensRow, Resolution};
use crate::model::{Assertion, Hlc, Id, Micros, Strings};
use crate::planner::SessionShared;
use crate::planner::errors::external;
use crate::storage::{ReadPoint, ScanRange, Store, has_heads};

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
        let table = match &session.cluster {
            Some(replicas) => Arc::new(ClusterTable::new(
                name,
                table,
                session.clone(),
                replicas.clone(),
            )),
            None => table,
        };
        ctx.register_table(name, table)?;
    }
    Ok(())
}

/// How many retractions per point range a point scan loads up front
/// rather than looking each claim's up (a subject has a few claims per
/// predicate, five or so predicates).
const RETRACTIONS_PER_POINT: u64 = 16;

/// What a scan may see: its statement's read point (a snapshot, less the
/// COPYs still being applied, see [`ReadPoint`]), and with time travel only
/// writes accepted at or before `as_of`.
#[derive(Clone)]
pub struct View {
    store: Arc<Store>,
    read: ReadPoint,
    as_of: Option<Micros>,
    /// For full scans: every retraction, loaded once (retractions are few
    /// next to assertions), instead of one lookup per claim.
    retracted_at: Option<Arc<HashMap<Id, Hlc>>>,
}

impl View {
    pub fn new(store: Arc<Store>, read: ReadPoint, as_of: Option<Micros>) -> View {
        View {
            read,
            store,
            as_of,
            retracted_at: None,
        }
    }

    /// Prepares the view for a scan of `range`: a full scan loads the
    /// retractions up front, and so does a point scan when there are few
    /// retractions next to the claims it will check (a map lookup per
    /// claim instead of a RocksDB get; an empty store loads nothing).
    /// `pairs`: the scan reads pairs, which need no retractions when they
    /// come from their heads ([`View::reads_heads`]).
    pub fn for_range(mut self, range: &ScanRange, pairs: bool) -> Result<View> {
        if pairs && self.reads_heads(range) {
            return Ok(self);
        }
        let few = || {
            self.store
                .estimated_retractions()
                .is_some_and(|n| n <= RETRACTIONS_PER_POINT * range.points() as u64)
        };
        if range.is_wide() || few() {
            let mut map = HashMap::new();
            self.read.for_each_retraction(|r| {
                map.insert(r.assertion_id, r.hlc);
                Ok(true)
            })?;
            self.retracted_at = Some(Arc::new(map));
        }
        Ok(self)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where the scan reads from.
    pub fn read(&self) -> &ReadPoint {
        &self.read
    }

    /// Whether a write stamped `hlc` is visible to this statement and had
    /// been accepted by `as_of`.
    pub fn sees(&self, hlc: Hlc) -> bool {
        self.read.sees(hlc) && self.as_of.is_none_or(|as_of| hlc.physical <= as_of)
    }

    /// Whether the assertion is visible.
    pub fn visible(&self, a: &Assertion) -> bool {
        self.sees(a.hlc)
    }

    /// Whether a retraction of the assertion is visible.
    pub fn retracted(&self, a: &Assertion) -> Result<bool> {
        let stamped = match &self.retracted_at {
            Some(map) => map.get(&a.id).copied(),
            None => self.read.get_retraction(&a.id)?.map(|r| r.hlc),
        };
        Ok(stamped.is_some_and(|hlc| self.sees(hlc)))
    }

    /// Whether the pairs of `range` can be read from their heads: without
    /// time travel and while no COPY is half applied, the stored heads are
    /// exactly what this statement's claims resolve to.
    pub fn reads_heads(&self, range: &ScanRange) -> bool {
        self.as_of.is_none() && self.read.hides_nothing() && has_heads(range)
    }

    /// Visits the head of every pair in `range` with live claims — stored,
    /// or resolved from the claims this view sees — until `visit` returns
    /// false.
    pub fn for_each_head(
        &self,
        range: &ScanRange,
        mut visit: impl FnMut(Head) -> Result<bool>,
    ) -> Result<()> {
        if self.reads_heads(range) {
            return self.read.for_each_head(range, &mut visit).map(|_| ());
        }
        self.read.for_each_pair(range, |claims| {
            let live = self.live(&claims)?;
            match Head::of(&live) {
                Some(head) => visit(head),
                None => Ok(true),
            }
        })
    }

    /// Visits every pair in `range` with live claims as `lens` resolves it
    /// — from its stored head (decoding only that lens's winner and the
    /// counts), or from the claims this view sees.
    pub fn for_each_resolution(
        &self,
        range: &ScanRange,
        lens: Lens,
        strings: Strings,
        mut visit: impl FnMut(&Resolution<'_>) -> Result<bool>,
    ) -> Result<()> {
        if self.reads_heads(range) {
            let mut row = LensRow::blank();
            let mut visit_stored = |v: &[u8]| {
                Head::decode_lens_into(v, lens, strings, &mut row)?;
                visit(&row.resolution())
            };
            return self
                .read
                .for_each_stored_head(range, &mut visit_stored)
                .map(|_| ());
        }
        self.for_each_head(range, |head| visit(&head.resolution(lens)))
    }

    /// The live claims among one pair's claims.
    pub fn live<'a>(&self, claims: &'a [Assertion]) -> Result<Vec<&'a Assertion>> {
        let mut live = Vec::with_capacity(claims.len());
        for a in claims {
            if self.visible(a) && !self.retracted(a)? {
                live.push(a);
            }
        }
        Ok(live)
    }
}

/// The session's view, prepared for a scan of `range` ([`View::for_range`])
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
