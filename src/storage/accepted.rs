//! What this node accepted, in HLC order, from a point on: archival
//! (the backup layer's archive) ships it as segments.

use super::keys::*;
use super::{Store, Write, cf};
use crate::error::Result;
use crate::model::Id;

impl Store {
    /// Up to `limit` claims and retractions whose `by_hlc` key sorts after
    /// `after` (from the first with `None`), in that order, from one
    /// snapshot; and the key of the last one (to continue from).
    pub fn accepted_after(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(Vec<Write>, Option<Vec<u8>>)> {
        let db = &self.db;
        let mut it = db.raw_iterator_cf(cf(db, CF_BY_HLC)?);
        match after {
            Some(key) => {
                it.seek(key);
                if it.key() == Some(key) {
                    it.next();
                }
            }
            None => it.seek_to_first(),
        }
        let (mut writes, mut last) = (Vec::new(), None);
        while let Some(k) = it.key() {
            if writes.len() >= limit {
                break;
            }
            if k.len() >= 33 {
                let (kind, id) = (k[k.len() - 33], &k[k.len() - 32..]);
                if let Some(id) = Id::from_slice(id)
                    && let Some(w) = self.record(&id, kind == HLC_KIND_RETRACTION)?
                {
                    writes.push(w);
                }
            }
            last = Some(k.to_vec());
            it.next();
        }
        it.status()?;
        Ok((writes, last))
    }

    /// Where archival to `url` got to (the last `by_hlc` key shipped).
    pub fn archive_mark(&self, url: &str) -> Result<Option<Vec<u8>>> {
        let v = self.db.get_cf(cf(&self.db, CF_META)?, META_ARCHIVE)?;
        Ok(v.and_then(|v| {
            let (to, key) = v.split_at(v.iter().position(|b| *b == 0)?);
            (to == url.as_bytes()).then(|| key[1..].to_vec())
        }))
    }

    /// Records that archival to `url` shipped everything up to `key`.
    pub fn set_archive_mark(&self, url: &str, key: &[u8]) -> Result<()> {
        let mut value = url.as_bytes().to_vec();
        value.push(0);
        value.extend_from_slice(key);
        self.put_meta(META_ARCHIVE, &value)
    }
}
