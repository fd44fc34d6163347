//! Point-in-time restore's last step: a restored data dir cut back to an
//! instant — every claim and retraction accepted after it deleted, then
//! every lens head rebuilt — so the node answers exactly as the source did
//! with `SET stemedb.as_of` at that instant. Only for a data dir no server
//! has open.

use super::keys::*;
use super::{Store, Write, cf, heads};
use crate::error::Result;
use crate::model::{Hlc, Id, Micros};

impl Store {
    /// Deletes what was accepted after `until` (µs); the claims and
    /// retractions deleted.
    pub fn truncate_after(&self, until: Micros) -> Result<(u64, u64)> {
        let db = &self.db;
        let mut writes = Vec::new();
        let mut it = db.raw_iterator_cf(cf(db, CF_BY_HLC)?);
        it.seek(Hlc::new(until.saturating_add(1), 0).to_key());
        while let Some(k) = it.key() {
            if k.len() >= 33 {
                let (kind, id) = (k[k.len() - 33], &k[k.len() - 32..]);
                if let Some(id) = Id::from_slice(id)
                    && let Some(w) = self.record(&id, kind == HLC_KIND_RETRACTION)?
                {
                    writes.push(w);
                }
            }
            it.next();
        }
        it.status()?;
        drop(it);
        let claims = writes
            .iter()
            .filter(|w| matches!(w, Write::Assertion(_)))
            .count() as u64;
        let retractions = writes.len() as u64 - claims;
        for chunk in writes.chunks(10_000) {
            self.forget(&[], chunk)?;
        }
        let heads_cf = cf(db, CF_HEADS)?;
        let mut all = db.raw_iterator_cf(heads_cf);
        all.seek_to_first();
        let mut batch = rocksdb::WriteBatch::default();
        while let Some(k) = all.key() {
            batch.delete_cf(heads_cf, k);
            all.next();
        }
        all.status()?;
        drop(all);
        db.write(batch)?;
        heads::rebuild(db)?;
        db.flush_wal(true)?;
        Ok((claims, retractions))
    }
}
