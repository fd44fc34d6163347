//! Snapshot reads: a transaction block's writes appear together or not at
//! all, to every statement. A writer runs blocks that each insert a new
//! claim about one subject and retract the previous one; readers count the
//! subject's live claims in `assertions` and in the `recency` lens the
//! whole time. Any read that sees the insert without the retraction (2) or
//! the retraction without the insert (0) fails the test. `STEMEDB_TRIALS`
//! sets the number of blocks (default 300; `make fuzz` runs 1 000).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_blocks_insert_and_retraction_appear_together() {
    let trials: usize = std::env::var("STEMEDB_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let server = TestServer::start();
    let writer = server.connect().await;
    writer
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source) VALUES ('flip', 'state', 'v0', 'snap')",
        )
        .await
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for sql in [
        "SELECT count(*) FROM assertions WHERE subject = 'flip' AND NOT retracted",
        "SELECT sum(claims) FROM recency WHERE subject = 'flip'",
        // A join: both sides must come from one snapshot.
        "SELECT count(*) FROM assertions a LEFT JOIN retractions r ON r.assertion_id = a.id \
         WHERE a.subject = 'flip' AND r.assertion_id IS NULL",
    ] {
        let (client, done, reads) = (server.connect().await, done.clone(), reads.clone());
        readers.push(tokio::spawn(async move {
            let statement = client.prepare(sql).await.unwrap();
            while !done.load(Ordering::Relaxed) {
                let live: i64 = client.query_one(&statement, &[]).await.unwrap().get(0);
                assert_eq!(live, 1, "{sql}: saw half a transaction block");
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for i in 1..=trials {
        let block = format!(
            "BEGIN; \
             INSERT INTO assertions (subject, predicate, object, source) VALUES ('flip', 'state', 'v{i}', 'snap'); \
             INSERT INTO retractions (assertion_id, reason) \
               SELECT id, 'superseded' FROM assertions WHERE subject = 'flip' AND object = 'v{}'; \
             COMMIT",
            i - 1
        );
        writer.batch_execute(&block).await.unwrap();
        if readers.iter().any(|r| r.is_finished()) {
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.expect("a reader saw half a block");
    }
    let live: i64 = writer
        .query_one(
            "SELECT count(*) FROM assertions WHERE subject = 'flip' AND NOT retracted",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 1);
    let total: i64 = writer
        .query_one(
            "SELECT count(*) FROM assertions WHERE subject = 'flip'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(total as usize, trials + 1, "every block committed");
    let reads = reads.load(Ordering::Relaxed);
    println!("{trials} blocks, {reads} concurrent reads, none saw half a block");
    assert!(
        reads > trials as u64 / 10,
        "the readers barely ran ({reads} reads)"
    );
}
