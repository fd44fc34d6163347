//! What each committed batch stored, for whoever keeps a digest of this
//! node's claims (the cluster's Merkle trees): every claim, and every
//! retraction once its claim is stored too — the retraction's subject is
//! its claim's, so one that arrives first is reported when its claim
//! lands. A claim that was already stored (a replica sent again) is not
//! reported twice: the digests count each record exactly once.

use std::sync::{Arc, Mutex};

use rocksdb::{DB, ReadOptions};

use super::keys::{CF_ASSERTIONS, CF_RETRACTIONS};
use super::{Store, Write, cf};
use crate::error::Result;
use crate::model::{Assertion, Id, Retraction};

/// One stored claim or retraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The subject that places it (a retraction's: its claim's).
    pub subject: String,
    /// The claim's id (a retraction's: the claim it retracts).
    pub claim: Id,
    /// The record's digest: a claim's id, a retraction's BLAKE3.
    pub item: [u8; 32],
}

impl Landed {
    pub fn claim(a: &Assertion) -> Landed {
        Landed {
            subject: a.subject.clone(),
            claim: a.id,
            item: a.id.0,
        }
    }

    /// A retraction of `claim` (about `subject`), stored as `encoded`.
    pub fn retraction(subject: &str, claim: Id, encoded: &[u8]) -> Landed {
        Landed {
            subject: subject.to_string(),
            claim,
            item: retraction_digest(encoded),
        }
    }
}

/// A retraction's digest (a claim's is its id).
pub fn retraction_digest(encoded: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"retraction");
    h.update(encoded);
    *h.finalize().as_bytes()
}

/// Told what each batch stored, once it is written (its fsync may still be
/// under way: a digest that counts a record lost to a crash is rebuilt at
/// restart), on the writer thread (so it must be quick).
pub type LandedSink = Arc<dyn Fn(&[Landed]) + Send + Sync>;

/// Where the writer reports, once someone listens. The writer holds the
/// lock from building a batch until it has reported it, so a listener that
/// starts while writes land sees each exactly once: in its snapshot or
/// reported.
pub type LandedSlot = Arc<Mutex<Option<LandedSink>>>;

impl Store {
    /// Reports every later batch's stored records to `sink`, and gives
    /// `visit` every claim and retraction stored before — together, each
    /// record exactly once.
    pub fn listen_landed(&self, sink: LandedSink, visit: impl FnMut(Landed)) -> Result<()> {
        let snapshot = {
            let mut slot = self.landed.lock().unwrap_or_else(|e| e.into_inner());
            *slot = Some(sink);
            self.db.snapshot()
        };
        let read = || {
            let mut o = ReadOptions::default();
            o.set_snapshot(&snapshot);
            o
        };
        visit_landed(&self.db, read, &[], None, visit)
    }

    /// The claim `id`, or its retraction, as a write, if stored here.
    pub fn record(&self, id: &Id, retraction: bool) -> Result<Option<Write>> {
        let family = if retraction {
            CF_RETRACTIONS
        } else {
            CF_ASSERTIONS
        };
        let Some(v) = self.db.get_pinned_cf(cf(&self.db, family)?, id.0)? else {
            return Ok(None);
        };
        Ok(Some(match retraction {
            true => Write::Retraction(Retraction::decode(&v)?),
            false => Write::Assertion(Assertion::decode_keyed(&v, *id)?),
        }))
    }

    /// The records stored now whose claim ids are in `from..to`.
    pub fn landed_between(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        visit: impl FnMut(Landed),
    ) -> Result<()> {
        visit_landed(&self.db, ReadOptions::default, from, to, visit)
    }
}

/// Visits the claims, then the retractions (with their claim's subject;
/// one whose claim is not stored is counted when it lands), whose claim
/// ids are in `from..to`, reading with `read()`.
fn visit_landed(
    db: &DB,
    read: impl Fn() -> ReadOptions,
    from: &[u8],
    to: Option<&[u8]>,
    mut visit: impl FnMut(Landed),
) -> Result<()> {
    let bounded = || {
        let mut o = read();
        if let Some(to) = to {
            o.set_iterate_upper_bound(to.to_vec());
        }
        o
    };
    let assertions = cf(db, CF_ASSERTIONS)?;
    let mut claims = db.raw_iterator_cf_opt(assertions, bounded());
    claims.seek(from);
    while let (Some(k), Some(v)) = (claims.key(), claims.value()) {
        if let Some(id) = Id::from_slice(k) {
            visit(Landed::claim(&Assertion::decode_keyed(v, id)?));
        }
        claims.next();
    }
    claims.status()?;
    let mut retractions = db.raw_iterator_cf_opt(cf(db, CF_RETRACTIONS)?, bounded());
    retractions.seek(from);
    while let (Some(k), Some(v)) = (retractions.key(), retractions.value()) {
        if let Some(id) = Id::from_slice(k)
            && let Some(claim) = db.get_pinned_cf_opt(assertions, id.0, &read())?
        {
            let subject = Assertion::decode_keyed(&claim, id)?.subject;
            visit(Landed::retraction(&subject, id, v));
        }
        retractions.next();
    }
    retractions.status()?;
    Ok(())
}
