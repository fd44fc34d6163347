//! Durability under `kill -9`: eight concurrent writers insert while the
//! server is killed mid-load. Right after the kill `stemedb verify` passes
//! on the data dir — which includes: the stored HLC high-water mark is at or
//! above every stored stamp, so the restarted clock cannot go back. After a
//! restart every acknowledged row is present and a new write is stamped
//! after every stored one. Several cycles (`STEMEDB_TRIALS`, default 3).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::support::TestServer;

const WRITERS: usize = 8;
/// At most this many rows are acknowledged per cycle before the kill.
const ACKED_BEFORE_KILL: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_write_is_lost_to_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let cycles: usize = std::env::var("STEMEDB_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for cycle in 0..cycles {
        let mut server = TestServer::start_in(&dir, &[]).expect("server starts");
        let conn = server.conn_str();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (conn, acked) = (conn.clone(), acked.clone());
            tasks.push(tokio::spawn(async move {
                let Ok(client) = crate::support::connect(&conn).await else { return };
                for n in 0.. {
                    let subject = format!("c{cycle}w{w}n{n}");
                    // Half single-row statements, half explicit blocks.
                    let ok = if n % 2 == 0 {
                        client
                            .execute(
                                "INSERT INTO assertions (subject, predicate, object, source) VALUES ($1, 'p', 'o', 'crash-test')",
                                &[&subject],
                            )
                            .await
                            .is_ok()
                    } else {
                        let sql = format!(
                            "BEGIN; INSERT INTO assertions (subject, predicate, object, source) VALUES ('{subject}', 'p', 'o', 'crash-test'); COMMIT"
                        );
                        client.batch_execute(&sql).await.is_ok()
                    };
                    if !ok {
                        return; // the server died under us
                    }
                    acked.lock().unwrap().insert(subject);
                }
            }));
        }
        // Kill once some writes have been acknowledged in this cycle (a
        // different number each cycle, so kills land at different points).
        let target = acked.lock().unwrap().len() + 1 + (cycle * 37) % ACKED_BEFORE_KILL;
        while acked.lock().unwrap().len() < target {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            assert!(
                tasks.iter().any(|t| !t.is_finished()),
                "all writers stopped early"
            );
        }
        server.kill9();
        for t in tasks {
            let _ = t.await;
        }
        crate::support::verify_ok(&dir, &format!("right after the kill of cycle {cycle}"));

        // Restart on the same dir: every acknowledged row is there.
        let mut server = TestServer::start_in(&dir, &[]).expect("server restarts");
        let client = server.connect().await;
        let rows = client
            .query(
                "SELECT subject FROM assertions WHERE source = 'crash-test'",
                &[],
            )
            .await
            .unwrap();
        let present: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        let acked_now = acked.lock().unwrap().clone();
        let missing: Vec<_> = acked_now.difference(&present).take(5).collect();
        assert!(
            missing.is_empty(),
            "cycle {cycle}: acknowledged rows lost: {missing:?}"
        );
        assert!(present.len() >= acked_now.len());
        // A new write is stamped after every stored one.
        crate::support::assert_new_stamp_is_newest(&client, &format!("cycle {cycle}")).await;
        drop(client);
        assert!(server.terminate().success(), "clean shutdown on SIGTERM");
        crate::support::verify_ok(&dir, &format!("after cycle {cycle}"));
        println!(
            "cycle {}/{cycles}: {} acknowledged rows present, new stamp after the stored ones",
            cycle + 1,
            acked_now.len()
        );
    }
}
