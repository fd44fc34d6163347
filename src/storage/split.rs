//! Cutting a full scan of `by_subject` into slices of about equal size, at
//! subject boundaries, so that each core resolves the pairs of one slice.
//! The cuts come from RocksDB's size estimates of key ranges (from SST
//! index blocks, no data read), found by bisecting the key space between
//! the first and last keys on disk.

use super::keys::*;
use super::{ScanRange, Store, cf};

/// Below this much `by_subject` data on disk a full scan stays one ordered
/// stream.
const SPLIT_SCANS_ABOVE_BYTES: u64 = 32 << 20;

/// Bytes of key space bisected after the first and last keys' common prefix.
const KEY_BYTES: usize = 8;

impl Store {
    /// Up to `n` slices covering every subject; small data stays whole
    /// (`ScanRange::All`).
    pub fn split_full_scan(&self, n: usize) -> Vec<ScanRange> {
        self.split_scan_above(n, SPLIT_SCANS_ABOVE_BYTES)
    }

    pub(super) fn split_scan_above(&self, n: usize, min_bytes: u64) -> Vec<ScanRange> {
        let cuts = match self.cuts(n, min_bytes) {
            Some(cuts) if !cuts.is_empty() => cuts,
            _ => return vec![ScanRange::All],
        };
        let mut slices = Vec::with_capacity(cuts.len() + 1);
        let mut from = Vec::new();
        for cut in cuts {
            slices.push(ScanRange::Slice {
                from: std::mem::replace(&mut from, cut.clone()),
                to: Some(cut),
            });
        }
        slices.push(ScanRange::Slice { from, to: None });
        tracing::debug!(?slices, "full scan split");
        slices
    }

    fn cuts(&self, n: usize, min_bytes: u64) -> Option<Vec<Vec<u8>>> {
        let files: Vec<_> = self.db().live_files().ok()?;
        let files = files
            .iter()
            .filter(|f| f.column_family_name == CF_BY_SUBJECT);
        let first = files.clone().filter_map(|f| f.start_key.clone()).min()?;
        let last = files.filter_map(|f| f.end_key.clone()).max()?;
        let handle = cf(self.db(), CF_BY_SUBJECT).ok()?;
        let size_before = |key: &[u8]| {
            let range = rocksdb::Range::new(&first, key);
            self.db().get_approximate_sizes_cf(&handle, &[range])[0]
        };
        let total = size_before(&[last.as_slice(), &[0xFF]].concat());
        if n < 2 || total < min_bytes.max(1) {
            return None;
        }
        let common = first.iter().zip(&last).take_while(|(a, b)| a == b).count();
        let prefix = &first[..common];
        let point = |key: &[u8], pad: u8| {
            let mut bytes = [pad; KEY_BYTES];
            for (b, k) in bytes.iter_mut().zip(key.iter().skip(common)) {
                *b = *k;
            }
            u64::from_be_bytes(bytes)
        };
        let key_at = |p: u64| [prefix, &p.to_be_bytes()[..]].concat();
        let mut cuts: Vec<Vec<u8>> = Vec::new();
        for k in 1..n as u64 {
            let target = total * k / n as u64;
            let (mut lo, mut hi) = (point(&first, 0), point(&last, 0xFF));
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                match size_before(&key_at(mid)) < target {
                    true => lo = mid,
                    false => hi = mid,
                }
            }
            let cut = self.subject_start_at(&key_at(hi))?;
            if cut > first && cuts.last().is_none_or(|last| cut > *last) {
                cuts.push(cut);
            }
        }
        Some(cuts)
    }

    /// The start of the subject of the first key at or after `key`.
    fn subject_start_at(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut found = None;
        let options = rocksdb::ReadOptions::default();
        super::scan::for_each_between(self.db(), options, CF_BY_SUBJECT, &[], key, None, |k, _| {
            found = take_part(k).map(|(subject, _)| subject_prefix(&subject, None));
            Ok(false)
        })
        .ok()?;
        found
    }
}
