//! pg_stat_activity, pg_cancel_backend and pg_terminate_backend across
//! two real connections.

use std::time::{Duration, Instant};

use crate::support::TestServer;

/// The pid of the connection whose statement matches `like`, once it shows
/// as active (polled; bounded).
async fn active_pid(watcher: &tokio_postgres::Client, like: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = watcher
            .query(
                "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 \
                 AND pid <> pg_backend_pid()",
                &[&like],
            )
            .await
            .unwrap();
        if let Some(row) = rows.first() {
            return row.get(0);
        }
        assert!(Instant::now() < deadline, "no active statement like {like}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const SLOW: &str = "SELECT count(*) FROM generate_series(1, 5000000000) AS t(x) WHERE x % 7 = 3";

#[tokio::test]
async fn cancel_and_terminate_another_backend() {
    let server = TestServer::start();
    let (victim, victim_connection) = crate::support::connect_watched(&server.conn_str()).await;
    let watcher = server.connect().await;

    let running = tokio::spawn(async move {
        let result = victim.simple_query(SLOW).await;
        (victim, result)
    });
    let pid = active_pid(&watcher, "SELECT count(*) FROM generate_series%").await;
    let sent: bool = watcher
        .query_one("SELECT pg_cancel_backend($1::int4)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(sent);
    let (victim, result) = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the cancelled statement ends")
        .unwrap();
    let error = result.expect_err("a cancelled statement fails");
    assert_eq!(error.code().map(|c| c.code()), Some("57014"), "{error}");
    // The connection goes on, and shows as idle.
    let one: i32 = victim.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    let state: String = watcher
        .query_one(
            "SELECT state FROM pg_stat_activity WHERE pid = $1::int4",
            &[&pid],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "idle");

    let sent: bool = watcher
        .query_one("SELECT pg_terminate_backend($1::int4)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(sent);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !victim.is_closed() {
        assert!(
            Instant::now() < deadline,
            "terminated connection stays open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Told why, as PostgreSQL tells it, rather than reset.
    let ended = victim_connection.await.unwrap().expect_err("told why");
    assert_eq!(
        ended.as_db_error().map(|d| d.code().code()),
        Some("57P01"),
        "{ended}"
    );
    // Gone from the view; the watcher is untouched.
    let left: i64 = watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int4",
            &[&pid],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}
