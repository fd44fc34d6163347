//! The change feed's rows, read from the `by_hlc` index (docs/changes.md).
//! Each claim and each retraction this node stores is one change; its
//! `change_id` is fixed-width hex text whose order is the total write
//! order — the stamp (HLC), the stamping node, the kind, the claim's id:
//!
//! ```text
//! 0005f1a2b3c4d5e6 00000000 1a2b3c4d  a  9f…(64 hex digits)
//! └ physical µs ─┘ └logical┘ └ node ┘ kind └ claim id ─┘
//! ```
//!
//! (without the spaces: 97 characters). The node is a 32-bit digest of its
//! name, so ids keep one width; `by_hlc` orders a stamp's entries by the
//! node's name instead, so entries sharing a stamp (stamped on different
//! nodes) are put in `change_id` order before they are returned.
//!
//! Comparing with the first 24 characters alone compares stamps: a
//! `change_id` sorts below [`stamp_bound`]`(h)` exactly when its stamp is
//! below `h`, which is how a reader's frontier travels as a filter.

use super::keys::{CF_BY_HLC, HLC_KIND_RETRACTION, take_part};
use super::{ReadPoint, cf};
use crate::error::{Error, Result};
use crate::model::{Assertion, Hlc, Id, Retraction};

/// Length of a `change_id`.
pub const CHANGE_ID_LEN: usize = 24 + 8 + 1 + 64;

/// One change: a claim, or a retraction with the claim it retracts.
#[derive(Debug, Clone)]
pub struct Change {
    pub id: String,
    pub hlc: Hlc,
    pub claim: Assertion,
    pub retraction: Option<Retraction>,
}

/// The text every `change_id` stamped `hlc` starts with; an id sorts below
/// it exactly when its stamp is below `hlc`.
pub fn stamp_bound(hlc: Hlc) -> String {
    format!("{:016x}{:08x}", hlc.physical as u64, hlc.logical)
}

/// The stamp a `change_id` (or a prefix of one) starts with.
pub fn stamp_of(change_id: &str) -> Option<Hlc> {
    let physical = u64::from_str_radix(change_id.get(..16)?, 16).ok()?;
    let logical = u32::from_str_radix(change_id.get(16..24)?, 16).ok()?;
    Some(Hlc::new(i64::try_from(physical).ok()?, logical))
}

/// The change id of a `by_hlc` entry.
#[cfg(test)]
fn change_id(hlc: Hlc, node: &str, kind: u8, id: &Id) -> String {
    id_with_tag(hlc, node_tag(node), kind, id)
}

/// A node's 32-bit digest in change ids.
fn node_tag(node: &str) -> u32 {
    let tag = blake3::hash(node.as_bytes());
    u32::from_be_bytes(tag.as_bytes()[..4].try_into().expect("four bytes"))
}

fn id_with_tag(hlc: Hlc, tag: u32, kind: u8, id: &Id) -> String {
    format!("{}{tag:08x}{}{id}", stamp_bound(hlc), kind as char)
}

/// The next stamp after `hlc`.
pub fn next_stamp(hlc: Hlc) -> Hlc {
    match hlc.logical.checked_add(1) {
        Some(l) => Hlc::new(hlc.physical, l),
        None => Hlc::new(hlc.physical.saturating_add(1), 0),
    }
}

/// Where a read of the feed starts: after (or at) a `change_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub change_id: String,
    pub inclusive: bool,
}

impl After {
    fn admits(&self, id: &str) -> bool {
        match self.inclusive {
            true => id >= self.change_id.as_str(),
            false => id > self.change_id.as_str(),
        }
    }
}

/// A `by_hlc` entry, decoded.
struct Entry {
    hlc: Hlc,
    id: String,
    kind: u8,
    claim: Id,
}

/// Decodes `by_hlc` entries; a scan meets few nodes, so each node's
/// digest is worked out once.
#[derive(Default)]
struct Entries {
    tags: Vec<(String, u32)>,
}

impl Entries {
    fn entry(&mut self, key: &[u8]) -> Option<Entry> {
        let hlc = Hlc::from_key(key)?;
        let (node, rest) = take_part(&key[12..])?;
        let (&kind, id) = rest.split_first()?;
        let claim = Id::from_slice(id)?;
        let tag = match self.tags.iter().find(|(n, _)| *n == node) {
            Some((_, tag)) => *tag,
            None => {
                let tag = node_tag(&node);
                self.tags.push((node, tag));
                tag
            }
        };
        Some(Entry {
            hlc,
            id: id_with_tag(hlc, tag, kind, &claim),
            kind,
            claim,
        })
    }
}

impl ReadPoint {
    /// Visits the changes stamped below `below` and admitted by `after`,
    /// in `change_id` order, until `visit` returns false.
    pub fn for_each_change(
        &self,
        after: Option<&After>,
        below: Hlc,
        mut visit: impl FnMut(Change) -> Result<bool>,
    ) -> Result<()> {
        let db = self.db();
        let mut options = self.options();
        options.set_iterate_upper_bound(below.to_key().to_vec());
        let mut it = db.raw_iterator_cf_opt(cf(db, CF_BY_HLC)?, options);
        match after.and_then(|a| stamp_of(&a.change_id)) {
            Some(from) => it.seek(from.to_key()),
            None => it.seek_to_first(),
        }
        // Entries sharing a stamp, gathered to be put in change_id order.
        let mut group: Vec<Entry> = Vec::new();
        let mut entries = Entries::default();
        loop {
            let next = match it.key() {
                Some(key) => Some(entries.entry(key).ok_or_else(|| {
                    Error::internal("a by_hlc key that does not decode: run `stemedb verify`")
                })?),
                None => None,
            };
            if group
                .first()
                .is_some_and(|g| next.as_ref().is_none_or(|n| n.hlc != g.hlc))
            {
                group.sort_by(|a, b| a.id.cmp(&b.id));
                for e in group.drain(..) {
                    if after.is_some_and(|a| !a.admits(&e.id)) || !self.sees(e.hlc) {
                        continue;
                    }
                    if let Some(change) = self.change(e)?
                        && !visit(change)?
                    {
                        return Ok(());
                    }
                }
            }
            match next {
                Some(e) => group.push(e),
                None => break,
            }
            it.next();
        }
        it.status().map_err(Error::from)
    }

    /// The change an entry names, with its claim (`None` if the claim is
    /// not stored here: a retraction that came before its claim).
    fn change(&self, e: Entry) -> Result<Option<Change>> {
        let retraction = match e.kind {
            HLC_KIND_RETRACTION => match self.get_retraction(&e.claim)? {
                Some(r) => Some(r),
                None => return Ok(None),
            },
            _ => None,
        };
        Ok(self.get_assertion(&e.claim)?.map(|claim| Change {
            id: e.id,
            hlc: e.hlc,
            claim,
            retraction,
        }))
    }

    /// The largest `change_id` stamped below `below`.
    pub fn newest_change(&self, below: Hlc) -> Result<Option<String>> {
        let db = self.db();
        let mut it = db.raw_iterator_cf_opt(cf(db, CF_BY_HLC)?, self.options());
        it.seek_for_prev(below.to_key());
        let mut newest: Option<Entry> = None;
        let mut entries = Entries::default();
        while let Some(key) = it.key() {
            let Some(e) = entries.entry(key) else { break };
            if e.hlc >= below {
                it.prev();
                continue;
            }
            match &newest {
                Some(n) if n.hlc != e.hlc => break,
                Some(n) if n.id >= e.id => {}
                _ => newest = Some(e),
            }
            it.prev();
        }
        it.status()?;
        Ok(newest.map(|e| e.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_ids_have_one_width_and_sort_by_stamp_first() {
        let id = Id([0xab; 32]);
        let a = change_id(Hlc::new(1_700_000_000_000_000, 5), "node-b", b'a', &id);
        let b = change_id(Hlc::new(1_700_000_000_000_000, 6), "node-a", b'r', &id);
        assert_eq!(a.len(), CHANGE_ID_LEN);
        assert_eq!(b.len(), CHANGE_ID_LEN);
        assert!(a < b);
        assert_eq!(stamp_of(&a), Some(Hlc::new(1_700_000_000_000_000, 5)));
        let bound = stamp_bound(Hlc::new(1_700_000_000_000_000, 6));
        assert!(a.as_str() < bound.as_str() && b.as_str() >= bound.as_str());
        assert_eq!(next_stamp(Hlc::new(3, u32::MAX)), Hlc::new(4, 0));
    }
}
