//! Key encoding for the column families (docs/architecture.md, "Storage layout").
//!
//! Strings inside composite keys are escaped so that keys sort exactly like
//! the tuple of their parts: every 0x00 byte becomes 0x00 0xFF and each part
//! ends with 0x00 0x01. A prefix of whole parts is therefore a key prefix,
//! which is what makes `WHERE subject = …` an index range scan.

use crate::model::{Hlc, Id};

/// Column family names.
pub const CF_ASSERTIONS: &str = "assertions";
pub const CF_BY_SUBJECT: &str = "by_subject";
pub const CF_BY_PREDICATE: &str = "by_predicate";
pub const CF_BY_HLC: &str = "by_hlc";
pub const CF_RETRACTIONS: &str = "retractions";
pub const CF_META: &str = "meta";
pub const CF_STAGING: &str = "staging";
pub const CF_HEADS: &str = "heads";
pub const CF_HINTS: &str = "hints";
/// Definitions every node holds in full (roles), [`super::catalog`].
pub const CF_CATALOG: &str = "catalog";

pub const ALL_CFS: [&str; 10] = [
    CF_ASSERTIONS,
    CF_BY_SUBJECT,
    CF_BY_PREDICATE,
    CF_BY_HLC,
    CF_RETRACTIONS,
    CF_META,
    CF_STAGING,
    CF_HEADS,
    CF_HINTS,
    CF_CATALOG,
];

/// Kinds of record in the HLC index.
pub const HLC_KIND_ASSERTION: u8 = b'a';
pub const HLC_KIND_RETRACTION: u8 = b'r';

/// Appends one escaped, terminated string part.
pub fn push_part(out: &mut Vec<u8>, part: &str) {
    for &b in part.as_bytes() {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

/// Splits the first escaped part off `key`, returning it and the rest.
pub fn take_part(key: &[u8]) -> Option<(String, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < key.len() {
        let b = key[i];
        if b == 0 {
            match key.get(i + 1) {
                Some(0xFF) => out.push(0),
                Some(1) => return Some((String::from_utf8(out).ok()?, &key[i + 2..])),
                _ => return None,
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    None
}

/// `by_subject` key: subject, predicate, id.
pub fn subject_key(subject: &str, predicate: &str, id: &Id) -> Vec<u8> {
    let mut k = subject_prefix(subject, Some(predicate));
    k.extend_from_slice(&id.0);
    k
}

/// Prefix of every `by_subject` key for a subject (and predicate).
pub fn subject_prefix(subject: &str, predicate: Option<&str>) -> Vec<u8> {
    let mut k = Vec::with_capacity(subject.len() + 40);
    push_part(&mut k, subject);
    if let Some(p) = predicate {
        push_part(&mut k, p);
    }
    k
}

/// Length of a composite key's first part, terminator included, if the key
/// has a complete one.
fn first_part_len(key: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < key.len() {
        match (key[i], key[i + 1]) {
            (0, 1) => return Some(i + 2),
            (0, _) => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// `by_subject`'s prefix extractor: the subject part of a key (the whole
/// key outside [`has_subject_part`]'s domain).
pub fn subject_part(key: &[u8]) -> &[u8] {
    &key[..first_part_len(key).unwrap_or(key.len())]
}

/// The prefix extractor's domain: keys with a complete subject part.
pub fn has_subject_part(key: &[u8]) -> bool {
    first_part_len(key).is_some()
}

/// `by_predicate` key: predicate, subject, id.
pub fn predicate_key(predicate: &str, subject: &str, id: &Id) -> Vec<u8> {
    let mut k = predicate_prefix(predicate);
    push_part(&mut k, subject);
    k.extend_from_slice(&id.0);
    k
}

pub fn predicate_prefix(predicate: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(predicate.len() + 40);
    push_part(&mut k, predicate);
    k
}

/// Decodes a `by_predicate` key into (predicate, subject, id).
pub fn split_predicate_key(key: &[u8]) -> Option<(String, String, Id)> {
    let (predicate, rest) = take_part(key)?;
    let (subject, rest) = take_part(rest)?;
    Some((predicate, subject, Id::from_slice(rest)?))
}

/// Decodes a `by_subject` key into (subject, predicate, id).
pub fn split_subject_key(key: &[u8]) -> Option<(String, String, Id)> {
    let (subject, rest) = take_part(key)?;
    let (predicate, rest) = take_part(rest)?;
    Some((subject, predicate, Id::from_slice(rest)?))
}

/// `by_hlc` key: hlc, node, kind, id — the total order of writes.
pub fn hlc_key(hlc: Hlc, node: &str, kind: u8, id: &Id) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + node.len() + 2 + 33);
    k.extend_from_slice(&hlc.to_key());
    push_part(&mut k, node);
    k.push(kind);
    k.extend_from_slice(&id.0);
    k
}

/// Metadata keys.
pub const META_NODE_ID: &[u8] = b"node_id";
pub const META_HLC: &[u8] = b"hlc_high_water";
pub const META_FORMAT: &[u8] = b"format_version";
pub const META_MEMBERS: &[u8] = b"cluster_members";
/// The cluster layout this node holds (JSON, see `cluster::layout`).
pub const META_LAYOUT: &[u8] = b"cluster_layout";
/// How far archival got: its URL, a zero byte, the last `by_hlc` key shipped.
pub const META_ARCHIVE: &[u8] = b"archive_mark";
/// Prefix of a user's SCRAM salt (followed by the user name).
pub const META_SCRAM_SALT: &[u8] = b"scram_salt:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_sort_like_tuples_and_round_trip() {
        let id = Id([7; 32]);
        let a = subject_key("a", "z", &id);
        let b = subject_key("a\0b", "a", &id);
        let c = subject_key("ab", "a", &id);
        assert!(a < b && b < c);
        assert_eq!(split_subject_key(&b), Some(("a\0b".into(), "a".into(), id)));
        assert!(a.starts_with(&subject_prefix("a", None)));
        assert!(!c.starts_with(&subject_prefix("a", None)));
        assert_eq!(subject_part(&b), subject_prefix("a\0b", None).as_slice());
        assert_eq!(
            subject_part(&subject_prefix("a", None)),
            subject_prefix("a", None).as_slice()
        );
        assert_eq!(subject_part(b"abc"), b"abc");
        assert!(has_subject_part(&b) && !has_subject_part(b"abc"));
    }
}
