//! The conflict score: how evenly the weight of the live claims is spread
//! over distinct objects (docs/sql.md).

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
///
/// Weights are summed in fixed point ([`weight_units`]), so the score is
/// exactly the same whatever order the claims are added in — resolving a
/// pair's claims at read time and keeping a running head agree to the bit.
pub fn conflict(claims: &[&Assertion]) -> Option<Conflict> {
    conflict_of(&tallies(claims), claims.len())
}

/// Units of claim weight per 1.0 (a claim weighs at most 1.0).
const WEIGHT_SCALE: f64 = (1u64 << 48) as f64;

/// A claim's weight in fixed-point units.
pub fn weight_units(a: &Assertion) -> i128 {
    weight_units_of(a.weight())
}

/// A weight in fixed-point units.
pub fn weight_units_of(weight: f64) -> i128 {
    (weight * WEIGHT_SCALE).round() as i128
}

/// What one distinct object of a pair has: its claims' total weight (in
/// [`weight_units`]) and how many claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub object: String,
    pub object_type: ObjectType,
    pub weight: i128,
    pub claims: u64,
}

impl Tally {
    fn key(&self) -> (&str, ObjectType) {
        (self.object.as_str(), self.object_type)
    }
}

/// Adds one claim to `tallies` (kept sorted by object, then type).
pub fn add_to_tallies(tallies: &mut Vec<Tally>, a: &Assertion) {
    let key = (a.object.as_str(), a.object_type);
    match tallies.binary_search_by(|t| t.key().cmp(&key)) {
        Ok(i) => {
            tallies[i].weight += weight_units(a);
            tallies[i].claims += 1;
        }
        Err(i) => tallies.insert(
            i,
            Tally {
                object: a.object.clone(),
                object_type: a.object_type,
                weight: weight_units(a),
                claims: 1,
            },
        ),
    }
}

/// The tallies of a pair's live claims, sorted by object, then type.
pub fn tallies(claims: &[&Assertion]) -> Vec<Tally> {
    let mut objects: BTreeMap<(&str, ObjectType), (i128, u64)> = BTreeMap::new();
    for a in claims {
        let e = objects
            .entry((a.object.as_str(), a.object_type))
            .or_default();
        e.0 += weight_units(a);
        e.1 += 1;
    }
    objects
        .into_iter()
        .map(|((object, object_type), (weight, claims))| Tally {
            object: object.to_string(),
            object_type,
            weight,
            claims,
        })
        .collect()
}

/// Scores a pair from its tallies and number of live claims.
pub fn conflict_of(tallies: &[Tally], claims: usize) -> Option<Conflict> {
    if claims == 0 || tallies.is_empty() {
        return None;
    }
    let total_weight: i128 = tallies.iter().map(|t| t.weight).sum();
    let shares: Vec<(&str, f64)> = tallies
        .iter()
        .map(|t| {
            let share = if total_weight > 0 {
                t.weight as f64 / total_weight as f64
            } else {
                t.claims as f64 / claims as f64
            };
            (t.object.as_str(), share)
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
    let (leading_object, leading_share) =
        shares.iter().fold(
            ("", -1.0),
            |best, &(o, s)| {
                if s > best.1 { (o, s) } else { best }
            },
        );
    Some(Conflict {
        claims,
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
