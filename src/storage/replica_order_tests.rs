//! Replicas converge whatever order records reach them in: the cases the
//! cluster's simulation found (tests/sim/, seeds 1 and 11), as storage
//! tests. Each node's store is compared by what anti-entropy compares —
//! the XOR of the digests of every record it landed — and by `verify`
//! (indexes and lens heads match the data).

use std::sync::{Arc, Mutex};

use super::{Durability, Store, Write, verify};
use crate::model::{Assertion, Hlc, NewAssertion, Retraction};

fn claim(object: &str, hlc: Hlc) -> Assertion {
    NewAssertion {
        subject: Some("aspirin".into()),
        predicate: Some("interacts_with".into()),
        object: Some(object.into()),
        source: Some("s".into()),
        ..Default::default()
    }
    .into_assertion("test", hlc, "node1")
    .unwrap()
}

fn retraction(of: &Assertion, hlc: Hlc, node: &str) -> Retraction {
    Retraction {
        assertion_id: of.id,
        reason: None,
        agent: "test".into(),
        hlc,
        node: node.into(),
    }
}

/// A replica that receives `batches` in order; what anti-entropy would
/// compare (the XOR of every landed digest) and the retraction it keeps.
async fn replica(batches: Vec<Vec<Write>>, of: &Assertion) -> ([u8; 32], Option<Retraction>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Some("node2"), Durability::Buffered).unwrap();
    let digest = Arc::new(Mutex::new([0u8; 32]));
    let fold = {
        let digest = digest.clone();
        move |item: &[u8; 32]| {
            let mut d = digest.lock().unwrap();
            for (a, b) in d.iter_mut().zip(item) {
                *a ^= b;
            }
        }
    };
    let sink = fold.clone();
    store
        .listen_landed(
            Arc::new(move |landed| landed.iter().for_each(|l| sink(&l.item))),
            |l| fold(&l.item),
        )
        .unwrap();
    for batch in batches {
        store.commit_replica(batch).await.unwrap();
    }
    let kept = store.read_point().get_retraction(&of.id).unwrap();
    drop(store);
    let report = verify(dir.path()).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    let digest = *digest.lock().unwrap();
    (digest, kept)
}

#[tokio::test]
async fn two_retractions_of_one_claim_converge_in_either_order() {
    let c = claim("warfarin", Hlc::new(1_000, 0));
    let early = retraction(&c, Hlc::new(2_000, 0), "node1");
    let late = retraction(&c, Hlc::new(3_000, 0), "node3");
    let (a, kept_a) = replica(
        vec![
            vec![Write::Assertion(c.clone())],
            vec![Write::Retraction(early.clone())],
            vec![Write::Retraction(late.clone())],
        ],
        &c,
    )
    .await;
    let (b, kept_b) = replica(
        vec![
            vec![Write::Assertion(c.clone())],
            vec![Write::Retraction(late.clone())],
            vec![Write::Retraction(early.clone())],
        ],
        &c,
    )
    .await;
    // Both in one batch, the later first.
    let (both, kept_both) = replica(
        vec![
            vec![Write::Assertion(c.clone())],
            vec![Write::Retraction(late), Write::Retraction(early.clone())],
        ],
        &c,
    )
    .await;
    assert_eq!(kept_a.as_ref().map(|r| r.hlc), Some(early.hlc));
    assert_eq!(kept_a, kept_b);
    assert_eq!(kept_a, kept_both);
    assert_eq!(a, b, "the replicas' Merkle leaves differ");
    assert_eq!(a, both);
}

#[tokio::test]
async fn a_retraction_ahead_of_its_claim_in_one_batch_is_counted() {
    let c = claim("warfarin", Hlc::new(1_000, 0));
    let r = retraction(&c, Hlc::new(2_000, 0), "node1");
    let (apart, kept_apart) = replica(
        vec![
            vec![Write::Assertion(c.clone())],
            vec![Write::Retraction(r.clone())],
        ],
        &c,
    )
    .await;
    let (together, kept_together) = replica(
        vec![vec![
            Write::Retraction(r.clone()),
            Write::Assertion(c.clone()),
        ]],
        &c,
    )
    .await;
    assert_eq!(kept_apart, Some(r));
    assert_eq!(kept_apart, kept_together);
    assert_eq!(
        apart, together,
        "the retraction is missing from the Merkle leaf"
    );
}
