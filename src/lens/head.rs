//! A pair's *head*: everything the lens views need about the live claims
//! of one (subject, predicate), kept up to date as claims arrive instead of
//! resolved from every claim at each read — the recency and authority
//! winners, the number of live claims and a [`Tally`] per distinct object
//! (from which `conflicts` scores the pair). Adding a claim updates a head
//! in place; a retraction needs the pair's claims ([`Head::of`]).
//!
//! [`Head::resolution`] and [`Head::conflict`] give exactly what
//! [`super::resolve`] and [`super::conflict`] give for the same live
//! claims (property-tested in `tests/it/heads.rs`).

use super::conflict::{Tally, add_to_tallies, conflict_of, tallies};
use super::{Conflict, Lens, Resolution, authority_order, recency_order};
use crate::error::{Error, Result};
use crate::model::{Assertion, Id, ObjectType, Strings};
use crate::model::{Reader, Writer};

/// What a lens view needs of a stored head — its lens's winner and the
/// pair's counts — decoded without the rest ([`Head::decode_lens`]).
#[derive(Debug, Clone)]
pub struct LensRow {
    pub winner: Assertion,
    pub claims: u64,
    pub distinct_objects: usize,
}

impl LensRow {
    /// An empty row, for [`Head::decode_lens_into`] to fill.
    pub fn blank() -> LensRow {
        LensRow {
            winner: Assertion::blank(),
            claims: 0,
            distinct_objects: 0,
        }
    }

    pub fn resolution(&self) -> Resolution<'_> {
        Resolution {
            winner: &self.winner,
            claims: self.claims as usize,
            distinct_objects: self.distinct_objects,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub recency: Assertion,
    pub authority: Assertion,
    /// Live claims of the pair.
    pub claims: u64,
    /// One per distinct object, sorted by object, then type.
    pub objects: Vec<Tally>,
}

impl Head {
    /// The head of a pair with these live claims (`None`: none live).
    pub fn of(live: &[&Assertion]) -> Option<Head> {
        let recency = live.iter().copied().max_by(|a, b| recency_order(a, b))?;
        let authority = live.iter().copied().max_by(|a, b| authority_order(a, b))?;
        Some(Head {
            recency: recency.clone(),
            authority: authority.clone(),
            claims: live.len() as u64,
            objects: tallies(live),
        })
    }

    /// Adds a new live claim.
    pub fn add(&mut self, a: &Assertion) {
        if recency_order(a, &self.recency).is_gt() {
            self.recency = a.clone();
        }
        if authority_order(a, &self.authority).is_gt() {
            self.authority = a.clone();
        }
        self.claims += 1;
        add_to_tallies(&mut self.objects, a);
    }

    /// The pair as `lens` resolves it, for the lenses a head keeps
    /// ([`Lens::in_heads`]; readers resolve `consensus` from the claims).
    pub fn resolution(&self, lens: Lens) -> Resolution<'_> {
        debug_assert!(lens.in_heads(), "{lens:?} is not kept in heads");
        Resolution {
            winner: match lens {
                Lens::Authority => &self.authority,
                Lens::Recency | Lens::Consensus => &self.recency,
            },
            claims: self.claims as usize,
            distinct_objects: self.objects.len(),
        }
    }

    /// The pair's row of `conflicts` (before its two-object filter).
    pub fn conflict(&self) -> Option<Conflict> {
        conflict_of(&self.objects, self.claims as usize)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_version();
        let winner = |w: &mut Writer, a: &Assertion| {
            let bytes = a.encode();
            w.bytes(&a.id.0);
            w.u32(bytes.len() as u32);
            w.bytes(&bytes);
        };
        winner(&mut w, &self.recency);
        if self.authority.id == self.recency.id {
            w.u8(0);
        } else {
            w.u8(1);
            winner(&mut w, &self.authority);
        }
        w.i64(self.claims as i64);
        w.u32(self.objects.len() as u32);
        for t in &self.objects {
            w.u8(t.object_type.tag());
            w.str(&t.object);
            w.bytes(&t.weight.to_be_bytes());
            w.i64(t.claims as i64);
        }
        w.buf
    }

    /// Decodes only what `lens` shows of a stored head: one winner and the
    /// counts (the other winner and the tallies are skipped, not parsed).
    pub fn decode_lens(bytes: &[u8], lens: Lens) -> Result<LensRow> {
        let mut row = LensRow::blank();
        Self::decode_lens_into(bytes, lens, Strings::ALL, &mut row)?;
        Ok(row)
    }

    /// [`Head::decode_lens`] into `row`, reusing its buffers, with only
    /// `strings` of the winner's seldom shown strings.
    pub fn decode_lens_into(
        bytes: &[u8],
        lens: Lens,
        strings: Strings,
        row: &mut LensRow,
    ) -> Result<()> {
        let mut r = Reader::versioned(bytes)?;
        let recency = Self::raw_winner(&mut r)?;
        let authority = match r.u8()? {
            0 => None,
            _ => Some(Self::raw_winner(&mut r)?),
        };
        row.claims = r.i64()? as u64;
        row.distinct_objects = r.u32()? as usize;
        let (id, winner) = match (lens, authority) {
            (Lens::Authority, Some(authority)) => authority,
            _ => recency,
        };
        row.winner.decode_keyed_into(winner, id, strings)
    }

    /// A winner's id and encoded claim.
    fn raw_winner<'a>(r: &mut Reader<'a>) -> Result<(Id, &'a [u8])> {
        let id = Id::from_slice(r.bytes(32)?)
            .ok_or_else(|| Error::corrupted("head without a winner id"))?;
        let n = r.u32()? as usize;
        Ok((id, r.bytes(n)?))
    }

    pub fn decode(bytes: &[u8]) -> Result<Head> {
        let mut r = Reader::versioned(bytes)?;
        let winner = |r: &mut Reader| -> Result<Assertion> {
            let id = Id::from_slice(r.bytes(32)?)
                .ok_or_else(|| Error::corrupted("head without a winner id"))?;
            let n = r.u32()? as usize;
            Assertion::decode_keyed(r.bytes(n)?, id)
        };
        let recency = winner(&mut r)?;
        let authority = match r.u8()? {
            0 => recency.clone(),
            _ => winner(&mut r)?,
        };
        let claims = r.i64()? as u64;
        let n = r.u32()? as usize;
        let mut objects = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let tag = r.u8()?;
            let object_type = ObjectType::from_tag(tag)
                .ok_or_else(|| Error::corrupted(format!("unknown object type tag {tag}")))?;
            let object = r.str()?;
            let weight = i128::from_be_bytes(r.bytes(16)?.try_into().unwrap_or_default());
            let claims = r.i64()? as u64;
            objects.push(Tally {
                object,
                object_type,
                weight,
                claims,
            });
        }
        r.finish()?;
        Ok(Head {
            recency,
            authority,
            claims,
            objects,
        })
    }
}
