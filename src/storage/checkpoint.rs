//! A consistent copy of the data dir for backups: a RocksDB checkpoint
//! (memtables flushed, SST files hard-linked), taken while the node serves.

use std::path::Path;

use super::Store;
use crate::error::{Error, Result};

impl Store {
    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a checkpoint of the database into `dir` (which must not
    /// exist).
    pub fn checkpoint(&self, dir: &Path) -> Result<()> {
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db)
            .map_err(|e| Error::internal(format!("checkpoint: {e}")))?;
        checkpoint
            .create_checkpoint(dir)
            .map_err(|e| Error::internal(format!("checkpoint into {}: {e}", dir.display())))
    }
}
