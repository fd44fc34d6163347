//! Range scans. Equality filters on `subject`, `subject`+`predicate` and
//! `predicate` become prefix scans of an index; everything else is a full
//! scan of `by_subject`, whose order (subject, predicate, id) groups the
//! claims of one pair together for lens resolution.
//!
//! Every read goes through a [`ReadPoint`], so all reads of a statement
//! come from one RocksDB snapshot ([`super::visibility`]).
//!
//! Scans are callbacks rather than iterators because a RocksDB iterator
//! borrows the database; the planner runs them on a blocking thread and
//! turns them into a stream of record batches. A callback returns `false`
//! to stop early (a LIMIT, or a client that went away).

use rocksdb::{DB, ReadOptions};

use super::ReadPoint;
use super::keys::*;
use crate::error::{Error, Result};
use crate::model::{Assertion, Id, Retraction};

/// Which part of the data a scan reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ScanRange {
    #[default]
    All,
    Subject(String),
    SubjectPredicate(String, String),
    Predicate(String),
    /// A slice of a full scan: `by_subject` keys from `from` (inclusive)
    /// to `to` (exclusive; `None`: to the end), cut at subject boundaries.
    Slice {
        from: Vec<u8>,
        to: Option<Vec<u8>>,
    },
    /// Each of these ranges in turn (an IN list: one seek per value).
    Each(Vec<ScanRange>),
}

impl ScanRange {
    /// The union of `ranges` (none: an empty scan).
    pub fn of(mut ranges: Vec<ScanRange>) -> ScanRange {
        if ranges.len() == 1 {
            return ranges.remove(0);
        }
        ScanRange::Each(ranges)
    }

    /// How many point ranges (subjects) the scan seeks to.
    pub fn points(&self) -> usize {
        match self {
            ScanRange::Each(ranges) => ranges.len(),
            _ => 1,
        }
    }

    /// Whether the scan reads most of the store rather than seeking to
    /// a few subjects.
    pub fn is_wide(&self) -> bool {
        match self {
            ScanRange::All | ScanRange::Predicate(_) | ScanRange::Slice { .. } => true,
            ScanRange::Subject(_) | ScanRange::SubjectPredicate(..) => false,
            ScanRange::Each(ranges) => ranges.iter().any(ScanRange::is_wide),
        }
    }
}

/// Visits every key/value in `cf` from `from` up to `to` (exclusive)
/// that starts with `prefix`, in key order, reading with `options`.
pub(super) fn for_each_between(
    db: &DB,
    mut options: ReadOptions,
    cf: &str,
    prefix: &[u8],
    from: &[u8],
    to: Option<&[u8]>,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
) -> Result<()> {
    let handle = super::cf(db, cf)?;
    if let Some(to) = to {
        options.set_iterate_upper_bound(to.to_vec());
    }
    // Within one subject, let by_subject's prefix bloom filters skip
    // files; anything wider needs total order.
    let within_subject = (cf == CF_BY_SUBJECT || cf == CF_HEADS)
        && !prefix.is_empty()
        && from == prefix
        && to.is_none();
    options.set_total_order_seek(!within_subject);
    if within_subject {
        within_one_subject(&mut options);
    } else {
        options.fill_cache(fits_in_cache(db, handle));
    }
    let mut it = db.raw_iterator_cf_opt(handle, options);
    it.seek(from);
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        // An empty prefix is not compared: glibc's AVX-512 memcmp still
        // issues a masked load from the empty Vec's dangling pointer, and
        // the CPU's fault-suppression assist cost a sixth of a full scan.
        if (!prefix.is_empty() && !k.starts_with(prefix)) || !visit(k, v)? {
            return Ok(());
        }
        it.next();
    }
    it.status().map_err(Error::from)
}

/// Whether a pass over all of `cf` may fill the block cache: when its
/// live files take at most half of the cache. A larger family cannot stay
/// there anyway — each full scan would insert every block only to evict
/// it again before the next pass, and evict the blocks point lookups
/// need on the way: at 2.1 million pairs (heads 209 MB on disk)
/// `GROUP BY tier` took 0.77 s filling the cache and 0.40 s not, while
/// at 581 000 pairs (fits) not filling made it 0.14 → 0.21–0.30 s.
fn fits_in_cache(db: &DB, cf: &rocksdb::ColumnFamily) -> bool {
    let size = db
        .property_int_value_cf(cf, "rocksdb.live-sst-files-size")
        .ok()
        .flatten()
        .unwrap_or(0);
    size <= (super::BLOCK_CACHE_BYTES / 2) as u64
}

/// Read options for seeks that each stay within one subject: prefix
/// bloom filters apply (the seek is in prefix mode), and the read ahead is
/// explicit and small. Prefix mode returns every key of the seek's subject
/// in order but nothing sure after them, so every caller stops at the
/// first key outside its prefix; asking RocksDB to stop there too
/// (`prefix_same_as_start`) would run the prefix extractor (a call into
/// Rust) on every step. RocksDB's
/// automatic read ahead issues a readahead(2) call whenever an iterator
/// reads two blocks in sequence, even blocks the cache holds — 40 system
/// calls in a batch lookup of 1 000 subjects; with an explicit size it
/// reads ahead only on a cache miss, into a buffer.
pub(super) fn within_one_subject(options: &mut ReadOptions) {
    options.set_total_order_seek(false);
    options.set_readahead_size(POINT_READAHEAD);
}

/// Bytes read ahead on a cache miss within one subject: a few blocks.
const POINT_READAHEAD: usize = 16 << 10;

impl ReadPoint {
    /// Visits every key/value under `prefix` in `cf`, in key order.
    fn for_each_prefixed(
        &self,
        cf: &str,
        prefix: &[u8],
        visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        for_each_between(self.db(), self.options(), cf, prefix, prefix, None, visit)
    }

    /// The value stored under `key` in `cf`.
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<rocksdb::DBPinnableSlice<'_>>> {
        let handle = super::cf(self.db(), cf)?;
        Ok(self.db().get_pinned_cf_opt(handle, key, &self.options())?)
    }

    pub fn get_assertion(&self, id: &Id) -> Result<Option<Assertion>> {
        match self.get(CF_ASSERTIONS, &id.0)? {
            None => Ok(None),
            Some(v) => Assertion::decode_keyed(&v, *id).map(Some),
        }
    }

    pub fn get_retraction(&self, id: &Id) -> Result<Option<Retraction>> {
        match self.get(CF_RETRACTIONS, &id.0)? {
            None => Ok(None),
            Some(v) => Retraction::decode(&v).map(Some),
        }
    }

    /// Visits every assertion in `range`, until `visit` returns false.
    pub fn for_each_assertion(
        &self,
        range: &ScanRange,
        mut visit: impl FnMut(Assertion) -> Result<bool>,
    ) -> Result<()> {
        self.assertions_in(range, &mut visit).map(|_| ())
    }

    /// Visits the assertions of one range; false if `visit` stopped it.
    fn assertions_in(
        &self,
        range: &ScanRange,
        visit: &mut dyn FnMut(Assertion) -> Result<bool>,
    ) -> Result<bool> {
        let mut going = true;
        match range {
            ScanRange::Each(ranges) if !range.is_wide() => {
                return self.seek_each(ranges, visit);
            }
            ScanRange::Each(ranges) => {
                for range in ranges {
                    if !self.assertions_in(range, visit)? {
                        return Ok(false);
                    }
                }
            }
            ScanRange::Predicate(p) => {
                self.for_each_prefixed(CF_BY_PREDICATE, &predicate_prefix(p), |k, _| {
                    let (_, _, id) = split_predicate_key(k)
                        .ok_or_else(|| Error::corrupted("malformed by_predicate key"))?;
                    match self.get_assertion(&id)? {
                        Some(a) => {
                            going = visit(a)?;
                            Ok(going)
                        }
                        None => Err(Error::corrupted(format!(
                            "by_predicate points to missing {id}"
                        ))),
                    }
                })?;
            }
            other => {
                let prefix = subject_range_prefix(other);
                let (from, to) = match other {
                    ScanRange::Slice { from, to } => (from.as_slice(), to.as_deref()),
                    _ => (prefix.as_slice(), None),
                };
                let options = self.options();
                for_each_between(
                    self.db(),
                    options,
                    CF_BY_SUBJECT,
                    &prefix,
                    from,
                    to,
                    |k, v| {
                        going = visit(by_subject_entry(k, v)?)?;
                        Ok(going)
                    },
                )?;
            }
        }
        Ok(going)
    }

    /// Point ranges (subjects, or subject and predicate) through one
    /// iterator: a seek per range, in the order given (key order, from
    /// [`ScanRange::of`]'s callers); false if `visit` stopped.
    fn seek_each(
        &self,
        ranges: &[ScanRange],
        visit: &mut dyn FnMut(Assertion) -> Result<bool>,
    ) -> Result<bool> {
        let handle = super::cf(self.db(), CF_BY_SUBJECT)?;
        let mut options = self.options();
        within_one_subject(&mut options);
        let mut it = self.db().raw_iterator_cf_opt(handle, options);
        for range in ranges {
            let prefix = subject_range_prefix(range);
            it.seek(&prefix);
            while it.valid() {
                let (Some(k), Some(v)) = (it.key(), it.value()) else {
                    break;
                };
                if !k.starts_with(&prefix) {
                    break;
                }
                if !visit(by_subject_entry(k, v)?)? {
                    return Ok(false);
                }
                it.next();
            }
            it.status().map_err(Error::from)?;
        }
        Ok(true)
    }

    /// Visits every (subject, predicate) pair in `range` with all its
    /// claims, until `visit` returns false.
    pub fn for_each_pair(
        &self,
        range: &ScanRange,
        mut visit: impl FnMut(Vec<Assertion>) -> Result<bool>,
    ) -> Result<()> {
        self.pairs_in(range, &mut visit).map(|_| ())
    }

    /// Visits the pairs of one range; false if `visit` stopped it.
    fn pairs_in(
        &self,
        range: &ScanRange,
        visit: &mut dyn FnMut(Vec<Assertion>) -> Result<bool>,
    ) -> Result<bool> {
        if let ScanRange::Each(ranges) = range
            && range.is_wide()
        {
            for range in ranges {
                if !self.pairs_in(range, visit)? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        if let ScanRange::Predicate(p) = range {
            // Collect the subjects first (the index holds one key per claim),
            // then resolve each pair from by_subject.
            let mut subjects: Vec<String> = Vec::new();
            self.for_each_prefixed(CF_BY_PREDICATE, &predicate_prefix(p), |k, _| {
                let (_, s, _) = split_predicate_key(k)
                    .ok_or_else(|| Error::corrupted("malformed by_predicate key"))?;
                if subjects.last() != Some(&s) {
                    subjects.push(s);
                }
                Ok(true)
            })?;
            for s in subjects {
                let mut claims = Vec::new();
                self.for_each_assertion(&ScanRange::SubjectPredicate(s, p.clone()), |a| {
                    claims.push(a);
                    Ok(true)
                })?;
                if !claims.is_empty() && !visit(claims)? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        let mut group: Vec<Assertion> = Vec::new();
        let mut going = true;
        self.assertions_in(range, &mut |a| {
            let same = group
                .last()
                .is_some_and(|g| g.subject == a.subject && g.predicate == a.predicate);
            if !same && !group.is_empty() && !visit(std::mem::take(&mut group))? {
                going = false;
                return Ok(false);
            }
            group.push(a);
            Ok(true)
        })?;
        if going && !group.is_empty() {
            going = visit(group)?;
        }
        Ok(going)
    }

    /// Visits every retraction.
    pub fn for_each_retraction(
        &self,
        mut visit: impl FnMut(Retraction) -> Result<bool>,
    ) -> Result<()> {
        self.for_each_prefixed(CF_RETRACTIONS, &[], |_, v| visit(Retraction::decode(v)?))
    }
}

/// The assertion stored under a `by_subject` key (which ends with its id).
pub(super) fn by_subject_entry(k: &[u8], v: &[u8]) -> Result<Assertion> {
    let id = k
        .len()
        .checked_sub(32)
        .and_then(|at| Id::from_slice(&k[at..]))
        .ok_or_else(|| Error::corrupted("malformed by_subject key"))?;
    Assertion::decode_keyed(v, id)
}

pub(super) fn subject_range_prefix(range: &ScanRange) -> Vec<u8> {
    match range {
        ScanRange::All | ScanRange::Predicate(_) | ScanRange::Slice { .. } | ScanRange::Each(_) => {
            Vec::new()
        }
        ScanRange::Subject(s) => subject_prefix(s, None),
        ScanRange::SubjectPredicate(s, p) => subject_prefix(s, Some(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewAssertion;
    use crate::storage::{Durability, Store, Write};

    fn pairs(store: &Store, range: &ScanRange) -> Vec<(String, String, usize)> {
        let mut out = Vec::new();
        store
            .read_point()
            .for_each_pair(range, |claims| {
                out.push((
                    claims[0].subject.clone(),
                    claims[0].predicate.clone(),
                    claims.len(),
                ));
                Ok(true)
            })
            .unwrap();
        out
    }

    #[tokio::test]
    async fn split_scans_cover_every_pair_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some("n1"), Durability::Buffered).unwrap();
        // Four flushes: four SST files with interleaved subjects.
        for round in 0..4 {
            let writes = (0..500)
                .map(|i| {
                    let new = NewAssertion {
                        subject: Some(format!("s{:03}", (i * 7 + round) % 300)),
                        predicate: Some(format!("p{}", i % 3)),
                        object: Some(format!("o{round}")),
                        source: Some("src".into()),
                        ..Default::default()
                    };
                    Write::Claim(new.into_claim("u").unwrap())
                })
                .collect();
            store.commit(writes).await.unwrap();
            store
                .db()
                .flush_cf(super::super::cf(store.db(), CF_BY_SUBJECT).unwrap())
                .unwrap();
        }
        assert_eq!(
            store.split_full_scan(2),
            vec![ScanRange::All],
            "small data stays whole"
        );
        let slices = store.split_scan_above(2, 1);
        assert_eq!(slices.len(), 2, "{slices:?}");
        let joined: Vec<_> = slices.iter().flat_map(|s| pairs(&store, s)).collect();
        let all = pairs(&store, &ScanRange::All);
        assert_eq!(all.len(), 900);
        assert_eq!(joined, all);
        // Point scans seek with by_subject's prefix bloom filters.
        for subject in ["s007", "s299", "s300"] {
            let one = pairs(&store, &ScanRange::Subject(subject.into()));
            let expected: Vec<_> = all.iter().filter(|p| p.0 == subject).cloned().collect();
            assert_eq!(one, expected);
        }
        let pair = ScanRange::SubjectPredicate("s010".into(), "p1".into());
        assert_eq!(pairs(&store, &pair).len(), 1);
        // A list of points (an IN list) reads through one iterator: the
        // same pairs as the points one by one, a missing subject adds none.
        let points = ["s001", "s002", "s150", "s299", "s300"];
        let each = ScanRange::Each(
            points
                .iter()
                .map(|s| ScanRange::Subject(s.to_string()))
                .collect(),
        );
        let expected: Vec<_> = all
            .iter()
            .filter(|p| points.contains(&p.0.as_str()))
            .cloned()
            .collect();
        assert_eq!(expected.len(), 12);
        assert_eq!(pairs(&store, &each), expected);
        let with_predicate = ScanRange::Each(vec![
            ScanRange::SubjectPredicate("s001".into(), "p2".into()),
            ScanRange::SubjectPredicate("s002".into(), "p0".into()),
        ]);
        assert_eq!(pairs(&store, &with_predicate).len(), 2);
        // Stopping early stops the whole list.
        let mut seen = 0;
        store
            .read_point()
            .for_each_pair(&each, |_| {
                seen += 1;
                Ok(seen < 3)
            })
            .unwrap();
        assert_eq!(seen, 3);
    }
}
