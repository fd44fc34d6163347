//! Definitions every node holds in full — roles (docs/operations.md,
//! Security), schemas and views (docs/sql.md) — as a last-writer-wins map: key → (HLC,
//! value or deletion). A definition written anywhere is sent to every
//! member and compared at every anti-entropy round ([`Store::catalog_digest`]),
//! so all nodes converge on the newest of each key whatever order the
//! copies arrive in; a deletion is kept as a tombstone, so an older copy
//! arriving late cannot bring the key back. It lives in its own column
//! family: backups and restores carry it like the claims.
//!
//! Value: the HLC (physical µs, then counter, big-endian), a byte `1`
//! (present) or `0` (deleted), then the definition's bytes.

use rocksdb::WriteBatch;

use super::Store;
use super::keys::CF_CATALOG;
use crate::error::{Error, Result};
use crate::model::Hlc;

/// One definition, or its deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// `kind/name`, e.g. `role/alice`.
    pub key: String,
    pub hlc: Hlc,
    /// `None`: deleted.
    pub value: Option<Vec<u8>>,
}

impl CatalogEntry {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(13 + self.value.as_ref().map_or(0, Vec::len));
        out.extend_from_slice(&self.hlc.physical.to_be_bytes());
        out.extend_from_slice(&self.hlc.logical.to_be_bytes());
        match &self.value {
            Some(v) => {
                out.push(1);
                out.extend_from_slice(v);
            }
            None => out.push(0),
        }
        out
    }

    fn decode(key: &[u8], bytes: &[u8]) -> Result<CatalogEntry> {
        let bad = || Error::internal("a catalog entry is damaged");
        if bytes.len() < 13 {
            return Err(bad());
        }
        let physical = i64::from_be_bytes(bytes[..8].try_into().map_err(|_| bad())?);
        let logical = u32::from_be_bytes(bytes[8..12].try_into().map_err(|_| bad())?);
        Ok(CatalogEntry {
            key: String::from_utf8(key.to_vec()).map_err(|_| bad())?,
            hlc: Hlc::new(physical, logical),
            value: (bytes[12] == 1).then(|| bytes[13..].to_vec()),
        })
    }

    /// Whether this entry wins over `other` of the same key: the later
    /// HLC, and on a tie the larger encoding (so every node picks alike).
    fn wins_over(&self, other: &CatalogEntry) -> bool {
        (self.hlc, self.encode()) > (other.hlc, other.encode())
    }
}

impl Store {
    /// The entry of `key`, deleted or not.
    pub fn catalog_entry(&self, key: &str) -> Result<Option<CatalogEntry>> {
        let cf = self.cf(CF_CATALOG)?;
        match self.db().get_cf(cf, key.as_bytes())? {
            Some(bytes) => Ok(Some(CatalogEntry::decode(key.as_bytes(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// Every entry, in key order.
    pub fn catalog(&self) -> Result<Vec<CatalogEntry>> {
        let cf = self.cf(CF_CATALOG)?;
        let mut out = Vec::new();
        for item in self.db().iterator_cf(cf, rocksdb::IteratorMode::Start) {
            let (key, value) = item?;
            out.push(CatalogEntry::decode(&key, &value)?);
        }
        Ok(out)
    }

    /// Keeps each of `entries` that is newer than the one held, durably;
    /// how many were taken.
    pub fn catalog_put(&self, entries: &[CatalogEntry]) -> Result<usize> {
        let _one = self
            .catalog_writes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let cf = self.cf(CF_CATALOG)?;
        let mut batch = WriteBatch::default();
        let mut taken = 0;
        for entry in entries {
            let held = self.catalog_entry(&entry.key)?;
            if held.is_none_or(|h| entry.wins_over(&h)) {
                batch.put_cf(cf, entry.key.as_bytes(), entry.encode());
                taken += 1;
            }
        }
        if taken > 0 {
            let mut sync = rocksdb::WriteOptions::default();
            sync.set_sync(true);
            self.db().write_opt(batch, &sync)?;
            self.catalog_version
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        Ok(taken)
    }

    /// A hash of every entry: equal on two nodes exactly when they hold
    /// the same catalog.
    pub fn catalog_digest(&self) -> Result<[u8; 32]> {
        let mut hasher = blake3::Hasher::new();
        for entry in self.catalog()? {
            hasher.update(&(entry.key.len() as u64).to_le_bytes());
            hasher.update(entry.key.as_bytes());
            let encoded = entry.encode();
            hasher.update(&(encoded.len() as u64).to_le_bytes());
            hasher.update(&encoded);
        }
        Ok(*hasher.finalize().as_bytes())
    }

    /// Grows with every change to the catalog this process made or took
    /// (readers cache what they parsed until it moves).
    pub fn catalog_version(&self) -> u64 {
        self.catalog_version
            .load(std::sync::atomic::Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Durability;

    fn entry(key: &str, physical: i64, value: Option<&str>) -> CatalogEntry {
        CatalogEntry {
            key: key.into(),
            hlc: Hlc::new(physical, 0),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    #[test]
    fn the_newest_entry_of_a_key_wins_in_any_order_and_deletions_stay() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(&dir.path().join("a"), Some("a"), Durability::Buffered).unwrap();
        let b = Store::open(&dir.path().join("b"), Some("b"), Durability::Buffered).unwrap();
        let writes = [
            entry("role/x", 10, Some("one")),
            entry("role/x", 30, None),
            entry("role/x", 20, Some("two")),
            entry("role/y", 5, Some("y")),
        ];
        for w in &writes {
            a.catalog_put(std::slice::from_ref(w)).unwrap();
        }
        for w in writes.iter().rev() {
            b.catalog_put(std::slice::from_ref(w)).unwrap();
        }
        assert_eq!(a.catalog().unwrap(), b.catalog().unwrap());
        assert_eq!(a.catalog_digest().unwrap(), b.catalog_digest().unwrap());
        assert_eq!(a.catalog_entry("role/x").unwrap().unwrap().value, None);
        assert_eq!(
            a.catalog_put(&[entry("role/x", 25, Some("late"))]).unwrap(),
            0
        );
        let before = a.catalog_version();
        assert_eq!(a.catalog_put(&[entry("role/z", 1, Some("z"))]).unwrap(), 1);
        assert!(a.catalog_version() > before);
        assert_ne!(a.catalog_digest().unwrap(), b.catalog_digest().unwrap());
    }
}
