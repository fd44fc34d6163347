//! Range scans. Equality filters on `subject`, `subject`+`predicate` and
//! `predicate` become prefix scans of an index; everything else is a full
//! scan of `by_subject`, whose order (subject, predicate, id) groups the
//! claims of one pair together for lens resolution.
//!
//! Scans are callbacks rather than iterators because a RocksDB iterator
//! borrows the database; the planner runs them on a blocking thread and
//! turns them into a stream of record batches. A callback returns `false`
//! to stop early (a LIMIT, or a client that went away).

use super::Store;
use super::keys::*;
use crate::error::{Error, Result};
use crate::model::{Assertion, Id};

/// Which part of the data a scan reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ScanRange {
    #[default]
    All,
    Subject(String),
    SubjectPredicate(String, String),
    Predicate(String),
}

impl Store {
    /// Visits every key/value under `prefix` in `cf`, in key order.
    fn for_each_prefixed(
        &self,
        cf: &str,
        prefix: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let cf = super::cf(self.db(), cf)?;
        let mut it = self.db().raw_iterator_cf(cf);
        it.seek(prefix);
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if !k.starts_with(prefix) || !visit(k, v)? {
                return Ok(());
            }
            it.next();
        }
        it.status().map_err(Error::from)
    }

    /// Visits every assertion in `range`.
    pub fn for_each_assertion(
        &self,
        range: &ScanRange,
        mut visit: impl FnMut(Assertion) -> Result<bool>,
    ) -> Result<()> {
        match range {
            ScanRange::Predicate(p) => {
                self.for_each_prefixed(CF_BY_PREDICATE, &predicate_prefix(p), |k, _| {
                    let (_, _, id) = split_predicate_key(k)
                        .ok_or_else(|| Error::corrupted("malformed by_predicate key"))?;
                    match self.get_assertion(&id)? {
                        Some(a) => visit(a),
                        None => Err(Error::corrupted(format!(
                            "by_predicate points to missing {id}"
                        ))),
                    }
                })
            }
            other => {
                let prefix = subject_range_prefix(other);
                self.for_each_prefixed(CF_BY_SUBJECT, &prefix, |_, v| visit(Assertion::decode(v)?))
            }
        }
    }

    /// Visits every (subject, predicate) pair in `range` with all its claims.
    pub fn for_each_pair(
        &self,
        range: &ScanRange,
        mut visit: impl FnMut(Vec<Assertion>) -> Result<bool>,
    ) -> Result<()> {
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
                    return Ok(());
                }
            }
            return Ok(());
        }
        let mut group: Vec<Assertion> = Vec::new();
        let mut stopped = false;
        self.for_each_assertion(range, |a| {
            let same = group
                .last()
                .is_some_and(|g| g.subject == a.subject && g.predicate == a.predicate);
            if !same && !group.is_empty() && !visit(std::mem::take(&mut group))? {
                stopped = true;
                return Ok(false);
            }
            group.push(a);
            Ok(true)
        })?;
        if !stopped && !group.is_empty() {
            visit(group)?;
        }
        Ok(())
    }

    /// Visits every retraction.
    pub fn for_each_retraction(
        &self,
        mut visit: impl FnMut(crate::model::Retraction) -> Result<bool>,
    ) -> Result<()> {
        self.for_each_prefixed(CF_RETRACTIONS, &[], |_, v| {
            visit(crate::model::Retraction::decode(v)?)
        })
    }

    /// Whether an assertion with this id exists.
    pub fn contains(&self, id: &Id) -> Result<bool> {
        let cf = super::cf(self.db(), CF_ASSERTIONS)?;
        Ok(self.db().get_pinned_cf(cf, id.0)?.is_some())
    }
}

fn subject_range_prefix(range: &ScanRange) -> Vec<u8> {
    match range {
        ScanRange::All | ScanRange::Predicate(_) => Vec::new(),
        ScanRange::Subject(s) => subject_prefix(s, None),
        ScanRange::SubjectPredicate(s, p) => subject_prefix(s, Some(p)),
    }
}
