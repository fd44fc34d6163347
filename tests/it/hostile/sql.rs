//! Statements that are legal but extreme, or plainly abusive. Each either
//! answers or fails with the SQLSTATE PostgreSQL would use; none may crash
//! the server or hold unbounded memory.

use bytes::Bytes;
use futures::SinkExt;
use tokio_postgres::Client;

use super::assert_healthy;
use crate::support::{TestServer, describe_error};

/// `SELECT 1+1+…+1` with `terms` ones (as bigint).
fn sum_chain(terms: usize) -> String {
    let mut sql = String::from("SELECT 1::int8");
    for _ in 1..terms {
        sql.push_str("+1");
    }
    sql
}

/// `… WHERE subject = 's0' OR subject = 's1' OR …`, as ORMs write lists.
fn or_chain(terms: usize) -> String {
    let ors: Vec<String> = (0..terms).map(|i| format!("subject = 's{i}'")).collect();
    format!("SELECT count(*) FROM assertions WHERE {}", ors.join(" OR "))
}

fn in_list(terms: usize) -> String {
    let items: Vec<String> = (0..terms).map(|i| format!("'s{i}'")).collect();
    format!(
        "SELECT count(*) FROM recency WHERE subject IN ({})",
        items.join(", ")
    )
}

async fn sqlstate_of(client: &Client, sql: &str) -> Result<(), String> {
    client
        .simple_query(sql)
        .await
        .map(|_| ())
        .map_err(|e| describe_error(&e))
}

async fn count(client: &Client, sql: &str) -> i64 {
    match client.query_one(sql, &[]).await {
        Ok(row) => row.get(0),
        Err(e) => panic!("{}: {}", &sql[..sql.len().min(60)], describe_error(&e)),
    }
}

pub async fn run(server: &mut TestServer, bystander: &Client, start_rss: u64) {
    // Connection churn: every session's memory goes back when it closes
    // (a reference cycle once kept ~5 MiB per closed session).
    let before = super::rss_mib(server.child.id());
    for _ in 0..300 {
        let c = server.connect().await;
        c.simple_query("SELECT 1").await.unwrap();
    }
    let after = super::rss_mib(server.child.id());
    assert!(
        after < before + 200,
        "300 short sessions grew RSS from {before} to {after} MiB"
    );
    let client = server.connect().await;

    // Long chains that ORMs generate are answered (AND / OR chains of any
    // length: `STEMEDB_FUZZ_OR_TERMS`, default 20 000; `make fuzz` 100 000).
    let or_terms: usize = std::env::var("STEMEDB_FUZZ_OR_TERMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    assert_eq!(count(&client, &or_chain(3_000)).await, 1);
    assert_eq!(count(&client, &or_chain(or_terms)).await, 1);
    assert_eq!(count(&client, &in_list(3_000)).await, 1);
    let sum: i64 = client.query_one(&sum_chain(500), &[]).await.unwrap().get(0);
    assert_eq!(sum, 500);
    assert_healthy(server, bystander, start_rss, "long chains").await;

    // Absurd depths are refused with 54001, in both protocols.
    let deep = sum_chain(100_000);
    let e = sqlstate_of(&client, &deep).await.unwrap_err();
    assert!(e.starts_with("54001"), "{e}");
    let e = client
        .prepare(&deep)
        .await
        .map(|_| ())
        .map_err(|e| describe_error(&e));
    assert!(e.unwrap_err().starts_with("54001"));
    let nested = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
    let e = sqlstate_of(&client, &nested).await.unwrap_err();
    assert!(e.starts_with("54001"), "{e}");
    let e = sqlstate_of(&client, &sum_chain(1_001)).await.unwrap_err();
    assert!(e.starts_with("54001"), "{e}");
    assert_healthy(server, bystander, start_rss, "deep nesting").await;

    // Parameter numbers the protocol cannot bind.
    for sql in [
        "SELECT $20000000",
        "SELECT $2000000000",
        "SELECT $65536::text",
    ] {
        let e = client
            .prepare(sql)
            .await
            .map(|_| ())
            .map_err(|e| describe_error(&e));
        assert!(e.unwrap_err().starts_with("42P02"), "{sql}");
    }
    assert_healthy(server, bystander, start_rss, "parameter numbers").await;

    // A 16 MiB literal is answered (or refused), not a crash.
    let huge = format!("SELECT length('{}')", "x".repeat(16 << 20));
    if let Ok(rows) = client.simple_query(&huge).await {
        assert!(!rows.is_empty());
    }
    // A literal that is too long for a claim is refused with its rule.
    let object = "y".repeat(70_000);
    let e = sqlstate_of(
        &client,
        &format!("INSERT INTO assertions (subject, predicate, object, source) VALUES ('s', 'p', '{object}', 'src')"),
    )
    .await
    .unwrap_err();
    assert!(e.starts_with("23514"), "{e}");
    assert_healthy(server, bystander, start_rss, "huge literals").await;

    // COPY data without a line end: refused once the record passes 1 MiB,
    // the rest ignored; the connection stays usable.
    let sink = client
        .copy_in("COPY assertions (subject, predicate, object, source) FROM STDIN")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    let chunk = Bytes::from(vec![b'z'; 1 << 20]);
    for _ in 0..32 {
        if sink.send(chunk.clone()).await.is_err() {
            break;
        }
    }
    let e = sink
        .finish()
        .await
        .map_err(|e| describe_error(&e))
        .unwrap_err();
    assert!(e.starts_with("54000"), "{e}");
    assert_eq!(count(&client, "SELECT 1::int8").await, 1);
    assert_healthy(server, bystander, start_rss, "line-less COPY").await;

    // A transaction block (or one statement) larger than the node buffers
    // is refused with 54000 and leaves nothing behind.
    client.batch_execute("BEGIN").await.unwrap();
    let e = sqlstate_of(
        &client,
        "INSERT INTO assertions (subject, predicate, object, source) \
         SELECT 'big' || i, 'p', repeat('x', 60000), 'src' FROM generate_series(1, 5000) AS t(i)",
    )
    .await
    .unwrap_err();
    assert!(e.starts_with("54000"), "{e}");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM assertions WHERE subject LIKE 'big%'"
        )
        .await,
        0
    );
    assert_healthy(server, bystander, start_rss, "oversized block").await;
}
