//! HAProxy in front of a real three-node cluster, with the config in
//! deploy/haproxy (its addresses and ports moved to this test's): clients'
//! connections land on all three nodes, and keep working while one node is
//! killed (the health check on `/ready` takes it out).

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::cluster::*;
use crate::support::{TestServer, free_port};

pub struct Haproxy(Child);

impl Haproxy {
    /// HAProxy running `config` (written to `dir/haproxy.cfg`).
    pub fn run(dir: &std::path::Path, config: &str) -> Haproxy {
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config).unwrap();
        Haproxy(
            Command::new("haproxy")
                .arg("-db")
                .arg("-f")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("haproxy runs"),
        )
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// deploy/haproxy/haproxy.cfg with the frontend on `front` and each
/// `server nodeN` line pointing at node N's SQL and HTTP ports.
fn config(front: u16, nodes: &[TestServer]) -> String {
    let shipped = include_str!("../../deploy/haproxy/haproxy.cfg");
    assert!(shipped.contains("bind :5432"));
    let mut servers = 0;
    let lines: Vec<String> = shipped
        .lines()
        .map(|line| {
            if line.contains("bind :5432") {
                return line.replace("bind :5432", &format!("bind 127.0.0.1:{front}"));
            }
            for (i, node) in nodes.iter().enumerate() {
                let n = i + 1;
                let shipped_server = format!("server node{n} 127.0.0.{n}:18180 check port 18181");
                if line.contains(&shipped_server) {
                    servers += 1;
                    return line.replace(
                        &shipped_server,
                        &format!(
                            "server node{n} {}:{} check port {}",
                            node.ip, node.port, node.http_port
                        ),
                    );
                }
            }
            line.to_string()
        })
        .collect();
    assert_eq!(servers, 3, "the shipped config names the three local nodes");
    lines.join("\n") + "\n"
}

/// The node a new connection through HAProxy lands on, if it connects.
async fn landing(front: u16) -> Option<String> {
    let conn = format!("host=127.0.0.1 port={front} user=stemedb dbname=stemedb connect_timeout=3");
    let client = crate::support::connect(&conn).await.ok()?;
    let row = client
        .query_one("SELECT id FROM stemedb.cluster_members WHERE is_self", &[])
        .await
        .ok()?;
    Some(row.get(0))
}

/// HAProxy with the shipped config in front of `nodes`, once it listens;
/// and its port.
pub fn start_haproxy(dir: &std::path::Path, nodes: &[TestServer]) -> (u16, Haproxy) {
    let front = free_port();
    let haproxy = Haproxy::run(dir, &config(front, nodes));
    let listening = wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", front)).is_ok()
    });
    assert!(listening, "HAProxy did not listen");
    (front, haproxy)
}

/// The statements a node has run, from its `/metrics`.
fn statements(node: &TestServer) -> f64 {
    crate::support::metric_sum(&node.http("/metrics").1, "stemedb_statements_total")
}

#[tokio::test(flavor = "multi_thread")]
async fn haproxy_spreads_clients_over_the_cluster_and_survives_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = three_nodes(tmp.path(), ClusterPorts::free());
    let (front, _haproxy) = start_haproxy(tmp.path(), &nodes);

    // Held connections, opened one after another: leastconn gives each
    // node its share, and each node counts their statements.
    let mut held = Vec::new();
    let conn = format!("host=127.0.0.1 port={front} user=stemedb dbname=stemedb");
    let mut connected = false;
    for _ in 0..100 {
        if let Ok(c) = crate::support::connect(&conn).await {
            held.push(c);
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(connected, "HAProxy did not accept connections");
    for _ in 0..8 {
        held.push(
            crate::support::connect(&conn)
                .await
                .expect("connect through HAProxy"),
        );
    }
    let mut on = Vec::new();
    for c in &held {
        let row = c
            .query_one("SELECT id FROM stemedb.cluster_members WHERE is_self", &[])
            .await
            .unwrap();
        on.push(row.get::<_, String>(0));
    }
    let nodes_used: HashSet<&str> = on.iter().map(String::as_str).collect();
    assert_eq!(nodes_used.len(), 3, "connections landed on {on:?}");
    for node in &nodes {
        let ran = statements(node);
        assert!(ran >= 3.0, "{} ran {ran} statements", node.ip);
    }

    // kill -9 node2: connections to the others keep working, and within
    // the health check's detection time every new connection lands on a
    // live node.
    nodes[1].kill9();
    for (c, node) in held.iter().zip(&on) {
        if node != "node2" {
            c.query_one("SELECT count(*) FROM recency", &[])
                .await
                .expect("a connection to a live node keeps working");
        }
    }
    let mut streak = Vec::new();
    let steady = wait_for(Duration::from_secs(30), || {
        let landed = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(landing(front))
        });
        match landed {
            Some(node) => streak.push(node),
            None => streak.clear(),
        }
        streak.len() >= 20
    });
    assert!(steady, "new connections kept failing: {streak:?}");
    assert!(!streak.iter().any(|n| n == "node2"), "{streak:?}");
    let live: HashSet<&str> = streak.iter().map(String::as_str).collect();
    assert_eq!(live, HashSet::from(["node1", "node3"]), "{streak:?}");
}

/// The node a transaction through `client` runs on.
async fn transaction_on(client: &tokio_postgres::Client) -> Result<String, tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let row = client
        .query_one("SELECT id FROM stemedb.cluster_members WHERE is_self", &[])
        .await?;
    client.batch_execute("COMMIT").await?;
    Ok(row.get(0))
}

#[tokio::test(flavor = "multi_thread")]
async fn pgbouncer_through_haproxy_spreads_transactions_and_survives_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let password = [("STEMEDB_PASSWORD", "change-me")];
    let mut nodes = three_nodes_with(tmp.path(), ClusterPorts::free(), &password);
    let (front, _haproxy) = start_haproxy(tmp.path(), &nodes);
    let bouncer = crate::support::pgbouncer::Pgbouncer::start(nodes[0].port, front);
    let mut clients = Vec::new();
    for _ in 0..9 {
        clients.push(bouncer.connect("stemedb_cluster").await);
    }
    // Nine transactions open at once hold nine server connections, which
    // HAProxy spreads over the three nodes.
    for c in &clients {
        c.batch_execute("BEGIN")
            .await
            .expect("BEGIN through pgbouncer");
    }
    let mut on = Vec::new();
    for c in &clients {
        let row = c
            .query_one("SELECT id FROM stemedb.cluster_members WHERE is_self", &[])
            .await
            .expect("a query through pgbouncer and HAProxy");
        on.push(row.get::<_, String>(0));
    }
    for c in &clients {
        c.batch_execute("COMMIT").await.unwrap();
    }
    let used: HashSet<&str> = on.iter().map(String::as_str).collect();
    assert_eq!(used.len(), 3, "transactions ran on {on:?}");
    for node in &nodes {
        let ran = statements(node);
        assert!(ran >= 3.0, "{} ran {ran} statements", node.ip);
    }

    // kill -9 node3: a transaction whose server connection was on it
    // fails once; pgbouncer opens new ones through HAProxy, which sends
    // them to the live nodes — 20 transactions in a row succeed, none on
    // node3.
    nodes[2].kill9();
    let client = &clients[0];
    let mut streak = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while streak.len() < 20 && std::time::Instant::now() < deadline {
        match transaction_on(client).await {
            Ok(node) => streak.push(node),
            Err(_) => {
                streak.clear();
                let _ = client.batch_execute("ROLLBACK").await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(streak.len(), 20, "transactions kept failing: {streak:?}");
    assert!(!streak.iter().any(|n| n == "node3"), "{streak:?}");
}
