//! A write batch's puts, column family by column family, in key order.
//! RocksDB inserts a batch into each memtable's skiplist in batch order,
//! and starts each search from where the one before ended: keys in order
//! land near each other, and the search walks a few nodes at the bottom
//! of the skiplist instead of descending it from the top. A COPY chunk of
//! 20 000 random subjects spent a third of its time in those descents.

use rocksdb::{ColumnFamily, WriteBatch};

/// Puts collected per family slot (the caller's numbering).
pub(super) struct SortedPuts {
    families: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl SortedPuts {
    pub(super) fn new(families: usize) -> SortedPuts {
        SortedPuts {
            families: vec![Vec::new(); families],
        }
    }

    pub(super) fn put(
        &mut self,
        family: usize,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) {
        self.families[family].push((key.into(), value.into()));
    }

    /// Adds the puts to `batch`, family `i` to `handles[i]`, each family's
    /// in key order (a key put twice keeps its order: the later wins).
    pub(super) fn write_into(self, batch: &mut WriteBatch, handles: &[&ColumnFamily]) {
        for (mut puts, handle) in self.families.into_iter().zip(handles) {
            puts.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, value) in puts {
                batch.put_cf(*handle, key, value);
            }
        }
    }
}
