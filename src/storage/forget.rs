//! Dropping this node's copies of subjects it does not own: after a node
//! holding everything (a single node joining a cluster) or a change of
//! members, its claims of other owners' subjects are sent to those owners
//! and then forgotten here, every key of them — claim, indexes,
//! retraction, the pairs' heads — in one batch. The claims are not
//! retracted or changed: they live on their owners. Only the cluster's
//! rebalancing calls this, for subjects no write is sent to here.

use std::collections::BTreeMap;

use rocksdb::WriteBatch;

use super::keys::*;
use super::{Store, Write, cf};
use crate::error::Result;
use crate::model::{Assertion, Id, Retraction};

/// Claims and retractions by subject.
pub type Misplaced = BTreeMap<String, Vec<Write>>;

impl Store {
    /// The claims (with their retractions) of subjects from `from`
    /// (inclusive) in subject order, whole subjects only, for which
    /// `misplaced(subject)` holds, until about `limit` claims; and where
    /// the next call starts (`None`: at the end).
    pub fn misplaced(
        &self,
        from: &str,
        limit: usize,
        misplaced: impl Fn(&str) -> bool,
    ) -> Result<(Misplaced, Option<String>)> {
        let db = &self.db;
        let mut out = Misplaced::new();
        let mut claims = 0;
        // Across subjects: total order, not the subject prefix's filter.
        let mut options = rocksdb::ReadOptions::default();
        options.set_total_order_seek(true);
        let mut it = db.raw_iterator_cf_opt(cf(db, CF_BY_SUBJECT)?, options);
        it.seek(subject_prefix(from, None));
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let id = Id::from_slice(&k[k.len() - 32..]).unwrap_or(Id([0; 32]));
            let a = Assertion::decode_keyed(v, id)?;
            if !out.contains_key(&a.subject) && claims >= limit {
                return Ok((out, Some(a.subject)));
            }
            if misplaced(&a.subject) {
                claims += 1;
                let writes = out.entry(a.subject.clone()).or_default();
                let retraction = self.record(&id, true)?;
                writes.push(Write::Assertion(a));
                writes.extend(retraction);
            }
            it.next();
        }
        it.status()?;
        Ok((out, None))
    }

    /// Deletes every key of `writes` (claims and retractions from
    /// [`Store::misplaced`]) and the heads of their subjects, durably.
    pub fn forget(&self, subjects: &[String], writes: &[Write]) -> Result<()> {
        let db = &self.db;
        let mut batch = WriteBatch::default();
        for w in writes {
            match w {
                Write::Assertion(a) => {
                    batch.delete_cf(cf(db, CF_ASSERTIONS)?, a.id.0);
                    batch.delete_cf(
                        cf(db, CF_BY_SUBJECT)?,
                        subject_key(&a.subject, &a.predicate, &a.id),
                    );
                    batch.delete_cf(
                        cf(db, CF_BY_PREDICATE)?,
                        predicate_key(&a.predicate, &a.subject, &a.id),
                    );
                    batch.delete_cf(
                        cf(db, CF_BY_HLC)?,
                        hlc_key(a.hlc, &a.node, HLC_KIND_ASSERTION, &a.id),
                    );
                }
                Write::Retraction(r) => forget_retraction(db, &mut batch, r)?,
                Write::Claim(_) | Write::Retract(_) => {}
            }
        }
        let heads = cf(db, CF_HEADS)?;
        for subject in subjects {
            let from = subject_prefix(subject, None);
            let mut to = from.clone();
            // The prefix ends in a separator byte: the next value bounds
            // the subject's pairs.
            if let Some(last) = to.last_mut() {
                *last = last.saturating_add(1);
            }
            batch.delete_range_cf(heads, from, to);
        }
        let mut o = rocksdb::WriteOptions::default();
        o.set_sync(true);
        db.write_opt(batch, &o)?;
        Ok(())
    }
}

fn forget_retraction(db: &rocksdb::DB, batch: &mut WriteBatch, r: &Retraction) -> Result<()> {
    batch.delete_cf(cf(db, CF_RETRACTIONS)?, r.assertion_id.0);
    batch.delete_cf(
        cf(db, CF_BY_HLC)?,
        hlc_key(r.hlc, &r.node, HLC_KIND_RETRACTION, &r.assertion_id),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewAssertion;
    use crate::storage::Durability;

    #[tokio::test]
    async fn misplaced_subjects_are_listed_whole_and_forgotten_entirely() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some("n1"), Durability::Buffered).unwrap();
        let claims = (0..30)
            .map(|i| {
                let claim = NewAssertion {
                    subject: Some(format!("s{}", i % 10)),
                    predicate: Some(format!("p{}", i % 2)),
                    object: Some(format!("o{i}")),
                    source: Some("src".into()),
                    ..Default::default()
                };
                Write::Claim(claim.into_claim("a").unwrap())
            })
            .collect();
        let stored = store.commit(claims).await.unwrap();
        let Write::Assertion(first) = &stored[0] else {
            panic!()
        };
        let retract = Write::Retract(Retraction::new(first.id, None, "a".into()));
        store.commit(vec![retract]).await.unwrap();
        // From SST files, where the subject prefix's bloom filter applies.
        store
            .db()
            .flush_cf(cf(store.db(), CF_BY_SUBJECT).unwrap())
            .unwrap();
        // Subjects s0..s4 are "misplaced"; 4 claims per step, whole subjects.
        let mut from = String::new();
        let mut seen = BTreeMap::new();
        loop {
            let (chunk, next) = store.misplaced(&from, 4, |s| s < "s5").unwrap();
            seen.extend(chunk);
            match next {
                Some(n) => from = n,
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        let writes: Vec<Write> = seen.values().flatten().cloned().collect();
        assert_eq!(writes.len(), 15 + 1, "15 claims and s0's retraction");
        let subjects: Vec<String> = seen.keys().cloned().collect();
        store.forget(&subjects, &writes).unwrap();
        let (left, _) = store.misplaced("", 1000, |_| true).unwrap();
        assert_eq!(left.len(), 5);
        assert!(left.keys().all(|s| s.as_str() >= "s5"));
        drop(store);
        let report = crate::storage::verify(dir.path()).unwrap();
        assert!(report.ok(), "{report}");
    }
}
