//! Online backups (docs/operations.md): a consistent RocksDB checkpoint
//! of a running node, stored content-addressed in an object store — each
//! file under `blobs/<BLAKE3>`, so a later backup uploads only the files
//! that changed (RocksDB's SST files never change once written) — and a
//! manifest under `backups/<id>.json`, written last, so a backup that did
//! not finish is never listed. Restore fetches a manifest's files, checks
//! every hash, and runs the full `stemedb verify` on the result.
//!
//! URLs go through the `object_store` crate: `file:///path` and
//! `s3://bucket/prefix`. New writes can be archived to the same URL
//! between backups ([`archive`]); a restore replays them.

pub mod archive;
pub mod progress;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, sqlstate};
use crate::model::Micros;
use crate::storage::{Durability, Store};

pub use store::open;

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub id: String,
    pub node: String,
    /// RFC 3339, when the checkpoint was taken.
    pub created_at: String,
    /// The node's HLC high-water just before the checkpoint (µs): every
    /// write acknowledged before the backup started is at or below it.
    pub hlc_before: i64,
    /// RocksDB's estimates, for the listing.
    pub claims_estimate: u64,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// The file's name in the data dir.
    pub name: String,
    pub size: u64,
    /// BLAKE3, hex: also its object name under `blobs/`.
    pub blake3: String,
}

/// What one backup uploaded.
#[derive(Debug, Clone)]
pub struct Created {
    pub manifest: Manifest,
    pub uploaded_bytes: u64,
    pub total_bytes: u64,
}

fn blob(hash: &str) -> ObjectPath {
    ObjectPath::from(format!("blobs/{hash}"))
}

fn manifest_path(id: &str) -> ObjectPath {
    ObjectPath::from(format!("backups/{id}.json"))
}

fn io(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("{what}: {e}"))
}

/// Backs up `store` (serving) to `url`; `progress` gets one line per step.
pub async fn create(store: &Arc<Store>, url: &str, progress: impl Fn(&str)) -> Result<Created> {
    let objects = open(url)?;
    let now = chrono::Utc::now();
    let id = now.format("%Y%m%dT%H%M%S%.6fZ").to_string();
    let hlc_before = store.clock().last().physical;
    let tracked = progress::Tracked::start(&id);
    let dir = store.dir().join(format!("backup-{id}"));
    let (s, d) = (store.clone(), dir.clone());
    tokio::task::spawn_blocking(move || s.checkpoint(&d))
        .await
        .map_err(|e| io("checkpoint", e))??;
    progress(&format!("checkpoint taken: {}", dir.display()));
    let result = upload(&objects, &dir, &tracked, &progress).await;
    let _ = std::fs::remove_dir_all(&dir);
    let (files, uploaded_bytes) = result?;
    let total_bytes = files.iter().map(|f| f.size).sum();
    let manifest = Manifest {
        id: id.clone(),
        node: store.node_id().to_string(),
        created_at: now.to_rfc3339(),
        hlc_before,
        claims_estimate: store
            .stats()
            .families
            .iter()
            .find(|f| f.name == "assertions")
            .map_or(0, |f| f.keys),
        files,
    };
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| io("manifest", e))?;
    objects
        .put(&manifest_path(&id), body.into())
        .await
        .map_err(|e| io("writing the manifest", e))?;
    progress(&format!("backup {id} complete"));
    Ok(Created {
        manifest,
        uploaded_bytes,
        total_bytes,
    })
}

/// Uploads each file of `dir` not stored yet; the entries and the bytes
/// sent.
async fn upload(
    objects: &Arc<dyn ObjectStore>,
    dir: &Path,
    tracked: &progress::Tracked,
    progress: &impl Fn(&str),
) -> Result<(Vec<FileEntry>, u64)> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io("reading the checkpoint", e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    tracked.upload(names.len() as u64);
    let mut files = Vec::new();
    let mut sent = 0;
    for (i, path) in names.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|e| io("reading a checkpoint file", e))?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let size = bytes.len() as u64;
        if objects.head(&blob(&hash)).await.is_err() {
            objects
                .put(&blob(&hash), bytes.into())
                .await
                .map_err(|e| io(&format!("uploading {name}"), e))?;
            sent += size;
        }
        tracked.file_done(size);
        progress(&format!(
            "[{}/{}] {name} ({size} bytes)",
            i + 1,
            names.len()
        ));
        files.push(FileEntry {
            name,
            size,
            blake3: hash,
        });
    }
    Ok((files, sent))
}

/// Every complete backup at `url`, oldest first.
pub async fn list(url: &str) -> Result<Vec<Manifest>> {
    let objects = open(url)?;
    let mut out = Vec::new();
    let listed = objects
        .list_with_delimiter(Some(&ObjectPath::from("backups")))
        .await;
    let listed = listed.map_err(|e| io("listing backups", e))?;
    for meta in listed.objects {
        let body = objects
            .get(&meta.location)
            .await
            .map_err(|e| io("reading a manifest", e))?;
        let bytes = body
            .bytes()
            .await
            .map_err(|e| io("reading a manifest", e))?;
        out.push(serde_json::from_slice(&bytes).map_err(|e| io("a manifest", e))?);
    }
    out.sort_by(|a: &Manifest, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The backup `id`, or the newest.
pub async fn manifest(url: &str, id: Option<&str>) -> Result<Manifest> {
    let all = list(url).await?;
    let found = match id {
        Some(id) => all.into_iter().find(|m| m.id == id),
        None => all.into_iter().last(),
    };
    found.ok_or_else(|| Error::internal(format!("no backup {} at {url}", id.unwrap_or("at all"))))
}

/// Writes the files of `manifest` into `dir` (which must not exist),
/// checking every hash; replays the writes archived at `url` since the
/// backup (up to `until`, µs, if given) and cuts the result back to that
/// instant (point-in-time restore, [`Store::truncate_after`]); then checks
/// the whole content (`stemedb verify`). Nothing is left in `dir` if a
/// file is missing or corrupt.
pub async fn restore(
    url: &str,
    manifest: &Manifest,
    dir: &Path,
    until: Option<Micros>,
    progress: impl Fn(&str),
) -> Result<()> {
    if dir.exists() {
        return Err(Error::internal(format!(
            "{} exists: restore into a new dir",
            dir.display()
        )));
    }
    let objects = open(url)?;
    std::fs::create_dir_all(dir).map_err(|e| io("creating the data dir", e))?;
    let mut fetched = fetch(&objects, manifest, dir, &progress).await;
    if fetched.is_ok() {
        fetched = bring_forward(url, manifest, dir, until, &progress).await;
    }
    let checked = fetched.and_then(|()| {
        let report = crate::storage::verify(dir)?;
        match report.ok() {
            true => Ok(()),
            false => Err(Error::internal(format!(
                "restored data fails verify: {report}"
            ))),
        }
    });
    if checked.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    checked
}

/// Replays the archive after the backup into the restored `dir`, then
/// cuts it back to `until`.
async fn bring_forward(
    url: &str,
    manifest: &Manifest,
    dir: &Path,
    until: Option<Micros>,
    progress: &impl Fn(&str),
) -> Result<()> {
    let store = Store::open(dir, None, Durability::Fsync)?;
    let (replayed, newest) =
        archive::replay(&store, url, manifest.hlc_before, until, progress).await?;
    progress(&format!("{replayed} archived records replayed"));
    let Some(until) = until else {
        return Ok(());
    };
    let reach = newest.unwrap_or(i64::MIN).max(manifest.hlc_before);
    if until > reach {
        return Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!(
                "--until is after the last write archived at {url} ({}): the state at that \
                 instant is not known; archive more often or pick an earlier instant",
                chrono::DateTime::from_timestamp_micros(reach)
                    .map_or(reach.to_string(), |t| t.to_rfc3339())
            ),
        ));
    }
    let s = store.clone();
    let (claims, retractions) = tokio::task::spawn_blocking(move || s.truncate_after(until))
        .await
        .map_err(|e| io("cutting back", e))??;
    progress(&format!(
        "cut back to {until} µs: {claims} later claims and {retractions} later retractions \
         dropped"
    ));
    Ok(())
}

async fn fetch(
    objects: &Arc<dyn ObjectStore>,
    manifest: &Manifest,
    dir: &Path,
    progress: &impl Fn(&str),
) -> Result<()> {
    for (i, f) in manifest.files.iter().enumerate() {
        let got = objects.get(&blob(&f.blake3)).await;
        let bytes = match got {
            Ok(body) => body
                .bytes()
                .await
                .map_err(|e| io(&format!("reading {}", f.name), e))?,
            Err(e) => {
                return Err(io(
                    &format!("backup {} file {} is missing", manifest.id, f.name),
                    e,
                ));
            }
        };
        if blake3::hash(&bytes).to_hex().as_str() != f.blake3 {
            return Err(Error::internal(format!(
                "backup {} file {} is corrupt: its BLAKE3 is not {}",
                manifest.id, f.name, f.blake3
            )));
        }
        std::fs::write(dir.join(&f.name), &bytes)
            .map_err(|e| io(&format!("writing {}", f.name), e))?;
        progress(&format!(
            "[{}/{}] {} ({} bytes) checked",
            i + 1,
            manifest.files.len(),
            f.name,
            f.size
        ));
    }
    Ok(())
}

/// Checks every file of a backup and the content they restore to.
pub async fn verify(url: &str, manifest: &Manifest, progress: impl Fn(&str)) -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| io("a scratch dir", e))?;
    restore(url, manifest, &tmp.path().join("data"), None, progress).await
}
