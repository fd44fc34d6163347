//! `[limits]` rates against a real server, with clients from different
//! loopback addresses: a client over its statement rate gets 53400 and
//! stays connected while another client is served; connection bursts and
//! password guessing are refused with 53300; all of it is counted.

use std::time::{Duration, Instant};

use crate::support::{TestServer, connect_from};

/// Latencies of `n` point queries, sorted; paced at 10 a second, well
/// under the client's rate.
async fn latencies(client: &tokio_postgres::Client, n: usize) -> Vec<Duration> {
    let mut took = Vec::with_capacity(n);
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..n {
        pace.tick().await;
        let t = Instant::now();
        client
            .query("SELECT object FROM recency WHERE subject = 'x'", &[])
            .await
            .expect("the quiet client is never limited");
        took.push(t.elapsed());
    }
    took.sort();
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hammering_client_is_limited_and_the_others_are_not() {
    let server = TestServer::start_with(&[("STEMEDB_LIMITS__STATEMENTS_PER_SECOND", "20")]);
    let quiet = connect_from([127, 0, 0, 1], server.port, None)
        .await
        .unwrap();
    quiet
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source) VALUES ('x', 'p', 'o', 's')",
        )
        .await
        .unwrap();
    let unloaded = latencies(&quiet, 20).await;

    // As fast as it can (on this machine, several times its rate), from
    // 127.0.0.2, until it has been refused 50 times (bounded).
    let hammer = connect_from([127, 0, 0, 2], server.port, None)
        .await
        .unwrap();
    let hammering = tokio::spawn(async move {
        let (mut ok, mut limited) = (0u32, 0u32);
        let started = Instant::now();
        while limited < 50 && started.elapsed() < Duration::from_secs(30) {
            match hammer.query("SELECT 1", &[]).await {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert_eq!(crate::support::sqlstate(&e), "53400", "{e}");
                    limited += 1;
                }
            }
        }
        (hammer, ok, limited, started.elapsed())
    });
    let loaded = latencies(&quiet, 20).await;
    let (hammer, ok, limited, took) = hammering.await.unwrap();
    assert_eq!(
        limited, 50,
        "{ok} statements ran in {took:?}, {limited} limited"
    );
    // At most the burst (20) and 20 per second got through.
    let allowed = 20.0 + 20.0 * took.as_secs_f64();
    assert!(f64::from(ok) <= allowed + 5.0, "{ok} ran in {took:?}");
    let p99 = |v: &[Duration]| v[v.len() * 99 / 100];
    eprintln!(
        "quiet client p99: {:?} unloaded, {:?} while another client is limited ({ok} ok, {limited} limited)",
        p99(&unloaded),
        p99(&loaded)
    );
    // The limited connection is still usable once it slows down.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let one: i32 = hammer.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);

    let (_, metrics) = crate::support::http_get(server.http_port, "/metrics");
    let limited_metric = metrics
        .lines()
        .find(|l| l.starts_with("stemedb_rate_limited_total{limit=\"statements\"}"))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse::<f64>().ok())
        .expect("stemedb_rate_limited_total{limit=\"statements\"}");
    assert_eq!(limited_metric, limited as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_bursts_are_refused_per_address() {
    let server = TestServer::start_with(&[("STEMEDB_LIMITS__CONNECTIONS_PER_SECOND", "2")]);
    // Twenty startups at once from 127.0.0.3: a burst of two, then two a
    // second, are let in.
    let port = server.port;
    let attempts: Vec<_> = (0..20)
        .map(|_| tokio::spawn(async move { connect_from([127, 0, 0, 3], port, None).await }))
        .collect();
    let started = Instant::now();
    let (mut open, mut refused) = (Vec::new(), 0);
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(c) => open.push(c),
            Err(e) => {
                assert_eq!(crate::support::sqlstate(&e), "53300", "{e}");
                refused += 1;
            }
        }
    }
    let took = started.elapsed().as_secs_f64();
    assert!(
        open.len() as f64 <= 2.0 + 2.0 * took + 1.0,
        "{} let in within {took:.1} s",
        open.len()
    );
    assert!(refused > 0, "none of 20 refused in {took:.1} s");
    // Another address is not affected.
    assert!(
        connect_from([127, 0, 0, 4], server.port, None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn password_guessing_locks_the_address_out() {
    let server = TestServer::start_with(&[
        ("STEMEDB_PASSWORD", "right-horse"),
        ("STEMEDB_LIMITS__FAILED_LOGINS_PER_MINUTE", "3"),
        ("STEMEDB_LIMITS__FAILED_LOGIN_LOCKOUT", "1min"),
    ]);
    for _ in 0..4 {
        let e = connect_from([127, 0, 0, 5], server.port, Some("wrong"))
            .await
            .unwrap_err();
        assert_eq!(crate::support::sqlstate(&e), "28P01", "{e}");
    }
    // Locked out, even with the right password…
    let e = connect_from([127, 0, 0, 5], server.port, Some("right-horse"))
        .await
        .unwrap_err();
    assert_eq!(crate::support::sqlstate(&e), "53300", "{e}");
    let message = crate::support::describe_error(&e);
    assert!(message.contains("locked out"), "{message}");
    // … while another address logs in.
    let other = connect_from([127, 0, 0, 6], server.port, Some("right-horse"))
        .await
        .unwrap();
    let one: i32 = other.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    let (_, metrics) = crate::support::http_get(server.http_port, "/metrics");
    assert!(
        metrics.contains("stemedb_auth_failures_total 4"),
        "{metrics}"
    );
}

/// The pid of a connection running a statement like `like` (polled).
async fn running_pid(watcher: &tokio_postgres::Client, like: &str, not: &[i32]) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = watcher
            .query(
                "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1",
                &[&like],
            )
            .await
            .unwrap();
        if let Some(pid) = rows
            .iter()
            .map(|r| r.get::<_, i32>(0))
            .find(|p| !not.contains(p))
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no statement like {like} runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_runs_at_most_its_concurrent_statements() {
    let server = TestServer::start_with(&[("STEMEDB_LIMITS__CONCURRENT_STATEMENTS_PER_USER", "2")]);
    const SLOW: &str =
        "SELECT count(*) FROM generate_series(1, 5000000000) AS t(x) WHERE x % 7 = 3";
    let watcher = crate::support::connect(&format!(
        "host=127.0.0.1 port={} user=watcher dbname=stemedb",
        server.port
    ))
    .await
    .unwrap();
    let (mut slow, mut pids, mut cancels) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..2 {
        let client = server.connect().await;
        cancels.push(client.cancel_token());
        slow.push(tokio::spawn(async move {
            client.simple_query(SLOW).await.map(|_| ())
        }));
        pids.push(running_pid(&watcher, "SELECT count(*) FROM generate_series%", &pids).await);
    }
    // A third statement of the same user, on another connection: refused.
    let third = server.connect().await;
    let e = third.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(crate::support::sqlstate(&e), "53400", "{e}");
    // Another user is not affected.
    let one: i32 = watcher.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    // Once the two end (cancelled the way a client cancels, which is not
    // a statement), the third connection runs again.
    for cancel in cancels {
        cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    }
    for s in slow {
        let ended = tokio::time::timeout(Duration::from_secs(30), s)
            .await
            .unwrap()
            .unwrap();
        assert!(ended.is_err(), "the slow statements were cancelled");
    }
    let one: i32 = third.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
}
