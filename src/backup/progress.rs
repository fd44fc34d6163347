//! Backups in progress on this node, for `stemedb.backup_progress` (one row
//! per running `stemedb_backup()`, like PostgreSQL's
//! `pg_stat_progress_basebackup`): `stemedb backup create` polls it to draw
//! its bar while the node does the work.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

/// One running backup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// `checkpoint`, then `upload`.
    pub phase: &'static str,
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    /// µs since the epoch.
    pub started_at: i64,
}

static RUNNING: LazyLock<Mutex<BTreeMap<String, Progress>>> = LazyLock::new(Mutex::default);

fn running() -> std::sync::MutexGuard<'static, BTreeMap<String, Progress>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every running backup, by id.
pub fn all() -> Vec<(String, Progress)> {
    running()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A backup's row, from its start until it is dropped.
pub struct Tracked(String);

impl Tracked {
    pub fn start(id: &str) -> Tracked {
        let progress = Progress {
            phase: "checkpoint",
            started_at: crate::model::wall_clock_micros(),
            ..Progress::default()
        };
        running().insert(id.to_string(), progress);
        Tracked(id.to_string())
    }

    /// Uploading `total` files.
    pub fn upload(&self, total: u64) {
        if let Some(p) = running().get_mut(&self.0) {
            (p.phase, p.files_total) = ("upload", total);
        }
    }

    /// One more file of `bytes` handled.
    pub fn file_done(&self, bytes: u64) {
        if let Some(p) = running().get_mut(&self.0) {
            p.files_done += 1;
            p.bytes_done += bytes;
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        running().remove(&self.0);
    }
}
