//! Changing a running cluster's members (issue 12): a fourth node joins
//! and an old one is removed while eight clients write and a reader checks
//! on every node that each acknowledged write is there; afterwards the
//! fault harness's checks hold ([`crate::support::faults`]) and every claim is on
//! exactly two of the three remaining nodes.

use std::time::Duration;

use crate::support::TestServer;
use crate::support::cluster::*;
use crate::support::faults::Load;

const SOON: Duration = Duration::from_secs(60);

fn env(n: u8, ports: ClusterPorts) -> Vec<(String, String)> {
    let mut env = node_env(n, ports, None);
    env.push(("STEMEDB_REPLICATION__SYNC_INTERVAL".into(), "2s".into()));
    env
}

async fn change(node: &TestServer, sql: &str) -> String {
    let client = node.connect().await;
    let row = tokio::time::timeout(Duration::from_secs(120), client.query_one(sql, &[]))
        .await
        .expect("the change ends within 120 s")
        .unwrap_or_else(|e| panic!("{sql}: {}", crate::support::describe_error(&e)));
    row.get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fourth_node_joins_and_an_old_one_leaves_under_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let mut nodes: Vec<TestServer> = (1..=3u8)
        .map(|n| start_node(&tmp.path().join(format!("node{n}")), n, &env(n, ports)))
        .collect();
    wait_ready(&nodes);
    let mut load = Load::start("members", &nodes);
    load.watch_reads();
    // Enough claims that copying them takes a while.
    load.progress(3000, SOON).await;

    // A new node holds nothing and is not a member until it is added.
    let node4 = start_node(&tmp.path().join("node4"), 4, &env(4, ports));
    assert!(wait_for(SOON, || node4.http("/ready").0 == 200));
    let refused = node4
        .connect()
        .await
        .query_one("SELECT stemedb_add_member('node9')", &[])
        .await
        .unwrap_err();
    assert_eq!(
        refused.code().map(|c| c.code()),
        Some("55000"),
        "{refused:?}"
    );
    assert_eq!(gauge(&node4, "stemedb_assertions_stored"), 0.0);
    nodes.push(node4);
    load.nodes_changed(&nodes);
    load.progress(200, SOON).await;

    let reads = load.reads();
    let added = change(&nodes[0], "SELECT stemedb_add_member('node4')").await;
    let reads_while_adding = load.reads() - reads;
    eprintln!("{added}; {reads_while_adding} whole reads meanwhile");
    assert!(
        added.starts_with("members now node1, node2, node3, node4:"),
        "{added}"
    );
    assert!(gauge(&nodes[3], "stemedb_assertions_stored") > 0.0);
    load.progress(300, SOON).await;

    // The operator's command (`SELECT stemedb_remove_member('node2')`).
    let reads = load.reads();
    let conn = nodes[2].conn_str();
    let removed = tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(crate::support::BINARY.as_str())
            .args(["cluster", "remove", "node2", "--connect", &conn])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap();
    let reads_while_removing = load.reads() - reads;
    eprintln!("{removed}; {reads_while_removing} whole reads meanwhile");
    assert!(
        removed.starts_with("members now node1, node3, node4:"),
        "{removed}"
    );
    let mut node2 = nodes.remove(1);
    load.nodes_changed(&nodes);
    assert_eq!(
        gauge(&node2, "stemedb_assertions_stored"),
        0.0,
        "node2 still holds claims"
    );
    node2.terminate();
    load.progress(300, SOON).await;

    let report = load.check(&nodes).await;
    assert!(report.acknowledged >= 1100, "{report:?}");
    assert!(
        reads_while_adding > 0 && reads_while_removing > 0,
        "no read during a change: {reads_while_adding} / {reads_while_removing}"
    );
}
