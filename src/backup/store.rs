//! Where backups go: an object store named by URL — `file:///path`, or
//! `s3://bucket/prefix` with the usual AWS environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, …) and
//! `AWS_ENDPOINT_URL` for an S3-compatible server (with `AWS_ALLOW_HTTP=true`
//! when it is plain HTTP).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

use crate::error::{Error, Result, sqlstate};

/// The object store at `url`.
pub fn open(url: &str) -> Result<Arc<dyn ObjectStore>> {
    if let Some(path) = url.strip_prefix("file://") {
        std::fs::create_dir_all(path).map_err(|e| Error::internal(format!("{url}: {e}")))?;
        let fs = LocalFileSystem::new_with_prefix(path)
            .map_err(|e| Error::internal(format!("{url}: {e}")))?;
        return Ok(Arc::new(fs));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad_url(url));
        }
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| Error::new(sqlstate::INVALID_PARAMETER_VALUE, format!("{url}: {e}")))?;
        let prefix = prefix.trim_matches('/');
        return Ok(match prefix.is_empty() {
            true => Arc::new(s3),
            false => Arc::new(PrefixStore::new(s3, prefix)),
        });
    }
    Err(bad_url(url))
}

fn bad_url(url: &str) -> Error {
    Error::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!("backup URL {url}: use file:///path or s3://bucket/prefix"),
    )
}
