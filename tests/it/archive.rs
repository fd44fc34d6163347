//! Archival between backups (issue 14): writes accepted after a backup
//! are shipped as segments (on demand and on the node's schedule) and a
//! restore replays them — to the last archived write, or to any instant
//! up to it, equal to the source queried `as of` that instant; an instant
//! past the archive is refused; a node shut down ships its last writes.

use std::process::{Command, Output};
use std::time::Duration;

use crate::support::TestServer;
use crate::support::answers::{as_of, rows};
use crate::support::cluster::wait_for;

fn stemedb(args: &[&str]) -> Output {
    Command::new(&*crate::support::BINARY)
        .args(args)
        .output()
        .unwrap()
}

fn restore(url: &str, dir: &std::path::Path, until: Option<&str>) -> Output {
    let mut args = vec!["backup", "restore", "--from", url];
    args.extend(["--data-dir", dir.to_str().unwrap()]);
    if let Some(until) = until {
        args.extend(["--until", until]);
    }
    stemedb(&args)
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn insert(from: i32, to: i32, source: &str) -> String {
    format!(
        "INSERT INTO assertions (subject, predicate, object, source) \
         SELECT 's' || (value % 300), 'p' || (value % 3), 'o' || value, '{source}' \
         FROM generate_series({from}, {to})"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_replays_the_archive_to_any_instant() {
    let server = TestServer::start();
    let client = server.connect().await;
    let archive = tempfile::tempdir().unwrap();
    let url = format!("file://{}", archive.path().display());
    client
        .batch_execute(&insert(1, 2000, "before"))
        .await
        .unwrap();
    let backup = "SELECT stemedb_backup($1)";
    client.query_one(backup, &[&url]).await.unwrap();

    // After the backup: claims, then retractions, then more claims.
    client
        .batch_execute(&insert(2001, 3000, "after"))
        .await
        .unwrap();
    let first = rows(&client, "SELECT max(asserted_at) FROM assertions").await;
    client
        .batch_execute("INSERT INTO retractions (assertion_id) SELECT id FROM assertions WHERE object LIKE 'o2%5'")
        .await
        .unwrap();
    client
        .batch_execute(&insert(3001, 3500, "later"))
        .await
        .unwrap();
    let shipped: String = client
        .query_one("SELECT stemedb_archive($1)", &[&url])
        .await
        .unwrap()
        .get(0);
    assert!(shipped.starts_with("archived "), "{shipped}");
    let archived = as_of(&client, None).await;
    // The operator's command (what stemedb-archive.timer runs).
    let conn = server.conn_str();
    let again = stemedb(&["archive", "--to", &url, "--connect", &conn]);
    let report = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{}", text(&again));
    assert!(report.starts_with("archived 0 records"), "{report}");
    // Not archived: lost by a restore (the RPO).
    client
        .batch_execute(&insert(3501, 3600, "unarchived"))
        .await
        .unwrap();

    let dirs = tempfile::tempdir().unwrap();
    let whole = dirs.path().join("whole");
    let out = restore(&url, &whole, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("archived records replayed"),
        "{}",
        text(&out)
    );
    let node = TestServer::start_in(&whole, &[]).unwrap();
    assert_eq!(as_of(&node.connect().await, None).await, archived);
    drop(node);

    let first = first[0].clone();
    let cut = dirs.path().join("cut");
    let out = restore(&url, &cut, Some(&first));
    assert!(out.status.success(), "{}", text(&out));
    let node = TestServer::start_in(&cut, &[]).unwrap();
    let want = as_of(&client, Some(&first)).await;
    assert!(want.len() > 3000, "{} rows", want.len());
    assert_eq!(
        as_of(&node.connect().await, None).await,
        want,
        "as of {first}"
    );
    drop(node);

    let late = restore(
        &url,
        &dirs.path().join("late"),
        Some("2999-01-01T00:00:00Z"),
    );
    assert!(!late.status.success());
    assert!(
        text(&late).contains("last write archived"),
        "{}",
        text(&late)
    );
    assert!(!dirs.path().join("late").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schedule_ships_segments_and_a_shutdown_ships_the_rest() {
    let archive = tempfile::tempdir().unwrap();
    let url = format!("file://{}", archive.path().display());
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("data");
    let env = [
        ("STEMEDB_BACKUP__ARCHIVE_URL", url.as_str()),
        ("STEMEDB_BACKUP__ARCHIVE_INTERVAL", "1s"),
    ];
    let mut server = TestServer::start_in(&dir, &env).unwrap();
    let client = server.connect().await;
    client
        .query_one("SELECT stemedb_backup($1)", &[&url])
        .await
        .unwrap();
    client
        .batch_execute(&insert(1, 500, "scheduled"))
        .await
        .unwrap();
    let segments = || std::fs::read_dir(archive.path().join("archive")).map_or(0, |d| d.count());
    assert!(
        wait_for(Duration::from_secs(20), || segments() > 0),
        "no segment shipped"
    );
    // Acknowledged right before the shutdown: shipped on the way out.
    client
        .batch_execute(&insert(501, 600, "last"))
        .await
        .unwrap();
    let want = as_of(&client, None).await;
    drop(client);
    assert!(server.terminate().success());
    let restored = data.path().join("restored");
    let out = restore(&url, &restored, None);
    assert!(out.status.success(), "{}", text(&out));
    let node = TestServer::start_in(&restored, &[]).unwrap();
    assert_eq!(as_of(&node.connect().await, None).await, want);
}
