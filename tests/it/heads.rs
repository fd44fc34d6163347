//! Lens heads, property-tested: random claims and retractions (in batches,
//! some retracting claims of their own batch, some retracting winners or
//! retracting twice, some claims arriving as a large COPY whose heads are
//! recomputed after its chunks), with ties on every rule (same observed_at, tier and
//! confidence) and objects that differ only in type (`1` as text and as a
//! number). After every batch, each stored head must equal the head its
//! pair's live claims resolve to, give the same winner, counts and conflict
//! score as `lens::resolve` / `lens::conflict`, and `stemedb verify` must
//! pass at the end.

use std::sync::Arc;

use crate::support::Rng;
use stemedb::lens::{Head, Lens, conflict, resolve};
use stemedb::model::{Assertion, Id, NewAssertion, Retraction};
use stemedb::storage::{Durability, ScanRange, Store, Write};

fn random_claim(rng: &mut Rng) -> Write {
    let (object, object_type) =
        [("1", "text"), ("1", "number"), ("x", "text"), ("y", "text")][rng.index(4)];
    let new = NewAssertion {
        subject: Some(format!("s{}", rng.index(3))),
        predicate: Some(format!("p{}", rng.index(2))),
        object: Some(object.into()),
        object_type: Some(object_type.into()),
        source: Some(format!("src{}", rng.index(2))),
        tier: Some(rng.index(3) as i64),
        confidence: Some([0.0, 0.5, 1.0][rng.index(3)]),
        observed_at: Some([10, 20][rng.index(2)]),
        ..Default::default()
    };
    Write::Claim(new.into_claim("agent").unwrap())
}

/// Every pair's live claims, and every stored head, in key order.
fn pairs_and_heads(store: &Store) -> (Vec<Vec<Assertion>>, Vec<Head>) {
    let read = store.read_point();
    let mut pairs = Vec::new();
    read.for_each_pair(&ScanRange::All, |claims| {
        let mut live = Vec::new();
        for a in claims {
            if read.get_retraction(&a.id)?.is_none() {
                live.push(a);
            }
        }
        if !live.is_empty() {
            pairs.push(live);
        }
        Ok(true)
    })
    .unwrap();
    let mut heads = Vec::new();
    read.for_each_head(&ScanRange::All, &mut |h| {
        heads.push(h);
        Ok(true)
    })
    .unwrap();
    (pairs, heads)
}

fn check(store: &Store, seed: u64, round: usize) {
    let (pairs, heads) = pairs_and_heads(store);
    let at = format!("seed {seed}, round {round}");
    assert_eq!(
        pairs.len(),
        heads.len(),
        "pairs with live claims vs heads, {at}"
    );
    for (live, head) in pairs.iter().zip(&heads) {
        let live: Vec<&Assertion> = live.iter().collect();
        assert_eq!(Some(head), Head::of(&live).as_ref(), "{at}");
        for lens in [Lens::Recency, Lens::Authority] {
            let (h, r) = (
                head.resolution(lens),
                resolve(lens, &live, &Default::default()).unwrap(),
            );
            assert_eq!(h.winner.id, r.winner.id, "{lens:?} winner, {at}");
            assert_eq!(
                (h.claims, h.distinct_objects),
                (r.claims, r.distinct_objects)
            );
        }
        assert_eq!(head.conflict(), conflict(&live), "conflict, {at}");
    }
    // What the lens views decode of a stored head (one winner, the
    // counts) is what the whole head says.
    let read = store.read_point();
    let mut lens_rows = 0;
    read.for_each_stored_head(&ScanRange::All, &mut |v| {
        let head = Head::decode(v)?;
        for lens in [Lens::Recency, Lens::Authority] {
            let row = Head::decode_lens(v, lens)?;
            let (a, b) = (row.resolution(), head.resolution(lens));
            assert_eq!(a.winner, b.winner, "{lens:?}, {at}");
            assert_eq!(
                (a.claims, a.distinct_objects),
                (b.claims, b.distinct_objects)
            );
        }
        lens_rows += 1;
        Ok(true)
    })
    .unwrap();
    assert_eq!(lens_rows, heads.len());
    // A list of subjects (one seek each) finds the same heads.
    let mut subjects: Vec<String> = heads.iter().map(|h| h.recency.subject.clone()).collect();
    subjects.dedup();
    let each = ScanRange::Each(subjects.into_iter().map(ScanRange::Subject).collect());
    let mut listed = Vec::new();
    read.for_each_head(&each, &mut |h| {
        listed.push(h);
        Ok(true)
    })
    .unwrap();
    assert_eq!(listed, heads, "{at}");
}

#[tokio::test]
async fn stored_heads_equal_the_heads_their_claims_resolve_to() {
    for seed in 1..=12u64 {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<Store> = Store::open(dir.path(), Some("n1"), Durability::Buffered).unwrap();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut ids: Vec<Id> = Vec::new();
        for round in 0..25 {
            if round % 5 == 4 {
                // A large COPY's path: staged, applied in chunks without
                // heads, then its pairs recomputed.
                let claims: Vec<_> = (0..1 + rng.index(30))
                    .map(|_| match random_claim(&mut rng) {
                        Write::Claim(c) => c,
                        _ => unreachable!(),
                    })
                    .collect();
                let copy = store.new_copy_id();
                store.stage(copy, 0, &claims).unwrap();
                store.apply_staged(copy, claims.len()).await.unwrap();
                check(&store, seed, round);
                continue;
            }
            // Claims stamped up front (as a transaction block's are), so
            // the same batch can retract them.
            let claims = (0..1 + rng.index(6))
                .map(|_| random_claim(&mut rng))
                .collect();
            let mut writes = store.stamp_reserved(claims);
            for w in &writes {
                if let Write::Assertion(a) = w {
                    ids.push(a.id);
                }
            }
            for _ in 0..rng.index(4) {
                let id = ids[rng.index(ids.len())];
                writes.push(Write::Retract(Retraction::new(id, None, "agent".into())));
            }
            store.commit(writes).await.unwrap();
            check(&store, seed, round);
        }
        drop(store);
        let report = stemedb::storage::verify(dir.path()).unwrap();
        assert!(report.ok(), "seed {seed}: {report}");
        assert!(report.heads > 0);
    }
}

/// A data dir written before heads existed (format 1) gets them built when
/// it is opened.
#[tokio::test]
async fn a_format_one_data_dir_gets_its_heads_built_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    {
        let store = Store::open(dir.path(), Some("n1"), Durability::Buffered).unwrap();
        let claims = (0..40).map(|_| random_claim(&mut rng)).collect();
        let written = store.commit(claims).await.unwrap();
        let Write::Assertion(first) = &written[0] else {
            panic!("not stamped")
        };
        let retract = Retraction::new(first.id, None, "agent".into());
        store.commit(vec![Write::Retract(retract)]).await.unwrap();
    }
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path(),
            stemedb::storage::ALL_CFS,
        )
        .unwrap();
        let heads = db.cf_handle("heads").unwrap();
        db.delete_range_cf(heads, [0u8].as_slice(), [0xFFu8; 8].as_slice())
            .unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"format_version", [1u8])
            .unwrap();
    }
    let store = Store::open(dir.path(), Some("n1"), Durability::Buffered).unwrap();
    let (pairs, heads) = pairs_and_heads(&store);
    assert!(!heads.is_empty());
    assert_eq!(pairs.len(), heads.len());
    check(&store, 7, 0);
}
