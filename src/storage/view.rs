//! What one statement's scans see: its [`ReadPoint`] (a snapshot, less the
//! COPYs still being applied) and, with time travel, only the writes
//! accepted by `as_of`. A [`View`] answers which claims of a pair are live
//! (visible and not retracted) and reads each pair's lens head — stored in
//! `heads` when the stored head is exactly what the statement would
//! resolve, else resolved from the claims it sees. Every table the SQL
//! layer scans reads through one.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::{ReadPoint, ScanRange, Store, has_heads};
use crate::error::Result;
use crate::lens::{Head, Lens, LensRow, Resolution, Weighing, resolve};
use crate::model::{Assertion, Hlc, Id, Micros, Strings};

/// The time a statement reads at: its `as_of`, or the time its
/// coordinator read at, or now.
pub fn read_time(as_of: Option<Micros>, read_at: Option<Micros>) -> Micros {
    as_of
        .or(read_at)
        .unwrap_or_else(|| crate::runtime::clock::since_epoch().as_micros() as Micros)
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
    /// The session's `stemedb.half_life`, and the time a coordinator read
    /// at (for a node reading on its behalf).
    half_life: Option<Micros>,
    read_at: Option<Micros>,
    /// How the `consensus` lens weighs this statement's claims, worked out
    /// when a consensus read first needs it (other reads never do).
    weighing: Arc<OnceLock<Weighing>>,
}

impl View {
    pub fn new(store: Arc<Store>, read: ReadPoint, as_of: Option<Micros>) -> View {
        View {
            read,
            store,
            as_of,
            retracted_at: None,
            half_life: None,
            read_at: None,
            weighing: Arc::default(),
        }
    }

    /// The same view, decaying `consensus` weights with `half_life` and
    /// (reading for a coordinator) ageing claims from `read_at`.
    pub fn weighed(self, half_life: Option<Micros>, read_at: Option<Micros>) -> View {
        View {
            half_life,
            read_at,
            weighing: Arc::default(),
            ..self
        }
    }

    /// How the `consensus` lens weighs this view's claims: the cluster's
    /// source trust, the half-life, and ages measured from `as_of`, or the
    /// coordinator's read time, or now.
    pub fn weighing(&self) -> &Weighing {
        self.weighing.get_or_init(|| {
            let trust = self.store.source_trust().unwrap_or_else(|e| {
                tracing::warn!("stemedb.source_trust cannot be read: {}", e.message);
                Arc::default()
            });
            Weighing {
                trust,
                half_life: self.half_life,
                at: read_time(self.as_of, self.read_at),
            }
        })
    }

    /// Prepares the view for a scan of `range`: a full scan loads the
    /// retractions up front, and so does a point scan when there are few
    /// retractions next to the claims it will check (a map lookup per
    /// claim instead of a RocksDB get; an empty store loads nothing).
    /// `pairs`: the scan reads pairs from their heads when it can, which
    /// needs no retractions ([`View::reads_heads`]); false for claims, and
    /// for a lens heads do not keep.
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
    /// counts), or from the claims this view sees (always for
    /// `consensus`, whose weights depend on trust and read time: a pair's
    /// claims are one prefix of `by_subject`, so a point lookup stays one
    /// short range read).
    pub fn for_each_resolution(
        &self,
        range: &ScanRange,
        lens: Lens,
        strings: Strings,
        mut visit: impl FnMut(&Resolution<'_>) -> Result<bool>,
    ) -> Result<()> {
        if !lens.in_heads() {
            return self.read.for_each_pair(range, |claims| {
                let live = self.live(&claims)?;
                match resolve(lens, &live, self.weighing()) {
                    Some(r) => visit(&r),
                    None => Ok(true),
                }
            });
        }
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
