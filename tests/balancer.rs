//! HAProxy in front of a real three-node cluster, with the config in
//! deploy/haproxy (its addresses and ports moved to this test's): clients'
//! connections land on all three nodes, and keep working while one node is
//! killed (the health check on `/ready` takes it out).

mod support;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::cluster::*;
use support::{TestServer, free_port};

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// deploy/haproxy/haproxy.cfg with the frontend on `front` and each
/// `server nodeN` line pointing at node N's SQL and HTTP ports.
fn config(front: u16, nodes: &[TestServer]) -> String {
    let shipped = include_str!("../deploy/haproxy/haproxy.cfg");
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
    let client = support::connect(&conn).await.ok()?;
    let row = client
        .query_one("SELECT id FROM stemedb.cluster_members WHERE is_self", &[])
        .await
        .ok()?;
    Some(row.get(0))
}

#[tokio::test(flavor = "multi_thread")]
async fn haproxy_spreads_clients_over_the_cluster_and_survives_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = three_nodes(tmp.path(), ClusterPorts::free());
    let front = free_port();
    let cfg = tmp.path().join("haproxy.cfg");
    std::fs::write(&cfg, config(front, &nodes)).unwrap();
    let _haproxy = Haproxy(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy runs"),
    );

    // Held connections, opened one after another: leastconn gives each
    // node its share, and each node counts their statements.
    let mut held = Vec::new();
    let conn = format!("host=127.0.0.1 port={front} user=stemedb dbname=stemedb");
    let mut connected = false;
    for _ in 0..100 {
        if let Ok(c) = support::connect(&conn).await {
            held.push(c);
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(connected, "HAProxy did not accept connections");
    for _ in 0..8 {
        held.push(
            support::connect(&conn)
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
        let metrics = node.http("/metrics").1;
        let statements: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("stemedb_statements_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(statements >= 3.0, "{} ran {statements} statements", node.ip);
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
