//! A rolling upgrade of a running three-node cluster under load, as
//! docs/deploy.md ("Rolling upgrade") says to do it: one node at a time,
//! SIGTERM, start the new binary on the same data dir and ports, wait
//! until every member shows it `UP` and it says `READY`, then the next.
//! The new binary is this build speaking the next protocol version
//! (`STEMEDB_TEST_PROTOCOL`, crate::cluster::protocol). Eight psycopg
//! writers go through HAProxy meanwhile (tests/clients/upgrade_writers.py):
//! no acknowledged write is lost, every error a client saw carries a
//! SQLSTATE, and each writer's last write succeeded. Then a node two
//! versions ahead is refused by the others, with the reason in their logs.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::TestServer;
use crate::support::cluster::*;

const NEXT: &str = "2";

fn everyone_up(nodes: &[TestServer]) -> bool {
    let all = listing(&[("node1", "UP"), ("node2", "UP"), ("node3", "UP")]);
    nodes
        .iter()
        .all(|n| members(n) == all && node_state(n) == "READY")
}

/// The writers' claims a node answers with.
async fn written(node: &TestServer) -> BTreeSet<String> {
    crate::support::faults::written(node).await.0
}

/// Waits until the writers have `more` further claims on `node`.
async fn progress(node: &TestServer, more: usize) {
    let target = written(node).await.len() + more;
    for _ in 0..600 {
        if written(node).await.len() >= target {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("writes stalled on {}", node.ip);
}

fn restart(node: &mut TestServer, n: u8, ports: ClusterPorts, protocol: &str) -> TestServer {
    let mut env = node_env(n, ports, None);
    env.push(("STEMEDB_TEST_PROTOCOL".into(), protocol.into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    node.restart_with(&env).expect("the upgraded node starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_upgrade_under_writes_through_haproxy_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let mut nodes = three_nodes(tmp.path(), ports);
    let (front, _haproxy) = crate::balancer::start_haproxy(tmp.path(), &nodes);
    let stop = tmp.path().join("stop");
    let writers = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/upgrade_writers.py"))
        .arg(format!(
            "host=127.0.0.1 port={front} user=stemedb dbname=stemedb"
        ))
        .arg(&stop)
        .arg("upgrade")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (make test installs psycopg)");
    progress(&nodes[0], 200).await;

    for i in 0..3 {
        let n = i as u8 + 1;
        assert!(nodes[i].terminate().success(), "node{n} did not drain");
        nodes[i] = restart(&mut nodes[i], n, ports, NEXT);
        assert!(
            wait_for(Duration::from_secs(30), || everyone_up(&nodes)),
            "after upgrading node{n}: {}",
            nodes.iter().map(members).collect::<Vec<_>>().join(" | ")
        );
        progress(&nodes[(i + 1) % 3], 200).await;
    }

    std::fs::write(&stop, "").unwrap();
    let out = writers.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let set = |key: &str| -> BTreeSet<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let (acked, attempted) = (set("acked"), set("attempted"));
    let errors = report["errors"].as_array().unwrap();
    eprintln!(
        "rolling upgrade: {} acknowledged, {} errors: {errors:?}",
        acked.len(),
        errors.len()
    );
    assert!(acked.len() >= 800, "{} acknowledged", acked.len());
    let unclean: Vec<_> = errors.iter().filter(|e| e[1].is_null()).collect();
    assert!(unclean.is_empty(), "errors without a SQLSTATE: {unclean:?}");
    assert_eq!(report["stuck"], 0, "a writer's last write failed");

    // Every node answers with every acknowledged write (and nothing never
    // written) once anti-entropy has run.
    for node in &nodes {
        let mut present = BTreeSet::new();
        for _ in 0..300 {
            present = written(node).await;
            if acked.is_subset(&present) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let lost: Vec<_> = acked.difference(&present).take(5).collect();
        assert!(lost.is_empty(), "{} lost {lost:?}", node.ip);
        assert!(
            present.is_subset(&attempted),
            "{} has claims never written",
            node.ip
        );
    }
    for node in &nodes {
        assert!(node.log_lines("refused a peer").is_empty(), "{}", node.ip);
    }

    // Two versions ahead of the others: refused, and said why.
    assert!(nodes[2].terminate().success());
    nodes[2] = restart(&mut nodes[2], 3, ports, "4");
    let said = || {
        !nodes[0]
            .log_lines("refused a peer that speaks node-to-node protocol 4; this node speaks 2")
            .is_empty()
    };
    assert!(
        wait_for(Duration::from_secs(20), said),
        "node1 never said why"
    );
    assert_ne!(node_state(&nodes[2]), "READY");
}
