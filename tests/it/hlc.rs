//! The clock across `kill -9`, many times over (`STEMEDB_TRIALS`, default
//! 5; `make fuzz` runs 1 000). Each trial, on the same data dir: writers
//! insert — statements and transaction blocks — and the server is killed
//! after a few acknowledgements, between or during batches. Then:
//! `stemedb verify` passes on the dir as the kill left it (it checks the
//! stored HLC high-water mark is at or above every stored stamp); after a
//! restart every acknowledged claim is visible, and a new claim is
//! stamped after every stored one.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_never_goes_back_after_kill_9() {
    let trials: usize = std::env::var("STEMEDB_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    for trial in 0..trials {
        let mut server = TestServer::start_in(&dir, &[]).expect("server starts");
        let mut writers = Vec::new();
        for w in 0..4 {
            let (conn, acked) = (server.conn_str(), acked.clone());
            writers.push(tokio::spawn(async move {
                let Ok(client) = crate::support::connect(&conn).await else { return };
                for n in 0.. {
                    let subject = format!("t{trial}w{w}n{n}");
                    let insert = format!(
                        "INSERT INTO assertions (subject, predicate, object, source) VALUES ('{subject}', 'p', 'o', 'hlc')"
                    );
                    let sql = if n % 2 == 0 { insert } else { format!("BEGIN; {insert}; COMMIT") };
                    if client.batch_execute(&sql).await.is_err() {
                        return;
                    }
                    acked.lock().unwrap().insert(subject);
                }
            }));
        }
        let target = acked.lock().unwrap().len() + 1 + trial % 20;
        while acked.lock().unwrap().len() < target {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            assert!(
                writers.iter().any(|t| !t.is_finished()),
                "all writers stopped"
            );
        }
        server.kill9();
        for w in writers {
            let _ = w.await;
        }
        crate::support::verify_ok(&dir, &format!("trial {trial}, after kill -9"));

        let mut server = TestServer::start_in(&dir, &[]).expect("server restarts");
        let client = server.connect().await;
        let present: HashSet<String> = client
            .query("SELECT subject FROM assertions WHERE source = 'hlc'", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let acked_now = acked.lock().unwrap().clone();
        let missing: Vec<_> = acked_now.difference(&present).take(5).collect();
        assert!(
            missing.is_empty(),
            "trial {trial}: acknowledged claims hidden or lost: {missing:?}"
        );
        crate::support::assert_new_stamp_is_newest(&client, &format!("trial {trial}")).await;
        server.kill9();
        if (trial + 1) % 50 == 0 || trial + 1 == trials {
            println!(
                "trial {}/{trials}: {} acknowledged claims, clock monotonic",
                trial + 1,
                acked_now.len()
            );
        }
    }
}
