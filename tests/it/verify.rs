//! `stemedb verify` recomputes ids and checks indexes: it passes on a
//! healthy data dir and fails, saying what is wrong, on a corrupted one.

use std::process::{Command, Output};

use crate::support::{BINARY, TestServer};

fn verify(dir: &std::path::Path) -> Output {
    Command::new(&*BINARY)
        .args(["verify", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap()
}

fn open_raw(dir: &std::path::Path) -> rocksdb::DB {
    let cfs = stemedb::storage::ALL_CFS;
    rocksdb::DB::open_cf(&rocksdb::Options::default(), dir, cfs).unwrap()
}

#[tokio::test]
async fn verify_detects_a_corrupted_value_and_a_missing_index_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = TestServer::start_in(&dir, &[]).unwrap();
    let client = server.connect().await;
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source) VALUES ('a', 'p', 'one', 's'), ('b', 'p', 'two', 's');
             INSERT INTO retractions (assertion_id) SELECT id FROM assertions WHERE subject = 'b'",
        )
        .await
        .unwrap();
    drop(client);
    assert!(server.terminate().success());

    let healthy = verify(&dir);
    let report = String::from_utf8_lossy(&healthy.stdout);
    assert!(healthy.status.success(), "{report}");
    assert!(
        report.contains("checked 2 assertions, 1 retractions"),
        "{report}"
    );

    // Flip one byte of a stored assertion's object: its id no longer matches.
    let (key, original) = {
        let db = open_raw(&dir);
        let cf = db.cf_handle("assertions").unwrap();
        let (key, value) = db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .next()
            .unwrap()
            .unwrap();
        let mut corrupted = value.to_vec();
        let at = corrupted
            .windows(3)
            .position(|w| w == b"one" || w == b"two")
            .unwrap();
        corrupted[at] ^= 0x20;
        db.put_cf(cf, &key, &corrupted).unwrap();
        (key, value)
    };
    let corrupted = verify(&dir);
    let report = String::from_utf8_lossy(&corrupted.stdout);
    assert!(
        !corrupted.status.success(),
        "verify passed on corrupted data:\n{report}"
    );
    assert!(report.contains("FAILED"), "{report}");
    assert!(
        report.contains("hashes to") || report.contains("differs"),
        "{report}"
    );

    // A missing index entry is reported too.
    {
        let db = open_raw(&dir);
        db.put_cf(db.cf_handle("assertions").unwrap(), &key, &original)
            .unwrap();
        let cf = db.cf_handle("by_predicate").unwrap();
        let (key, _) = db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .next()
            .unwrap()
            .unwrap();
        db.delete_cf(cf, &key).unwrap();
    }
    let report = String::from_utf8_lossy(&verify(&dir).stdout).to_string();
    assert!(report.contains("missing from by_predicate"), "{report}");

    // A lens head that is missing, or disagrees with its pair's claims, is
    // reported: here, the head of ('a', 'p') swapped with that of a
    // retracted pair's (which has none: its only claim is retracted).
    {
        let db = open_raw(&dir);
        let cf = db.cf_handle("heads").unwrap();
        let heads: Vec<_> = db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .map(|kv| kv.unwrap())
            .collect();
        assert_eq!(heads.len(), 1, "one pair has live claims");
        let (key, value) = &heads[0];
        db.delete_cf(cf, key).unwrap();
        let mut other = key.to_vec();
        other[0] = b'b';
        db.put_cf(cf, &other, value).unwrap();
    }
    let report = String::from_utf8_lossy(&verify(&dir).stdout).to_string();
    assert!(
        report.contains("heads: (a, p) has live claims but no head"),
        "{report}"
    );
    assert!(
        report.contains("heads: (b, p) has a head but no live claims"),
        "{report}"
    );
}
