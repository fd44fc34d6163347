//! Opening a data dir written by another version: an older format is
//! upgraded in place, a newer one (or one with column families this build
//! does not know) is refused, naming why.

use super::*;

#[test]
fn a_data_dir_of_a_newer_version_is_refused_naming_why() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), Some("n1"), Durability::Buffered).unwrap();
        drop(store);
    }
    // A newer build added a column family.
    {
        let (mut db, _) = open_db(dir.path()).unwrap();
        db.create_cf("from_the_future", &Options::default())
            .unwrap();
    }
    let err = Store::open(dir.path(), Some("n1"), Durability::Buffered)
        .err()
        .expect("refused");
    assert!(
        err.message.contains("written by a newer stemedb"),
        "{}",
        err.message
    );

    // A newer format version.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), Some("n1"), Durability::Buffered).unwrap();
        drop(store);
    }
    {
        let (db, _) = open_db(dir.path()).unwrap();
        let meta = db.cf_handle(CF_META).unwrap();
        db.put_cf(&meta, META_FORMAT, [FORMAT_VERSION + 1]).unwrap();
    }
    let err = Store::open(dir.path(), Some("n1"), Durability::Buffered)
        .err()
        .expect("refused");
    assert!(
        err.message.contains("newer than this build"),
        "{}",
        err.message
    );
}

#[test]
fn a_single_node_takes_its_configured_name_but_a_member_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), None, Durability::Buffered).unwrap());
    let store = Store::open(dir.path(), Some("node1"), Durability::Buffered).unwrap();
    assert_eq!(store.node_id(), "node1");
    store
        .remember_members(&["node1".into(), "node2".into()])
        .unwrap();
    drop(store);
    let err = Store::open(dir.path(), Some("node3"), Durability::Buffered)
        .err()
        .expect("refused");
    assert!(
        err.message.contains("a member keeps its name"),
        "{}",
        err.message
    );
}
