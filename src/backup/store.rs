//! Where backups go: an object store named by URL (`file:///path`).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

use crate::error::{Error, Result};

/// The object store at `url`.
pub fn open(url: &str) -> Result<Arc<dyn ObjectStore>> {
    let Some(path) = url.strip_prefix("file://") else {
        return Err(Error::new(
            "22023",
            format!("backup URL {url}: only file:///path is supported in this build"),
        ));
    };
    std::fs::create_dir_all(path).map_err(|e| Error::internal(format!("{url}: {e}")))?;
    let fs = LocalFileSystem::new_with_prefix(path)
        .map_err(|e| Error::internal(format!("{url}: {e}")))?;
    Ok(Arc::new(fs))
}
