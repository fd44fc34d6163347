//! Lens heads in storage: the `heads` column family holds one [`Head`] per
//! (subject, predicate) with live claims, keyed like `by_subject` without
//! the id. The single writer keeps them current in the same `WriteBatch`
//! as the claims and retractions that change them ([`HeadUpdates`]), so a
//! snapshot never shows a head that disagrees with the claims it shows.
//! A new claim updates its pair's head in place; a retraction recomputes
//! the pair from its claims. A large COPY defers its heads: its chunks are
//! written without them (they are hidden from readers until the COPY is
//! published, and readers resolve from claims meanwhile), then each pair it
//! touched is recomputed once ([`PairsToRecompute`]) — one head write per
//! pair instead of one per claim. Recovery does the same when it finishes
//! an interrupted COPY.

use std::collections::{HashMap, HashSet};

use rocksdb::{DB, WriteBatch};

use super::keys::*;
use super::scan::{ScanRange, for_each_between, subject_range_prefix, within_one_subject};
use super::{ReadPoint, cf};
use crate::error::{Error, Result};
use crate::lens::Head;
use crate::model::{Assertion, Id};

/// A pair touched by the batch being built.
struct Pending<'a> {
    /// The head as stored before the batch (`None`: no live claims).
    head: Option<Head>,
    /// Claims of the pair new in this batch.
    added: Vec<&'a Assertion>,
    /// A claim of the pair was retracted: recompute from its claims.
    recompute: bool,
}

/// The head changes of one batch, collected as its writes are merged.
#[derive(Default)]
pub(super) struct HeadUpdates<'a> {
    pairs: HashMap<Vec<u8>, Pending<'a>>,
    /// Claims new in this batch, by id.
    new: HashMap<Id, &'a Assertion>,
}

impl<'a> HeadUpdates<'a> {
    fn pending(&mut self, db: &DB, subject: &str, predicate: &str) -> Result<&mut Pending<'a>> {
        let key = subject_prefix(subject, Some(predicate));
        if !self.pairs.contains_key(&key) {
            let head = match db.get_pinned_cf(cf(db, CF_HEADS)?, &key)? {
                Some(v) => Some(Head::decode(&v)?),
                None => None,
            };
            let pending = Pending {
                head,
                added: Vec::new(),
                recompute: false,
            };
            self.pairs.insert(key.clone(), pending);
        }
        Ok(self.pairs.get_mut(&key).expect("inserted above"))
    }

    /// A claim is being written (for the first time: its stamp is new).
    pub fn assertion(&mut self, db: &DB, a: &'a Assertion) -> Result<()> {
        if self.new.insert(a.id, a).is_some() {
            return Ok(()); // twice in one batch: counted once
        }
        let pending = self.pending(db, &a.subject, &a.predicate)?;
        pending.added.push(a);
        if !pending.recompute {
            match &mut pending.head {
                Some(head) => head.add(a),
                None => pending.head = Head::of(&[a]),
            }
        }
        Ok(())
    }

    /// Pairs whose heads the batch changes.
    pub fn pairs(&self) -> usize {
        self.pairs.len()
    }

    /// The pair stored under `key` (a `heads` key) is to be recomputed
    /// from its claims.
    pub fn recompute(&mut self, key: &[u8]) {
        let pending = Pending {
            head: None,
            added: Vec::new(),
            recompute: true,
        };
        match self.pairs.get_mut(key) {
            Some(p) => p.recompute = true,
            None => {
                self.pairs.insert(key.to_vec(), pending);
            }
        }
    }

    /// A retraction of claim `id` is being written; the claim's subject,
    /// if it is stored (or in this batch).
    pub fn retraction(&mut self, db: &DB, id: &Id) -> Result<Option<String>> {
        let (subject, predicate) = match self.new.get(id) {
            Some(a) => (a.subject.clone(), a.predicate.clone()),
            None => match db.get_pinned_cf(cf(db, CF_ASSERTIONS)?, id.0)? {
                Some(v) => {
                    let a = Assertion::decode_keyed(&v, *id)?;
                    (a.subject, a.predicate)
                }
                None => return Ok(None), // nothing to retract: no head changes
            },
        };
        self.pending(db, &subject, &predicate)?.recompute = true;
        Ok(Some(subject))
    }

    /// Adds the changed heads to `batch`; `retracted` are the claims the
    /// batch retracts.
    pub fn finish(self, db: &DB, batch: &mut WriteBatch, retracted: &HashSet<Id>) -> Result<()> {
        let heads = cf(db, CF_HEADS)?;
        // In key order, so recomputing pairs seeks one iterator forward.
        let mut pairs: Vec<(Vec<u8>, Pending<'a>)> = self.pairs.into_iter().collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut claims = None;
        for (key, pending) in pairs {
            let head = if pending.recompute {
                if claims.is_none() {
                    claims = Some(PairClaims::new(db)?);
                }
                let claims = claims.as_mut().expect("set above");
                claims.live_head(&key, &pending.added, retracted)?
            } else {
                pending.head
            };
            match head {
                Some(head) => batch.put_cf(heads, key, head.encode()),
                None => batch.delete_cf(heads, key),
            }
        }
        Ok(())
    }
}

/// Reads pairs' stored claims (the latest state) to recompute their heads.
struct PairClaims<'db> {
    db: &'db DB,
    it: rocksdb::DBRawIterator<'db>,
    /// Whether any retraction is stored (if none, no claim needs a lookup).
    any_retraction: bool,
}

impl<'db> PairClaims<'db> {
    fn new(db: &'db DB) -> Result<PairClaims<'db>> {
        let mut options = rocksdb::ReadOptions::default();
        // Every seek stays within one subject: prefix bloom filters apply.
        // (Pairs come in key order: RocksDB's automatic read ahead helps.)
        options.set_prefix_same_as_start(true);
        let it = db.raw_iterator_cf_opt(cf(db, CF_BY_SUBJECT)?, options);
        let mut first = db.raw_iterator_cf(cf(db, CF_RETRACTIONS)?);
        first.seek_to_first();
        let any_retraction = first.valid();
        first.status()?;
        Ok(PairClaims {
            db,
            it,
            any_retraction,
        })
    }

    /// The head of the pair stored under `key`, from its stored claims and
    /// `added` (new in the batch), less every retracted one.
    fn live_head(
        &mut self,
        key: &[u8],
        added: &[&Assertion],
        retracted: &HashSet<Id>,
    ) -> Result<Option<Head>> {
        let mut claims: Vec<Assertion> = Vec::new();
        self.it.seek(key);
        while let (Some(k), Some(v)) = (self.it.key(), self.it.value()) {
            if !k.starts_with(key) {
                break;
            }
            claims.push(super::scan::by_subject_entry(k, v)?);
            self.it.next();
        }
        self.it.status()?;
        claims.extend(added.iter().map(|a| (*a).clone()));
        let retractions = cf(self.db, CF_RETRACTIONS)?;
        let mut live = Vec::with_capacity(claims.len());
        for a in &claims {
            let stored = || -> Result<bool> {
                Ok(self.any_retraction && self.db.get_pinned_cf(retractions, a.id.0)?.is_some())
            };
            if !retracted.contains(&a.id) && !stored()? {
                live.push(a);
            }
        }
        Ok(Head::of(&live))
    }
}

/// Whether a scan of `range` can read heads (a predicate alone has no
/// index into them: its pairs are resolved from claims).
pub fn has_heads(range: &ScanRange) -> bool {
    match range {
        ScanRange::Predicate(_) => false,
        ScanRange::Each(ranges) => ranges.iter().all(has_heads),
        _ => true,
    }
}

impl ReadPoint {
    /// Visits the head of every pair in `range` (see [`has_heads`]), in
    /// key order, until `visit` returns false.
    pub fn for_each_head(
        &self,
        range: &ScanRange,
        visit: &mut dyn FnMut(Head) -> Result<bool>,
    ) -> Result<bool> {
        self.for_each_stored_head(range, &mut |v| visit(Head::decode(v)?))
    }

    /// Visits the stored (encoded) head of every pair in `range`.
    pub fn for_each_stored_head(
        &self,
        range: &ScanRange,
        visit: &mut dyn FnMut(&[u8]) -> Result<bool>,
    ) -> Result<bool> {
        match range {
            ScanRange::Predicate(_) => Err(Error::internal("heads have no predicate index")),
            ScanRange::Each(ranges) if !range.is_wide() => self.seek_each_head(ranges, visit),
            ScanRange::Each(ranges) => {
                for range in ranges {
                    if !self.for_each_stored_head(range, visit)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            other => {
                let prefix = subject_range_prefix(other);
                let (from, to) = match other {
                    ScanRange::Slice { from, to } => (from.as_slice(), to.as_deref()),
                    _ => (prefix.as_slice(), None),
                };
                let mut going = true;
                let (db, options) = (self.db(), self.options());
                for_each_between(db, options, CF_HEADS, &prefix, from, to, |_, v| {
                    going = visit(v)?;
                    Ok(going)
                })?;
                Ok(going)
            }
        }
    }
}

impl ReadPoint {
    /// Point ranges (a list of subjects, or of subject and predicate)
    /// through one iterator, a seek per range; false if `visit` stopped.
    fn seek_each_head(
        &self,
        ranges: &[ScanRange],
        visit: &mut dyn FnMut(&[u8]) -> Result<bool>,
    ) -> Result<bool> {
        let mut options = self.options();
        within_one_subject(&mut options);
        let mut it = self
            .db()
            .raw_iterator_cf_opt(cf(self.db(), CF_HEADS)?, options);
        for range in ranges {
            let prefix = subject_range_prefix(range);
            it.seek(&prefix);
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if !k.starts_with(&prefix) {
                    break;
                }
                if !visit(v)? {
                    return Ok(false);
                }
                it.next();
            }
            it.status()?;
        }
        Ok(true)
    }
}

/// Rebuilds every head from the claims (a data dir of format 1, written
/// before heads existed), in batches.
pub(super) fn rebuild(db: &DB) -> Result<u64> {
    let heads = cf(db, CF_HEADS)?;
    let retractions = cf(db, CF_RETRACTIONS)?;
    let mut batch = WriteBatch::default();
    let mut pairs = 0u64;
    let mut group: Vec<Assertion> = Vec::new();
    let mut flush_group = |group: &mut Vec<Assertion>, batch: &mut WriteBatch| -> Result<()> {
        let Some(first) = group.first() else {
            return Ok(());
        };
        let key = subject_prefix(&first.subject, Some(&first.predicate));
        let mut live = Vec::with_capacity(group.len());
        for a in group.iter() {
            if db.get_pinned_cf(retractions, a.id.0)?.is_none() {
                live.push(a);
            }
        }
        if let Some(head) = Head::of(&live) {
            batch.put_cf(heads, key, head.encode());
            pairs += 1;
        }
        group.clear();
        if batch.len() >= 10_000 {
            db.write(std::mem::take(batch))?;
        }
        Ok(())
    };
    let options = rocksdb::ReadOptions::default();
    for_each_between(db, options, CF_BY_SUBJECT, &[], &[], None, |k, v| {
        let a = super::scan::by_subject_entry(k, v)?;
        let same = group
            .last()
            .is_some_and(|g| g.subject == a.subject && g.predicate == a.predicate);
        if !same {
            flush_group(&mut group, &mut batch)?;
        }
        group.push(a);
        Ok(true)
    })?;
    flush_group(&mut group, &mut batch)?;
    db.write(batch)?;
    Ok(pairs)
}

/// The pairs a deferred COPY touched, collected chunk by chunk and handed
/// to the writer to recompute in groups — at the end, or as soon as this
/// many are pending, so memory stays bounded on any COPY (a pair touched
/// again later is recomputed again).
#[derive(Default)]
pub struct PairsToRecompute {
    keys: std::collections::BTreeSet<Vec<u8>>,
}

/// Most pairs held before they are recomputed.
const MAX_PENDING_PAIRS: usize = 500_000;
/// Pairs recomputed per writer batch.
pub const RECOMPUTE_GROUP: usize = 5_000;

impl PairsToRecompute {
    pub fn add(&mut self, writes: &[super::Write]) {
        for w in writes {
            if let super::Write::Assertion(a) = w {
                self.keys
                    .insert(subject_prefix(&a.subject, Some(&a.predicate)));
            }
        }
    }

    pub fn is_full(&self) -> bool {
        self.keys.len() >= MAX_PENDING_PAIRS
    }

    /// Takes every pending pair, in key order, in groups.
    pub fn take_groups(&mut self) -> Vec<Vec<Vec<u8>>> {
        let keys: Vec<Vec<u8>> = std::mem::take(&mut self.keys).into_iter().collect();
        keys.chunks(RECOMPUTE_GROUP).map(<[_]>::to_vec).collect()
    }
}
