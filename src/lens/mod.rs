//! Lenses: how contradicting claims about one (subject, predicate) pair are
//! resolved at read time (docs/sql.md). Everything here is a pure,
//! deterministic function of the set of live claims, so every replica that
//! holds the same set gives the same answer.
//!
//! The planner gathers the live claims of a pair (not retracted, visible at
//! `as_of`), then calls [`resolve`] for a lens table or [`conflict`] for the
//! `conflicts` table; [`explain`] orders every claim of a pair the way a
//! lens does and says which rule step placed each.

mod conflict;
mod consensus;
mod explain;
mod head;
mod rules;

pub use conflict::{Conflict, Tally, conflict};
pub use consensus::{SourceTrust, Weighing, consensus};
pub use explain::{Explained, explain};
pub use head::{Head, LensRow};
pub use rules::{authority_order, recency_order};

use std::collections::HashSet;

use crate::error::{Error, Result, sqlstate};
use crate::model::{Assertion, ObjectType};

/// A resolution rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lens {
    /// The newest claim wins.
    #[default]
    Recency,
    /// The most authoritative source wins.
    Authority,
    /// The object whose claims weigh most in total wins (per-source trust,
    /// optional decay: [`Weighing`]).
    Consensus,
}

impl Lens {
    pub fn parse(s: &str) -> Result<Lens> {
        match s.trim().to_ascii_lowercase().as_str() {
            "recency" => Ok(Lens::Recency),
            "authority" => Ok(Lens::Authority),
            "consensus" => Ok(Lens::Consensus),
            other => Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!(
                    "invalid value for parameter \"stemedb.lens\": \"{other}\" (expected recency, authority or consensus)"
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lens::Recency => "recency",
            Lens::Authority => "authority",
            Lens::Consensus => "consensus",
        }
    }

    /// Whether a pair's stored head holds this lens's winner (the
    /// consensus winner depends on trust and read time, so it is resolved
    /// from the pair's claims).
    pub fn in_heads(self) -> bool {
        self != Lens::Consensus
    }
}

/// The outcome of resolving one pair under a lens.
#[derive(Debug, Clone, Copy)]
pub struct Resolution<'a> {
    pub winner: &'a Assertion,
    /// Live claims for the pair.
    pub claims: usize,
    /// Distinct (object_type, object) values among them.
    pub distinct_objects: usize,
}

impl Resolution<'_> {
    pub fn contested(&self) -> bool {
        self.distinct_objects > 1
    }
}

/// Resolves the live claims of one pair; `None` when there are none.
/// `weighing` matters to `consensus` only.
pub fn resolve<'a>(
    lens: Lens,
    claims: &[&'a Assertion],
    weighing: &Weighing,
) -> Option<Resolution<'a>> {
    let order = match lens {
        Lens::Recency => recency_order,
        Lens::Authority => authority_order,
        Lens::Consensus => return consensus(claims, weighing),
    };
    let winner = claims.iter().copied().max_by(|a, b| order(a, b))?;
    Some(Resolution {
        winner,
        claims: claims.len(),
        distinct_objects: distinct_objects(claims),
    })
}

/// Number of distinct objects: same type and same canonical text.
pub fn distinct_objects(claims: &[&Assertion]) -> usize {
    claims
        .iter()
        .map(|a| (a.object_type, a.object.as_str()))
        .collect::<HashSet<(ObjectType, &str)>>()
        .len()
}
