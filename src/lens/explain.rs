//! Why a value won: every claim of a pair in a lens's order, each with the
//! rule step that put it behind the claim above (`stemedb.explain`,
//! docs/sql.md). Live claims come first, in the lens's order, rank 1 the
//! winner; retracted claims follow in the same order among themselves, the
//! first of them behind the live ones because it is retracted.
//!
//! The steps are the lenses' own rules ([`super::rules`],
//! [`super::consensus`]), compared one at a time: the first that tells two
//! claims apart names the step.

use std::cmp::Ordering;

use super::consensus::{Weighing, objects_in_order};
use super::{Lens, authority_order, recency_order};
use crate::model::Assertion;

/// One row of an explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained<'a> {
    pub claim: &'a Assertion,
    /// The claim's weight under the consensus lens's weighing.
    pub weight: f64,
    pub retracted: bool,
    /// `winner`, or the step that put it behind the row above: `tier`,
    /// `confidence`, `observed_at`, `asserted_at`, `id`, `weight`,
    /// `retracted`.
    pub decided_by: &'static str,
}

/// A lens's order of claims.
type Order = fn(&Assertion, &Assertion) -> Ordering;
/// The first step of a lens's rule that tells two claims apart.
type Step = fn(&Assertion, &Assertion) -> Option<&'static str>;

/// The recency rule's steps, in order.
fn recency_step(a: &Assertion, b: &Assertion) -> Option<&'static str> {
    if a.observed_at != b.observed_at {
        Some("observed_at")
    } else if a.hlc != b.hlc {
        Some("asserted_at")
    } else if a.id != b.id {
        Some("id")
    } else {
        None
    }
}

/// The authority rule's steps, in order.
fn authority_step(a: &Assertion, b: &Assertion) -> Option<&'static str> {
    if a.tier != b.tier {
        Some("tier")
    } else if a.confidence.total_cmp(&b.confidence) != Ordering::Equal {
        Some("confidence")
    } else {
        recency_step(a, b)
    }
}

/// `claims` (each with whether it is retracted) in `lens` order, with
/// what decided each place.
pub fn explain<'a>(
    lens: Lens,
    claims: &[(&'a Assertion, bool)],
    weighing: &Weighing,
) -> Vec<Explained<'a>> {
    let pick = |retracted: bool| -> Vec<&'a Assertion> {
        claims
            .iter()
            .filter(|(_, r)| *r == retracted)
            .map(|(a, _)| *a)
            .collect()
    };
    let (live, retracted) = (pick(false), pick(true));
    let mut rows = ordered(lens, &live, weighing, false);
    let behind = ordered(lens, &retracted, weighing, true);
    let first_retracted = rows.len();
    rows.extend(behind);
    if let Some(row) = rows.get_mut(first_retracted) {
        row.decided_by = "retracted";
    }
    if let Some(row) = rows.first_mut().filter(|r| !r.retracted) {
        row.decided_by = "winner";
    }
    rows
}

/// One group (live, or retracted) in lens order.
fn ordered<'a>(
    lens: Lens,
    claims: &[&'a Assertion],
    weighing: &Weighing,
    retracted: bool,
) -> Vec<Explained<'a>> {
    let row = |claim: &'a Assertion, decided_by| Explained {
        claim,
        weight: weighing.weight(claim),
        retracted,
        decided_by,
    };
    if lens == Lens::Consensus {
        let mut rows = Vec::with_capacity(claims.len());
        for (i, (_, side)) in objects_in_order(claims, weighing).into_iter().enumerate() {
            let mut above: Option<(i128, &Assertion)> = None;
            for (units, claim) in side {
                let step = match above {
                    // Behind an object that weighs more (or as much, and
                    // comes first in text order).
                    None if i > 0 => "weight",
                    None => "",
                    Some((u, _)) if u != units => "weight",
                    Some((_, a)) => recency_step(a, claim).unwrap_or("id"),
                };
                rows.push(row(claim, step));
                above = Some((units, claim));
            }
        }
        return rows;
    }
    let (order, step): (Order, Step) = match lens {
        Lens::Authority => (authority_order, authority_step),
        _ => (recency_order, recency_step),
    };
    let mut sorted = claims.to_vec();
    sorted.sort_by(|a, b| order(b, a));
    let mut rows: Vec<Explained<'a>> = Vec::with_capacity(sorted.len());
    for (i, claim) in sorted.iter().enumerate() {
        let decided_by = match i {
            0 => "",
            _ => step(sorted[i - 1], claim).unwrap_or("id"),
        };
        rows.push(row(claim, decided_by));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lens::rules::tests::claim;

    fn steps(lens: Lens, claims: &[(&Assertion, bool)]) -> Vec<(String, &'static str)> {
        explain(lens, claims, &Weighing::default())
            .into_iter()
            .map(|r| (r.claim.object.clone(), r.decided_by))
            .collect()
    }

    #[test]
    fn each_row_names_the_step_that_put_it_behind() {
        let label = claim("label", 0, 1.0, 10, 1);
        let trial = claim("trial", 1, 0.9, 20, 2);
        let trial_weak = claim("weak", 1, 0.5, 30, 3);
        let forum = claim("forum", 4, 1.0, 30, 4);
        let withdrawn = claim("withdrawn", 0, 1.0, 40, 5);
        let all = [
            (&forum, false),
            (&trial_weak, false),
            (&label, false),
            (&withdrawn, true),
            (&trial, false),
        ];
        assert_eq!(
            steps(Lens::Authority, &all),
            [
                ("label".into(), "winner"),
                ("trial".into(), "tier"),
                ("weak".into(), "confidence"),
                ("forum".into(), "tier"),
                ("withdrawn".into(), "retracted"),
            ]
        );
        assert_eq!(
            steps(Lens::Recency, &all),
            [
                ("forum".into(), "winner"),
                ("weak".into(), "asserted_at"),
                ("trial".into(), "observed_at"),
                ("label".into(), "observed_at"),
                ("withdrawn".into(), "retracted"),
            ]
        );
    }

    #[test]
    fn consensus_rows_go_object_by_object() {
        let a1 = claim("a", 0, 1.0, 10, 1);
        let a2 = claim("a", 0, 1.0, 20, 2);
        let b = claim("b", 0, 1.0, 30, 3);
        let all = [(&b, false), (&a1, false), (&a2, false)];
        assert_eq!(
            steps(Lens::Consensus, &all),
            [
                ("a".into(), "winner"),
                ("a".into(), "observed_at"),
                ("b".into(), "weight"),
            ]
        );
        let only_retracted = [(&b, true)];
        assert_eq!(
            steps(Lens::Consensus, &only_retracted),
            [("b".into(), "retracted")]
        );
    }
}
