//! Archival (issue 14): every claim and retraction this node accepted, in
//! HLC order, shipped as zstd-compressed segments next to the backups —
//! `archive/<first HLC>-<last HLC>-<digest>.zst` under the same URL — on a
//! schedule (`[backup] archive_url`, `archive_interval`) or now
//! (`SELECT stemedb_archive(url)`). A restore replays the segments after
//! its backup, so what it loses is at most one interval of writes (the
//! RPO). A segment is a sequence of records, each a little-endian `u32`
//! length and the record's canonical encoding (as replication sends it).

use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use super::{io, open};
use crate::error::{Error, Result};
use crate::model::{Hlc, Micros};
use crate::storage::{Store, Write, decode_write, encode_write};

/// Records per segment, at most.
const SEGMENT_RECORDS: usize = 100_000;

/// `[backup]`: continuous archival of new writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Where to archive (`file:///…` or `s3://bucket/prefix`: the URL the
    /// backups go to); unset: no archival.
    pub archive_url: Option<String>,
    /// How often a segment is shipped (`'60s'`; bare numbers are seconds):
    /// the most a restore can lose.
    pub archive_interval: String,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            archive_url: None,
            archive_interval: "60s".into(),
        }
    }
}

impl BackupConfig {
    pub fn archive_every(&self) -> Result<Duration> {
        let every =
            crate::units::parse_duration("backup.archive_interval", &self.archive_interval, "s")?;
        every.filter(|d| !d.is_zero()).ok_or_else(|| {
            Error::internal(format!(
                "[backup] archive_interval must be above 0, not '{}'",
                self.archive_interval
            ))
        })
    }
}

/// What one round shipped.
#[derive(Debug, Default, Clone, Copy)]
pub struct Archived {
    pub records: u64,
    pub segments: u64,
    pub bytes: u64,
}

/// Ships what was accepted since the last round to `url`.
pub async fn archive(store: &Arc<Store>, url: &str) -> Result<Archived> {
    let objects = open(url)?;
    let mut done = Archived::default();
    loop {
        let (s, u) = (store.clone(), url.to_string());
        let (writes, last) = tokio::task::spawn_blocking(move || {
            let after = s.archive_mark(&u)?;
            s.accepted_after(after.as_deref(), SEGMENT_RECORDS)
        })
        .await
        .map_err(|e| io("archiving", e))??;
        let Some(last) = last else {
            return Ok(done);
        };
        // A short segment reached the end: stop there, rather than chase
        // the writes that keep arriving with one tiny segment after another.
        let full = writes.len() >= SEGMENT_RECORDS;
        if !writes.is_empty() {
            let (name, body) = segment(&writes)?;
            done.bytes += body.len() as u64;
            objects
                .put(&ObjectPath::from(name.as_str()), body.into())
                .await
                .map_err(|e| io(&format!("uploading {name}"), e))?;
            done.records += writes.len() as u64;
            done.segments += 1;
        }
        let (s, u) = (store.clone(), url.to_string());
        tokio::task::spawn_blocking(move || s.set_archive_mark(&u, &last))
            .await
            .map_err(|e| io("archiving", e))??;
        if !full {
            return Ok(done);
        }
    }
}

/// Archives to `url` every `every`, until the process ends.
pub async fn run(store: Arc<Store>, url: String, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match archive(&store, &url).await {
            Ok(a) if a.records > 0 => tracing::info!(
                records = a.records,
                bytes = a.bytes,
                "archive: shipped to {url}"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("archive to {url}: {}", e.message),
        }
    }
}

fn hlc_of(w: &Write) -> Hlc {
    match w {
        Write::Assertion(a) => a.hlc,
        Write::Retraction(r) => r.hlc,
        Write::Claim(_) | Write::Retract(_) => Hlc::new(0, 0),
    }
}

/// A segment's object name and compressed body.
fn segment(writes: &[Write]) -> Result<(String, Vec<u8>)> {
    let mut raw = Vec::new();
    for w in writes {
        let record = encode_write(w)?;
        raw.extend_from_slice(&(record.len() as u32).to_le_bytes());
        raw.extend_from_slice(&record);
    }
    let body = zstd::encode_all(raw.as_slice(), 3).map_err(|e| io("compressing", e))?;
    let hex = |w: &Write| hex_key(&hlc_of(w).to_key());
    let (first, last) = (writes.first(), writes.last());
    let digest = blake3::hash(&body).to_hex();
    let name = match (first, last) {
        (Some(f), Some(l)) => format!("archive/{}-{}-{}.zst", hex(f), hex(l), &digest[..16]),
        _ => return Err(Error::internal("an empty segment")),
    };
    Ok((name, body))
}

fn hex_key(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The (first, last) HLC physical times a segment's name gives.
fn span(name: &str) -> Option<(Micros, Micros)> {
    let file = name.rsplit('/').next()?;
    let mut parts = file.split('-');
    let physical = |part: Option<&str>| {
        let hex = part?;
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        Some(Hlc::from_key(&bytes?)?.physical)
    };
    Some((physical(parts.next())?, physical(parts.next())?))
}

/// Replays into `store` the archived records of `url` accepted at or
/// after `from` (µs, the backup's instant) and, with `until`, at or
/// before it; the records replayed and the newest instant archived.
pub async fn replay(
    store: &Arc<Store>,
    url: &str,
    from: Micros,
    until: Option<Micros>,
    progress: &impl Fn(&str),
) -> Result<(u64, Option<Micros>)> {
    let objects = open(url)?;
    let listed = objects
        .list_with_delimiter(Some(&ObjectPath::from("archive")))
        .await
        .map_err(|e| io("listing the archive", e))?;
    let mut names: Vec<(String, Micros, Micros)> = listed
        .objects
        .iter()
        .filter_map(|m| {
            let name = m.location.to_string();
            let (first, last) = span(&name)?;
            Some((name, first, last))
        })
        .collect();
    names.sort();
    let newest = names.iter().map(|n| n.2).max();
    let wanted = names
        .iter()
        .filter(|(_, first, last)| *last >= from && until.is_none_or(|u| *first <= u));
    let mut replayed = 0;
    for (name, _, _) in wanted {
        let got = objects.get(&ObjectPath::from(name.as_str())).await;
        let body = match got {
            Ok(body) => body.bytes().await.map_err(|e| io(name, e))?,
            Err(e) => return Err(io(&format!("reading {name}"), e)),
        };
        let digest = name.rsplit('-').next().and_then(|d| d.strip_suffix(".zst"));
        if digest != Some(&blake3::hash(&body).to_hex()[..16]) {
            return Err(Error::internal(format!(
                "archive segment {name} is corrupt: its BLAKE3 does not match its name"
            )));
        }
        let mut writes = decode_segment(name, &body)?;
        writes.retain(|w| until.is_none_or(|u| hlc_of(w).physical <= u));
        replayed += writes.len() as u64;
        store.commit_replica(writes).await?;
        progress(&format!("replayed {name}"));
    }
    Ok((replayed, newest))
}

fn decode_segment(name: &str, body: &[u8]) -> Result<Vec<Write>> {
    let corrupt = |why: &str| Error::internal(format!("archive segment {name} is corrupt: {why}"));
    let raw = zstd::decode_all(body).map_err(|e| corrupt(&e.to_string()))?;
    let mut writes = Vec::new();
    let mut rest = raw.as_slice();
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("cut short"))?;
        let len = u32::from_le_bytes(*len) as usize;
        let record = tail.get(..len).ok_or_else(|| corrupt("cut short"))?;
        writes.push(decode_write(record).map_err(|e| corrupt(&e.message))?);
        rest = &tail[len..];
    }
    Ok(writes)
}
