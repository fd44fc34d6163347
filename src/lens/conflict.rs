//! The conflict score: how evenly the weight of the live claims is spread
//! over distinct objects (DESIGN §3).

use std::collections::BTreeMap;

use crate::model::{Assertion, ObjectType};

/// One row of the `conflicts` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub claims: usize,
    pub distinct_objects: usize,
    /// Normalised Shannon entropy of the object shares, in [0, 1].
    pub conflict_score: f64,
    pub leading_object: String,
    pub leading_share: f64,
}

/// Scores the live claims of one pair. Each claim weighs
/// `confidence × w[tier]`; an object's share is its weight over the total,
/// or its fraction of the claims when the total weight is zero.
pub fn conflict(claims: &[&Assertion]) -> Option<Conflict> {
    if claims.is_empty() {
        return None;
    }
    // BTreeMap keyed by (object text, type) makes iteration order — and so
    // the floating-point sums — deterministic.
    let mut objects: BTreeMap<(&str, ObjectType), (f64, usize)> = BTreeMap::new();
    for a in claims {
        let e = objects
            .entry((a.object.as_str(), a.object_type))
            .or_default();
        e.0 += a.weight();
        e.1 += 1;
    }
    let total_weight: f64 = objects.values().map(|(w, _)| w).sum();
    let shares: Vec<(&str, f64)> = objects
        .iter()
        .map(|((object, _), (w, n))| {
            let share = if total_weight > 0.0 {
                w / total_weight
            } else {
                *n as f64 / claims.len() as f64
            };
            (*object, share)
        })
        .collect();
    let n = shares.len();
    let conflict_score = if n < 2 {
        0.0
    } else {
        let h: f64 = shares
            .iter()
            .filter(|(_, s)| *s > 0.0)
            .map(|(_, s)| -s * s.ln())
            .sum();
        (h / (n as f64).ln()).clamp(0.0, 1.0)
    };
    // Largest share; ties go to the smallest object text, which comes first
    // in the map, so only a strictly larger share replaces the leader.
    let (leading_object, leading_share) =
        shares.iter().fold(
            ("", -1.0),
            |best, &(o, s)| {
                if s > best.1 { (o, s) } else { best }
            },
        );
    Some(Conflict {
        claims: claims.len(),
        distinct_objects: n,
        conflict_score,
        leading_object: leading_object.to_string(),
        leading_share,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Hlc, NewAssertion};

    fn claim(object: &str, tier: i64, confidence: f64) -> Assertion {
        NewAssertion {
            subject: Some("s".into()),
            predicate: Some("p".into()),
            object: Some(object.into()),
            source: Some("src".into()),
            tier: Some(tier),
            confidence: Some(confidence),
            ..Default::default()
        }
        .into_assertion("t", Hlc::new(1, 0), "n1")
        .unwrap()
    }

    #[test]
    fn even_split_scores_one() {
        let (a, b) = (claim("x", 0, 1.0), claim("y", 0, 1.0));
        let c = conflict(&[&a, &b]).unwrap();
        assert!((c.conflict_score - 1.0).abs() < 1e-12);
        assert_eq!(c.leading_object, "x"); // tie: smallest text
        assert!((c.leading_share - 0.5).abs() < 1e-12);
    }

    #[test]
    fn weights_follow_tier_and_confidence() {
        // regulator: 1.0 × 1.0 = 1.0; forum: 1.0 × 0.2 = 0.2
        let (a, b) = (claim("safe", 0, 1.0), claim("unsafe", 4, 1.0));
        let c = conflict(&[&a, &b]).unwrap();
        assert_eq!(c.leading_object, "safe");
        assert!((c.leading_share - 1.0 / 1.2).abs() < 1e-12);
        let p: f64 = 1.0 / 1.2;
        let q = 1.0 - p;
        let expected = -(p * p.ln() + q * q.ln()) / 2f64.ln();
        assert!((c.conflict_score - expected).abs() < 1e-12);
    }

    #[test]
    fn zero_total_weight_uses_claim_counts() {
        let (a, b, d) = (claim("x", 0, 0.0), claim("x", 1, 0.0), claim("y", 2, 0.0));
        let c = conflict(&[&a, &b, &d]).unwrap();
        assert_eq!(c.leading_object, "x");
        assert!((c.leading_share - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(c.claims, 3);
        assert_eq!(c.distinct_objects, 2);
    }
}
