//! Durability under `kill -9`: eight concurrent writers insert while the
//! server is killed mid-load; after a restart on the same data dir every
//! acknowledged row is present and `stemedb verify` passes. Several cycles.

mod support;

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};

use support::{BINARY, TestServer};

const WRITERS: usize = 8;
const CYCLES: usize = 3;
/// Acknowledged rows per cycle before the kill.
const ACKED_BEFORE_KILL: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_write_is_lost_to_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    for cycle in 0..CYCLES {
        let mut server = TestServer::start_in(&dir, &[]).expect("server starts");
        let conn = server.conn_str();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (conn, acked) = (conn.clone(), acked.clone());
            tasks.push(tokio::spawn(async move {
                let Ok(client) = support::connect(&conn).await else { return };
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
        // Kill once enough writes have been acknowledged in this cycle.
        let target = ACKED_BEFORE_KILL * (cycle + 1);
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
        drop(client);
        assert!(server.terminate().success(), "clean shutdown on SIGTERM");

        let verify = Command::new(BINARY)
            .args(["verify", "--data-dir"])
            .arg(&dir)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&verify.stdout);
        assert!(
            verify.status.success(),
            "verify failed after cycle {cycle}:\n{report}"
        );
        assert!(report.contains("OK"), "{report}");
    }
}
