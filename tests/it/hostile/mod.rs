//! Hostile and careless clients (issue: no client input may crash the
//! server or grow its memory without bound). Each case runs against one
//! real server while a second, well-behaved connection keeps working; after
//! every case the server must still accept a new connection and answer,
//! and its resident memory must stay within 1 GiB of where it started.
//!
//! - `sql.rs`: statements an ORM or a careless user sends (long OR / IN
//!   chains, deep nesting, huge literals, absurd parameter numbers, a COPY
//!   without line ends, an oversized transaction block).
//! - `protocol.rs`: malformed, truncated and random protocol messages in
//!   every connection state, from a seeded generator.
//! - `tls.rs`: the same against a TLS-enabled node, plus handshake
//!   garbage, a truncated ClientHello and plain text on the TLS port.
//!
//! `STEMEDB_FUZZ_SECS` sets how long the random protocol phase runs
//! (default 15 s; `make fuzz` runs 10 minutes against the release binary),
//! `STEMEDB_FUZZ_SEED` replays a run (the seed is printed first).

mod protocol;
mod sql;
mod tls;

use std::time::{Duration, Instant};

use crate::support::TestServer;

/// Resident memory of a process, in MiB (Linux `VmRSS`).
pub fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// The server after a case: still running, still serving a new
/// connection and the bystander, memory bounded.
pub async fn assert_healthy(
    server: &mut TestServer,
    bystander: &tokio_postgres::Client,
    start_rss: u64,
    case: &str,
) {
    if let Ok(Some(status)) = server.child.try_wait() {
        panic!("the server exited ({status}) after case {case}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let fresh = loop {
        match tokio::time::timeout(
            Duration::from_secs(10),
            crate::support::connect(&server.conn_str()),
        )
        .await
        {
            Ok(Ok(c)) => break c,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            Ok(Err(e)) => panic!(
                "no new connection after case {case}: {}",
                crate::support::describe_error(&e)
            ),
            Err(_) => panic!("no new connection after case {case}: connecting timed out"),
        }
    };
    let one: i32 = fresh.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1, "after case {case}");
    let n = crate::support::count_assertions(bystander).await;
    assert!(n >= 1, "the bystander's claim is gone after case {case}");
    let rss = rss_mib(server.child.id());
    assert!(
        rss < start_rss + 1024,
        "RSS {rss} MiB after case {case}, started at {start_rss} MiB"
    );
}

/// The well-behaved connection every case must leave working, with the
/// claim it wrote first.
async fn bystander(server: &TestServer) -> tokio_postgres::Client {
    let bystander = server.connect().await;
    bystander
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source) VALUES ('s0', 'p', 'kept', 'src')",
        )
        .await
        .unwrap();
    bystander
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_never_take_the_server_down() {
    // Few connection slots, so that a slot leaked by a connection that
    // ended badly shows up as 53300 within a short run.
    let mut server = TestServer::start_with(&[("STEMEDB_MAX_CONNECTIONS", "40")]);
    let bystander = bystander(&server).await;
    let start_rss = rss_mib(server.child.id());
    sql::run(&mut server, &bystander, start_rss).await;
    protocol::run(&mut server, &bystander, start_rss).await;
    let kept: String = bystander
        .query_one("SELECT object FROM recency WHERE subject = 's0'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, "kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_never_take_a_tls_node_down() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    let dir = certs.to_str().unwrap();
    crate::support::stemedb_ok(["cert", "create-ca", "--certs-dir", dir]);
    crate::support::stemedb_ok([
        "cert",
        "create-node",
        "--certs-dir",
        dir,
        "node1",
        "127.0.0.1",
    ]);
    let file = |f: &str| certs.join(f).to_str().unwrap().to_string();
    let mut server = TestServer::start_with(&[
        ("STEMEDB_MAX_CONNECTIONS", "40"),
        ("STEMEDB_TLS_CERT", &file("node1.crt")),
        ("STEMEDB_TLS_KEY", &file("node1.key")),
        ("STEMEDB_TLS_CA", &file("ca.crt")),
    ]);
    let bystander = bystander(&server).await;
    let start_rss = rss_mib(server.child.id());
    tls::run(&mut server, &bystander, start_rss, &certs.join("ca.crt")).await;
}
