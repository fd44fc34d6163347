//! Graceful shutdown of a real server under load: SIGTERM while 8 clients
//! write. `/ready` turns 503 while statements finish, every client is told
//! `57P01` (not reset), the process exits 0, and after a restart every
//! acknowledged write is there.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::TestServer;

const WRITERS: usize = 8;

/// Polls `condition` every 10 ms for at most `limit`.
async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How a client's connection ended: the SQLSTATE it was given, or what
/// went wrong instead.
fn ending(
    statement: tokio_postgres::Error,
    connection: Option<Result<(), tokio_postgres::Error>>,
) -> String {
    let code = |e: &tokio_postgres::Error| e.as_db_error().map(|d| d.code().code().to_string());
    code(&statement)
        .or_else(|| connection.and_then(|c| c.err()).and_then(|e| code(&e)))
        .unwrap_or_else(|| format!("no SQLSTATE: {statement}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_statements_tells_clients_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let env = [("STEMEDB_SHUTDOWN_TIMEOUT", "3s")];
    let mut server = TestServer::start_in(&dir, &env).expect("server starts");
    let conn = server.conn_str();
    assert_eq!(crate::support::http_get(server.http_port, "/ready").0, 200);

    // Eight writers, each recording the subjects the server acknowledged.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (client, connection) = crate::support::connect_watched(&conn).await;
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                let subject = format!("w{w}-{i}");
                match client
                    .execute(
                        "INSERT INTO assertions (subject, predicate, object, source) \
                         VALUES ($1, 'p', 'o', 's')",
                        &[&subject],
                    )
                    .await
                {
                    Ok(_) => {
                        acked.push(subject);
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        let ended = tokio::time::timeout(Duration::from_secs(10), connection)
                            .await
                            .ok()
                            .and_then(Result::ok);
                        return (acked, ending(e, ended));
                    }
                }
            }
            unreachable!()
        }));
    }
    // A statement still running when SIGTERM comes: it may finish within
    // shutdown_timeout (3 s), then it is cancelled.
    let (slow, slow_connection) = crate::support::connect_watched(&conn).await;
    let long = tokio::spawn(async move {
        let result = slow
            .simple_query(
                "SELECT count(*) FROM generate_series(1, 5000000000) AS t(x) WHERE x % 7 = 3",
            )
            .await;
        (result.map(|_| ()), slow_connection)
    });
    // And an idle connection, told as well.
    let (_idle, idle_connection) = crate::support::connect_watched(&conn).await;

    wait_until("writes are acknowledged", Duration::from_secs(60), || {
        acknowledged.load(Ordering::SeqCst) >= 200
    })
    .await;
    let status = Command::new("kill")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());

    // Draining: /ready is 503 while the long statement still runs.
    let http_port = server.http_port;
    wait_until("/ready is 503", Duration::from_secs(2), || {
        crate::support::http_get(http_port, "/ready").0 == 503
    })
    .await;

    let mut total = Vec::new();
    for writer in writers {
        let (acked, ended) = tokio::time::timeout(Duration::from_secs(30), writer)
            .await
            .expect("a writer's connection ends")
            .unwrap();
        assert_eq!(ended, "57P01", "a writer was not told of the shutdown");
        total.extend(acked);
    }
    let (result, slow_connection) = tokio::time::timeout(Duration::from_secs(30), long)
        .await
        .expect("the long statement ends")
        .unwrap();
    let error = result.expect_err("the long statement cannot finish");
    let ended = tokio::time::timeout(Duration::from_secs(10), slow_connection)
        .await
        .ok()
        .and_then(Result::ok);
    let told = ending(error, ended);
    assert!(told == "57014" || told == "57P01", "long statement: {told}");
    let idle = tokio::time::timeout(Duration::from_secs(10), idle_connection)
        .await
        .expect("the idle connection is closed")
        .unwrap();
    let idle = idle.expect_err("the idle client is told why");
    assert_eq!(
        idle.as_db_error().map(|d| d.code().code()),
        Some("57P01"),
        "{idle}"
    );

    let exit = server.terminate();
    assert_eq!(exit.code(), Some(0), "exit status {exit:?}");

    // Everything acknowledged is there after a restart.
    let server = TestServer::start_in(&dir, &[]).expect("server restarts");
    let client = server.connect().await;
    let stored: Vec<String> = client
        .query("SELECT subject FROM assertions", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let stored: std::collections::HashSet<String> = stored.into_iter().collect();
    assert!(total.len() >= 200);
    let missing: Vec<&String> = total.iter().filter(|s| !stored.contains(*s)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
}
