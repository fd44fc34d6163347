//! Statement limits against a real server: `statement_timeout` cancels
//! with 57014, `stemedb.query_memory_limit` refuses with 53200, both from
//! `SET` and from the configuration, and the node keeps serving.

use crate::support::TestServer;

/// SQLSTATE of a failed statement.
fn code(result: Result<Vec<tokio_postgres::SimpleQueryMessage>, tokio_postgres::Error>) -> String {
    crate::support::sqlstate(&result.expect_err("the statement fails"))
}

async fn show(client: &tokio_postgres::Client, name: &str) -> String {
    client
        .query_one(&format!("SHOW {name}"), &[])
        .await
        .unwrap()
        .get(0)
}

const LONG_AGGREGATE: &str =
    "SELECT count(*) FROM generate_series(1, 5000000000) AS t(x) WHERE x % 7 = 3";
/// Rows that stream for minutes: the deadline must end the stream too.
const LONG_STREAM: &str = "SELECT x FROM generate_series(1, 5000000000) AS t(x)";
/// A sort of two billion integers: about 16 GiB held at once.
const HUGE_SORT: &str = "SELECT x FROM generate_series(1, 2000000000) AS t(x) ORDER BY x DESC";

#[tokio::test]
async fn statement_timeout_cancels_long_statements() {
    let server = TestServer::start();
    let client = server.connect().await;
    assert_eq!(show(&client, "statement_timeout").await, "0");
    client
        .batch_execute("SET statement_timeout = '100ms'")
        .await
        .unwrap();
    assert_eq!(show(&client, "statement_timeout").await, "100ms");

    assert_eq!(code(client.simple_query(LONG_AGGREGATE).await), "57014");
    assert_eq!(code(client.simple_query(LONG_STREAM).await), "57014");
    // Extended protocol too, and the connection goes on.
    let prepared = client.query(LONG_AGGREGATE, &[]).await.unwrap_err();
    assert_eq!(prepared.code().map(|c| c.code()), Some("57014"));
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);

    // Off again: a statement longer than 100 ms completes.
    client
        .batch_execute("RESET statement_timeout")
        .await
        .unwrap();
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM generate_series(1, 3000000) AS t(x) WHERE x % 7 = 3",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 428_572);
    let bad = client
        .batch_execute("SET statement_timeout = 'soonish'")
        .await
        .unwrap_err();
    assert_eq!(bad.code().map(|c| c.code()), Some("22023"));
}

#[tokio::test]
async fn configured_limits_are_every_sessions_defaults() {
    let server = TestServer::start_with(&[
        ("STEMEDB_LIMITS__STATEMENT_TIMEOUT", "150ms"),
        ("STEMEDB_LIMITS__QUERY_MEMORY_LIMIT", "16MB"),
    ]);
    let client = server.connect().await;
    assert_eq!(show(&client, "statement_timeout").await, "150ms");
    assert_eq!(show(&client, "stemedb.query_memory_limit").await, "16MB");
    assert_eq!(code(client.simple_query(LONG_AGGREGATE).await), "57014");
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    // Three million groups do not fit in 16 MB; they do once the session
    // raises its own budget, and RESET returns to the configured one.
    let groups = "SELECT count(*) FROM (SELECT x % 3000000 AS k, count(*) \
                  FROM generate_series(1, 4000000) AS t(x) GROUP BY 1) g";
    assert_eq!(code(client.simple_query(groups).await), "53200");
    client
        .batch_execute("SET stemedb.query_memory_limit = '512MB'")
        .await
        .unwrap();
    let n: i64 = client.query_one(groups, &[]).await.unwrap().get(0);
    assert_eq!(n, 3_000_000);
    client
        .batch_execute("RESET stemedb.query_memory_limit")
        .await
        .unwrap();
    assert_eq!(code(client.simple_query(groups).await), "53200");
}

#[tokio::test]
async fn a_query_needing_more_memory_than_the_node_has_is_refused() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source) \
             VALUES ('aspirin', 'treats', 'headache', 'who')",
        )
        .await
        .unwrap();
    assert_eq!(show(&client, "stemedb.query_memory_limit").await, "1GB");
    let error = client.simple_query(HUGE_SORT).await.unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("53200"), "{error}");
    let message = crate::support::describe_error(&error);
    assert!(message.contains("stemedb.query_memory_limit"), "{message}");

    // The node and this connection go on, with the write intact.
    let n = crate::support::count_assertions(&client).await;
    assert_eq!(n, 1);
    let other = server.connect().await;
    assert_eq!(crate::support::count_assertions(&other).await, 1);
}
