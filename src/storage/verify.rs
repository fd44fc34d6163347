//! `stemedb verify`: recomputes every content id from the stored bytes,
//! checks every index entry against the primary data, in both directions,
//! and every lens head against the live claims of its pair.

use std::fmt;
use std::path::Path;

use rocksdb::{DB, Options};

use super::keys::*;
use crate::error::{Error, Result};
use crate::lens::Head;
use crate::model::{Assertion, Hlc, Id, Retraction};

/// What `verify` found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub assertions: u64,
    pub retractions: u64,
    pub index_entries: u64,
    pub heads: u64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
    fn problem(&mut self, p: String) {
        // Keep the report readable on a badly damaged store.
        if self.problems.len() < 1000 {
            self.problems.push(p);
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "checked {} assertions, {} retractions, {} index entries, {} lens heads",
            self.assertions, self.retractions, self.index_entries, self.heads
        )?;
        if self.ok() {
            write!(
                f,
                "OK: every id matches its content and every index and head matches the data"
            )
        } else {
            writeln!(f, "FAILED: {} problem(s)", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}

/// Checks the data dir at `dir` (the server must not be running on it).
pub fn verify(dir: &Path) -> Result<VerifyReport> {
    if !dir.join("CURRENT").exists() {
        return Err(Error::internal(format!(
            "{} is not a StemeDB data dir",
            dir.display()
        )));
    }
    let families = DB::list_cf(&Options::default(), dir).unwrap_or_default();
    if !families.iter().any(|f| f == CF_HEADS) {
        return Err(Error::internal(format!(
            "{} was written by an older StemeDB (no lens heads): start the server on it once, then verify",
            dir.display()
        )));
    }
    // A data dir from before a family was added opens without it. The
    // server's options: its block cache and bloom filters serve the
    // millions of point reads below (with defaults a 1M-claim check took
    // twice as long).
    let present = ALL_CFS
        .iter()
        .filter(|name| families.iter().any(|f| f == *name))
        .map(|name| rocksdb::ColumnFamilyDescriptor::new(*name, super::cf_options(name)));
    let db = DB::open_cf_descriptors_read_only(&Options::default(), dir, present, false)
        .map_err(|e| Error::internal(format!("cannot open {}: {e}", dir.display())))?;
    // The primary check (three index reads per claim) on one core, the
    // checks from each index back to the primary data on the other.
    let (primary, indexes) = std::thread::scope(|s| {
        let primary = s.spawn(|| {
            let mut r = VerifyReport::default();
            check_primary(&db, &mut r).map(|()| r)
        });
        let mut r = VerifyReport::default();
        let indexes = check_subject_index(&db, &mut r)
            .and_then(|()| check_predicate_index(&db, &mut r))
            .and_then(|()| check_hlc_index(&db, &mut r))
            .and_then(|()| check_heads(&db, &mut r))
            .map(|()| r);
        let primary = primary
            .join()
            .unwrap_or_else(|_| Err(Error::internal("the primary check panicked")));
        (primary, indexes)
    });
    let (mut report, indexes) = (primary?, indexes?);
    report.assertions += indexes.assertions;
    report.retractions += indexes.retractions;
    report.index_entries += indexes.index_entries;
    report.heads += indexes.heads;
    for p in indexes.problems {
        report.problem(p);
    }
    Ok(report)
}

fn each(db: &DB, cf: &str, mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
    let handle = super::cf(db, cf)?;
    // Whole-table iteration: not limited to one prefix (by_subject has a
    // prefix extractor, see storage::cf_options).
    let mut options = rocksdb::ReadOptions::default();
    options.set_total_order_seek(true);
    let mut it = db.raw_iterator_cf_opt(handle, options);
    it.seek_to_first();
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        f(k, v)?;
        it.next();
    }
    it.status().map_err(Error::from)
}

fn get(db: &DB, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let handle = db
        .cf_handle(cf)
        .ok_or_else(|| Error::internal(format!("missing column family {cf}")))?;
    Ok(db.get_cf(handle, key)?)
}

fn check_primary(db: &DB, r: &mut VerifyReport) -> Result<()> {
    each(db, CF_ASSERTIONS, |k, v| {
        r.assertions += 1;
        let key_id = Id::from_slice(k)
            .map(|i| i.to_hex())
            .unwrap_or_else(|| hex::encode(k));
        if Id::of(v).0[..] != k[..] {
            r.problem(format!(
                "assertion {key_id}: content hashes to {}",
                Id::of(v)
            ));
        }
        let a = match Assertion::decode(v) {
            Ok(a) => a,
            Err(e) => {
                r.problem(format!("assertion {key_id}: {e}"));
                return Ok(());
            }
        };
        match get(
            db,
            CF_BY_SUBJECT,
            &subject_key(&a.subject, &a.predicate, &a.id),
        )? {
            Some(iv) if iv[..] == v[..] => {}
            Some(_) => r.problem(format!("assertion {key_id}: by_subject copy differs")),
            None => r.problem(format!("assertion {key_id}: missing from by_subject")),
        }
        if get(
            db,
            CF_BY_PREDICATE,
            &predicate_key(&a.predicate, &a.subject, &a.id),
        )?
        .is_none()
        {
            r.problem(format!("assertion {key_id}: missing from by_predicate"));
        }
        if get(
            db,
            CF_BY_HLC,
            &hlc_key(a.hlc, &a.node, HLC_KIND_ASSERTION, &a.id),
        )?
        .is_none()
        {
            r.problem(format!("assertion {key_id}: missing from by_hlc"));
        }
        Ok(())
    })?;
    each(db, CF_RETRACTIONS, |k, v| {
        r.retractions += 1;
        let key_id = hex::encode(k);
        match Retraction::decode(v) {
            Err(e) => r.problem(format!("retraction of {key_id}: {e}")),
            Ok(t) if t.assertion_id.0[..] != k[..] => {
                r.problem(format!("retraction of {key_id}: names {}", t.assertion_id))
            }
            Ok(t) => {
                if get(db, CF_ASSERTIONS, k)?.is_none() {
                    r.problem(format!("retraction of {key_id}: no such assertion"));
                }
                let hk = hlc_key(t.hlc, &t.node, HLC_KIND_RETRACTION, &t.assertion_id);
                if get(db, CF_BY_HLC, &hk)?.is_none() {
                    r.problem(format!("retraction of {key_id}: missing from by_hlc"));
                }
            }
        }
        Ok(())
    })
}

/// Every by_subject entry must be a byte-identical copy of a primary record
/// filed under that record's own subject, predicate and id.
fn check_subject_index(db: &DB, r: &mut VerifyReport) -> Result<()> {
    each(db, CF_BY_SUBJECT, |k, v| {
        r.index_entries += 1;
        let Some((s, p, id)) = split_subject_key(k) else {
            r.problem(format!("by_subject: malformed key {}", hex::encode(k)));
            return Ok(());
        };
        match get(db, CF_ASSERTIONS, &id.0)? {
            None => r.problem(format!("by_subject: {id} has no primary record")),
            Some(pv) if pv[..] != v[..] => {
                r.problem(format!("by_subject: {id} differs from primary"))
            }
            Some(pv) => {
                if let Ok(a) = Assertion::decode(&pv)
                    && (a.subject != s || a.predicate != p)
                {
                    r.problem(format!("by_subject: {id} filed under the wrong pair"));
                }
            }
        }
        Ok(())
    })
}

fn check_predicate_index(db: &DB, r: &mut VerifyReport) -> Result<()> {
    each(db, CF_BY_PREDICATE, |k, _| {
        r.index_entries += 1;
        let Some((p, s, id)) = split_predicate_key(k) else {
            r.problem(format!("by_predicate: malformed key {}", hex::encode(k)));
            return Ok(());
        };
        match get(db, CF_ASSERTIONS, &id.0)?.map(|v| Assertion::decode(&v)) {
            None => r.problem(format!("by_predicate: {id} has no primary record")),
            Some(Ok(a)) if a.subject != s || a.predicate != p => {
                r.problem(format!("by_predicate: {id} filed under the wrong pair"))
            }
            _ => {}
        }
        Ok(())
    })
}

/// Checks the by_hlc index, and that the stored HLC high-water mark is at
/// or above every stored stamp (else a restarted clock could hand out a
/// timestamp below an acknowledged write).
fn check_hlc_index(db: &DB, r: &mut VerifyReport) -> Result<()> {
    let high_water = get(db, CF_META, META_HLC)?
        .and_then(|v| Hlc::from_key(&v))
        .unwrap_or_default();
    each(db, CF_BY_HLC, |k, _| {
        r.index_entries += 1;
        if let Some(hlc) = Hlc::from_key(k)
            && hlc > high_water
        {
            r.problem(format!(
                "by_hlc: stamp {hlc:?} is above the stored high-water mark {high_water:?}"
            ));
        }
        let parsed = Hlc::from_key(k)
            .and_then(|_| take_part(&k[12..]))
            .and_then(|(_, rest)| Some((*rest.first()?, Id::from_slice(rest.get(1..)?)?)));
        let Some((kind, id)) = parsed else {
            r.problem(format!("by_hlc: malformed key {}", hex::encode(k)));
            return Ok(());
        };
        let cf = if kind == HLC_KIND_ASSERTION {
            CF_ASSERTIONS
        } else {
            CF_RETRACTIONS
        };
        if get(db, cf, &id.0)?.is_none() {
            r.problem(format!("by_hlc: {id} has no {cf} record"));
        }
        Ok(())
    })
}

/// Every pair with live claims has a head equal to the one its claims
/// resolve to, and no other pair has one: a walk of `by_subject`, pair by
/// pair, merged with a walk of `heads` (both in key order).
/// Pairs with claims of a COPY whose apply was interrupted are skipped:
/// the next start finishes the apply and recomputes them.
fn check_heads(db: &DB, r: &mut VerifyReport) -> Result<()> {
    let unfinished = super::staging::unfinished_ranges(db)?;
    let in_unfinished_copy = |a: &Assertion| {
        unfinished
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&a.hlc))
    };
    let mut options = rocksdb::ReadOptions::default();
    options.set_total_order_seek(true);
    let mut stored = db.raw_iterator_cf_opt(super::cf(db, CF_HEADS)?, options);
    stored.seek_to_first();
    let mut group: Vec<Assertion> = Vec::new();
    let mut check = |group: &mut Vec<Assertion>, r: &mut VerifyReport| -> Result<()> {
        let Some(first) = group.first() else {
            return Ok(());
        };
        let key = subject_prefix(&first.subject, Some(&first.predicate));
        let pair = format!("({}, {})", first.subject, first.predicate);
        let mut live = Vec::with_capacity(group.len());
        for a in group.iter() {
            if get(db, CF_RETRACTIONS, &a.id.0)?.is_none() {
                live.push(a);
            }
        }
        while let Some(k) = stored.key().filter(|k| *k < &key[..]) {
            r.problem(format!("heads: {} has no live claims", hex::encode(k)));
            stored.next();
        }
        let found = match stored.key() {
            Some(k) if k == &key[..] => {
                let head = stored.value().map(Head::decode).transpose();
                stored.next();
                head
            }
            _ => Ok(None),
        };
        r.heads += u64::from(matches!(found, Ok(Some(_))));
        if group.iter().any(in_unfinished_copy) {
            group.clear();
            return Ok(());
        }
        match (found, Head::of(&live)) {
            (Err(e), _) => r.problem(format!("heads: {pair}: {e}")),
            (Ok(None), Some(_)) => r.problem(format!("heads: {pair} has live claims but no head")),
            (Ok(Some(_)), None) => {
                r.problem(format!("heads: {pair} has a head but no live claims"))
            }
            (Ok(Some(h)), Some(expected)) if h != expected => {
                r.problem(format!("heads: {pair}: head differs from its live claims"))
            }
            _ => {}
        }
        group.clear();
        Ok(())
    };
    each(db, CF_BY_SUBJECT, |k, v| {
        let Ok(a) = super::scan::by_subject_entry(k, v) else {
            return Ok(()); // reported by check_subject_index
        };
        let same = group
            .last()
            .is_some_and(|g| g.subject == a.subject && g.predicate == a.predicate);
        if !same {
            check(&mut group, r)?;
        }
        group.push(a);
        Ok(())
    })?;
    check(&mut group, r)?;
    while let Some(k) = stored.key() {
        r.problem(format!("heads: {} has no live claims", hex::encode(k)));
        stored.next();
    }
    stored.status().map_err(Error::from)
}
