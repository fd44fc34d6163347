//! The orderings behind the lenses. Each is a total order (the content id
//! breaks every remaining tie), and the winner is the greatest claim.

use std::cmp::Ordering;

use crate::model::Assertion;

/// Recency: latest `observed_at`, then latest `asserted_at` in HLC order,
/// then greatest id.
pub fn recency_order(a: &Assertion, b: &Assertion) -> Ordering {
    a.observed_at
        .cmp(&b.observed_at)
        .then_with(|| a.hlc.cmp(&b.hlc))
        .then_with(|| a.id.cmp(&b.id))
}

/// Authority: lowest tier, then highest confidence, then recency.
pub fn authority_order(a: &Assertion, b: &Assertion) -> Ordering {
    b.tier
        .cmp(&a.tier)
        .then_with(|| a.confidence.total_cmp(&b.confidence))
        .then_with(|| recency_order(a, b))
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{Lens, resolve};
    use crate::model::{Assertion, Hlc, NewAssertion};

    /// A claim of the pair (s, p) from `src-OBJECT`, accepted at `hlc`.
    pub(in crate::lens) fn claim(
        object: &str,
        tier: i64,
        confidence: f64,
        observed: i64,
        hlc: i64,
    ) -> Assertion {
        NewAssertion {
            subject: Some("s".into()),
            predicate: Some("p".into()),
            object: Some(object.into()),
            source: Some(format!("src-{object}")),
            tier: Some(tier),
            confidence: Some(confidence),
            observed_at: Some(observed),
            ..Default::default()
        }
        .into_assertion("t", Hlc::new(hlc, 0), "n1")
        .unwrap()
    }

    fn winner(lens: Lens, claims: &[Assertion]) -> String {
        let refs: Vec<&Assertion> = claims.iter().collect();
        resolve(lens, &refs, &Default::default())
            .unwrap()
            .winner
            .object
            .clone()
    }

    #[test]
    fn recency_prefers_observed_then_asserted_then_id() {
        let c = [claim("old", 0, 1.0, 10, 99), claim("new", 5, 0.1, 20, 1)];
        assert_eq!(winner(Lens::Recency, &c), "new");
        let c = [
            claim("first", 0, 1.0, 10, 1),
            claim("second", 0, 1.0, 10, 2),
        ];
        assert_eq!(winner(Lens::Recency, &c), "second");
        let a = claim("a", 0, 1.0, 10, 1);
        let b = claim("b", 0, 1.0, 10, 1);
        let expected = if a.id > b.id { "a" } else { "b" };
        assert_eq!(winner(Lens::Recency, &[a, b]), expected);
    }

    #[test]
    fn authority_prefers_tier_then_confidence_then_recency() {
        let c = [
            claim("forum", 4, 1.0, 30, 3),
            claim("regulator", 0, 0.5, 10, 1),
        ];
        assert_eq!(winner(Lens::Authority, &c), "regulator");
        let c = [claim("weak", 1, 0.6, 30, 3), claim("strong", 1, 0.9, 10, 1)];
        assert_eq!(winner(Lens::Authority, &c), "strong");
        let c = [claim("older", 1, 0.9, 10, 1), claim("newer", 1, 0.9, 11, 1)];
        assert_eq!(winner(Lens::Authority, &c), "newer");
    }

    #[test]
    fn distinct_objects_use_type_and_canonical_form() {
        let a = claim("x", 0, 1.0, 1, 1);
        let b = claim("x", 1, 1.0, 2, 2);
        let c = claim("y", 1, 1.0, 3, 3);
        let r = resolve(Lens::Recency, &[&a, &b], &Default::default()).unwrap();
        assert_eq!((r.claims, r.distinct_objects, r.contested()), (2, 1, false));
        let r = resolve(Lens::Recency, &[&a, &b, &c], &Default::default()).unwrap();
        assert_eq!((r.claims, r.distinct_objects, r.contested()), (3, 2, true));
        assert!(resolve(Lens::Recency, &[], &Default::default()).is_none());
    }
}
