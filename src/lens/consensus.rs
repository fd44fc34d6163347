//! The `consensus` lens: the object whose live claims weigh most in total
//! wins. A claim weighs `confidence × w[tier] × trust(source) ×
//! 0.5^(age / half_life)` ([`Weighing::weight`]): `trust` from
//! `stemedb.source_trust` (the longest matching prefix, else 1), the decay
//! only when the session set `stemedb.half_life`, `age` the read time (now,
//! or `stemedb.as_of`) minus `observed_at`, never below zero.
//!
//! Weights are summed in the same fixed point as `conflicts` ([`units`]),
//! so the total — and so the winner — does not depend on the order claims
//! are read in. Ties go as `conflicts.leading_object` goes: the first
//! object in (text, type) order; when every claim weighs nothing, the
//! object with the most claims. The row shown for the winning object is its
//! heaviest claim, then the newest ([`recency_order`]).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::Resolution;
use super::conflict::weight_units_of;
use super::rules::recency_order;
use crate::model::{Assertion, Micros, ObjectType};

/// Per-source trust: weights by source prefix, the longest matching prefix
/// winning; a source no prefix matches weighs 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceTrust {
    by_prefix: BTreeMap<String, f64>,
}

impl SourceTrust {
    pub fn new(by_prefix: BTreeMap<String, f64>) -> SourceTrust {
        SourceTrust { by_prefix }
    }

    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }

    /// The prefixes and their weights, in prefix order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, f64)> {
        self.by_prefix.iter().map(|(p, w)| (p.as_str(), *w))
    }

    /// The trust of `source`: the weight of the longest prefix of it.
    pub fn of(&self, source: &str) -> f64 {
        // Every prefix of `source` sorts at or before it; walk back from
        // there, and the first that is a prefix is the longest.
        self.by_prefix
            .range::<str, _>((
                std::ops::Bound::Unbounded,
                std::ops::Bound::Included(source),
            ))
            .rev()
            .find(|(p, _)| source.starts_with(p.as_str()))
            .map_or(1.0, |(_, w)| *w)
    }
}

/// How the `consensus` lens weighs claims for one read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weighing {
    pub trust: Arc<SourceTrust>,
    /// `stemedb.half_life` in microseconds; `None`: no decay.
    pub half_life: Option<Micros>,
    /// The read time ages are measured from: now, or `stemedb.as_of`.
    pub at: Micros,
}

impl Weighing {
    /// What one claim weighs.
    pub fn weight(&self, a: &Assertion) -> f64 {
        let mut w = a.weight() * self.trust.of(&a.source);
        if let Some(half_life) = self.half_life.filter(|h| *h > 0) {
            let age = self.at.saturating_sub(a.observed_at).max(0);
            w *= 0.5f64.powf(age as f64 / half_life as f64);
        }
        w
    }

    /// [`Weighing::weight`] in fixed-point units.
    pub fn units(&self, a: &Assertion) -> i128 {
        weight_units_of(self.weight(a))
    }
}

/// One object's claims and their summed weight.
struct Side<'a> {
    units: i128,
    claims: Vec<(i128, &'a Assertion)>,
}

/// The objects of a pair, each with its claims heaviest first, the
/// winning object first (the order `stemedb.explain` shows).
pub fn objects_in_order<'a>(
    claims: &[&'a Assertion],
    weighing: &Weighing,
) -> Vec<(i128, Vec<(i128, &'a Assertion)>)> {
    let mut sides: BTreeMap<(&str, ObjectType), Side<'a>> = BTreeMap::new();
    for a in claims {
        let units = weighing.units(a);
        let side = sides
            .entry((a.object.as_str(), a.object_type))
            .or_insert(Side {
                units: 0,
                claims: Vec::new(),
            });
        side.units += units;
        side.claims.push((units, a));
    }
    let by_count = sides.values().all(|s| s.units == 0);
    let mut ordered: Vec<Side<'a>> = sides.into_values().collect();
    // A stable sort keeps (text, type) order among equals: the first wins.
    ordered.sort_by(|x, y| match by_count {
        true => y.claims.len().cmp(&x.claims.len()),
        false => y.units.cmp(&x.units),
    });
    ordered
        .into_iter()
        .map(|mut side| {
            side.claims.sort_by(|x, y| claim_order(*y, *x));
            (side.units, side.claims)
        })
        .collect()
}

/// Within one object: heavier first, then the newest.
pub fn claim_order(a: (i128, &Assertion), b: (i128, &Assertion)) -> Ordering {
    a.0.cmp(&b.0).then_with(|| recency_order(a.1, b.1))
}

/// Resolves a pair's live claims under `consensus`.
pub fn consensus<'a>(claims: &[&'a Assertion], weighing: &Weighing) -> Option<Resolution<'a>> {
    let objects = objects_in_order(claims, weighing);
    let winner = objects.first()?.1.first()?.1;
    Some(Resolution {
        winner,
        claims: claims.len(),
        distinct_objects: objects.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Hlc, NewAssertion};

    fn claim(object: &str, source: &str, tier: i64, confidence: f64, observed: i64) -> Assertion {
        NewAssertion {
            subject: Some("s".into()),
            predicate: Some("p".into()),
            object: Some(object.into()),
            source: Some(source.into()),
            tier: Some(tier),
            confidence: Some(confidence),
            observed_at: Some(observed),
            ..Default::default()
        }
        .into_assertion("t", Hlc::new(observed, 0), "n1")
        .unwrap()
    }

    fn winner(claims: &[Assertion], weighing: &Weighing) -> String {
        let refs: Vec<&Assertion> = claims.iter().collect();
        consensus(&refs, weighing).unwrap().winner.object.clone()
    }

    #[test]
    fn the_longest_prefix_sets_the_trust() {
        let trust = SourceTrust::new(BTreeMap::from([
            ("https://".to_string(), 0.5),
            ("https://fda.gov/".to_string(), 2.0),
            ("https://fda.gov/blog/".to_string(), 0.1),
        ]));
        assert_eq!(trust.of("https://fda.gov/label/1"), 2.0);
        assert_eq!(trust.of("https://fda.gov/blog/x"), 0.1);
        assert_eq!(trust.of("https://example.org"), 0.5);
        assert_eq!(trust.of("ftp://x"), 1.0);
        assert_eq!(trust.of("https://fda.gov/"), 2.0);
    }

    #[test]
    fn many_weak_claims_outweigh_one_strong() {
        let c = [
            claim("yes", "a", 4, 1.0, 1),
            claim("yes", "b", 4, 1.0, 2),
            claim("yes", "c", 4, 1.0, 3),
            claim("no", "d", 3, 1.0, 4),
        ];
        // 3 × 0.2 = 0.6 against 0.4
        assert_eq!(winner(&c, &Weighing::default()), "yes");
        let trust = SourceTrust::new(BTreeMap::from([("d".to_string(), 2.0)]));
        let w = Weighing {
            trust: Arc::new(trust),
            ..Weighing::default()
        };
        assert_eq!(winner(&c, &w), "no");
    }

    #[test]
    fn decay_lets_new_evidence_win() {
        let day = 86_400_000_000;
        let c = [
            claim("old", "a", 0, 1.0, 0),
            claim("new", "b", 2, 1.0, 30 * day),
        ];
        let none = Weighing {
            at: 30 * day,
            ..Weighing::default()
        };
        assert_eq!(winner(&c, &none), "old");
        let decaying = Weighing {
            half_life: Some(7 * day),
            ..none
        };
        assert_eq!(winner(&c, &decaying), "new");
    }

    #[test]
    fn ties_go_to_the_first_object_and_nothing_weighs_by_count() {
        let c = [claim("b", "x", 0, 1.0, 1), claim("a", "y", 0, 1.0, 2)];
        assert_eq!(winner(&c, &Weighing::default()), "a");
        let c = [
            claim("b", "x", 0, 0.0, 1),
            claim("b", "y", 0, 0.0, 2),
            claim("a", "z", 0, 0.0, 3),
        ];
        assert_eq!(winner(&c, &Weighing::default()), "b");
    }
}
