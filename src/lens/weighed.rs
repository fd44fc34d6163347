//! What a pair's head keeps for the `consensus` lens: one [`Weighed`] per
//! live claim — its object (an index into the head's tallies), base weight,
//! source, `observed_at`, HLC and id — so a consensus read is one head read
//! and one lookup of the winning claim, not a read of every claim. The
//! weights themselves cannot be kept: trust can change at any time and
//! decay moves with the clock. A pair with more than [`WEIGHED_CLAIMS`]
//! live claims keeps none (each new claim would rewrite a long list), and
//! is resolved from its claims; so is a head written before the list
//! existed (format 2).

use super::Tally;
use super::consensus::{Candidate, Weighing, winner};
use crate::error::{Error, Result};
use crate::model::{Assertion, Hlc, Id, Reader, Writer};

/// The most live claims a head keeps the consensus inputs of.
pub const WEIGHED_CLAIMS: usize = 64;

/// One live claim, as `consensus` weighs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Weighed {
    /// Index of its object in the head's tallies.
    pub object: u32,
    /// `confidence × w[tier]`.
    pub base: f64,
    pub source: String,
    pub observed_at: i64,
    pub hlc: Hlc,
    pub id: Id,
}

impl Weighed {
    fn of(a: &Assertion, objects: &[Tally]) -> Weighed {
        let key = (a.object.as_str(), a.object_type);
        let object = objects
            .binary_search_by(|t| (t.object.as_str(), t.object_type).cmp(&key))
            .unwrap_or_default() as u32;
        Weighed {
            object,
            base: a.weight(),
            source: a.source.clone(),
            observed_at: a.observed_at,
            hlc: a.hlc,
            id: a.id,
        }
    }
}

/// The list for these live claims (sorted by id), given the pair's
/// tallies; `None` past [`WEIGHED_CLAIMS`].
pub fn summarize(live: &[&Assertion], objects: &[Tally]) -> Option<Vec<Weighed>> {
    if live.len() > WEIGHED_CLAIMS {
        return None;
    }
    let mut list: Vec<Weighed> = live.iter().map(|a| Weighed::of(a, objects)).collect();
    list.sort_by(|x, y| x.id.cmp(&y.id));
    Some(list)
}

/// Adds a new live claim to `list`, after it was added to `objects`
/// (which had `objects_before` entries: a new object shifts the indexes
/// after it).
pub fn add(list: &mut Option<Vec<Weighed>>, a: &Assertion, objects: &[Tally], objects_before: usize) {
    let Some(entries) = list else {
        return;
    };
    if entries.len() >= WEIGHED_CLAIMS {
        *list = None;
        return;
    }
    let new = Weighed::of(a, objects);
    if objects.len() > objects_before {
        for e in entries.iter_mut().filter(|e| e.object >= new.object) {
            e.object += 1;
        }
    }
    let at = entries.partition_point(|e| e.id < new.id);
    entries.insert(at, new);
}

pub fn encode(w: &mut Writer, list: &Option<Vec<Weighed>>) {
    let Some(list) = list else {
        w.u8(0);
        return;
    };
    w.u8(1);
    w.u32(list.len() as u32);
    for e in list {
        w.u32(e.object);
        w.f64(e.base);
        w.str(&e.source);
        w.i64(e.observed_at);
        w.i64(e.hlc.physical);
        w.u32(e.hlc.logical);
        w.bytes(&e.id.0);
    }
}

/// The list after a head's tallies (a head without one, of format 2,
/// ends there: `None`).
pub fn decode(r: &mut Reader<'_>, objects: usize) -> Result<Option<Vec<Weighed>>> {
    if r.is_empty() || r.u8()? == 0 {
        return Ok(None);
    }
    let n = r.u32()? as usize;
    let mut list = Vec::with_capacity(n.min(WEIGHED_CLAIMS));
    for _ in 0..n {
        let object = r.u32()?;
        if object as usize >= objects {
            return Err(Error::corrupted("a head's weighed claim names no object"));
        }
        let base = r.f64()?;
        let source = r.str()?;
        let observed_at = r.i64()?;
        let hlc = Hlc::new(r.i64()?, r.u32()?);
        let id = Id::from_slice(r.bytes(32)?)
            .ok_or_else(|| Error::corrupted("a head's weighed claim has no id"))?;
        list.push(Weighed {
            object,
            base,
            source,
            observed_at,
            hlc,
            id,
        });
    }
    Ok(Some(list))
}

/// The consensus winner's id and the number of distinct objects, from a
/// head's tallies and list.
pub fn consensus_winner(objects: &[Tally], list: &[Weighed], weighing: &Weighing) -> Option<(Id, usize)> {
    let candidates = list
        .iter()
        .map(|e| {
            let t = &objects[e.object as usize];
            Candidate {
                object: (t.object.as_str(), t.object_type),
                base: e.base,
                source: e.source.as_str(),
                observed_at: e.observed_at,
                hlc: e.hlc,
                id: e.id,
                item: e.id,
            }
        })
        .collect();
    winner(candidates, weighing)
}
