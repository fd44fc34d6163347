//! Backups of a three-node cluster (issue 14): each node backs itself up;
//! one node restored from its backup catches up with what was written
//! since through hints and anti-entropy; and the whole cluster restored
//! from the three backups answers as it did when they were taken, with
//! every claim on exactly two nodes.

use std::path::Path;
use std::time::Duration;

use crate::support::TestServer;
use crate::support::answers::as_of;
use crate::support::cluster::*;

fn insert(from: i32, to: i32) -> String {
    format!(
        "INSERT INTO assertions (subject, predicate, object, source) \
         SELECT 's' || (value % 400), 'p' || (value % 3), 'o' || value, 'c' \
         FROM generate_series({from}, {to})"
    )
}

fn restore(url: &str, dir: &Path) {
    let dir = dir.to_str().unwrap();
    crate::support::stemedb_ok(["backup", "restore", "--from", url, "--data-dir", dir]);
}

/// Waits (at most 60 s each) until the nodes hold each of `claims` claims
/// exactly twice and every node answers `want`.
async fn settled(nodes: &[TestServer], claims: f64, want: &[String]) {
    let twice = || stored(nodes) == 2.0 * claims;
    assert!(
        wait_for(Duration::from_secs(60), twice),
        "stored {} for {claims} claims",
        stored(nodes)
    );
    for node in nodes {
        let client = node.connect().await;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while as_of(&client, None).await != want {
            assert!(
                std::time::Instant::now() < deadline,
                "{} answers differ",
                node.ip
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_backs_up_each_node_and_restores_one_or_all() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let dir = |n: u8| tmp.path().join(format!("node{n}"));
    let env = |n: u8| {
        let mut env = node_env(n, ports, None);
        env.push(("STEMEDB_REPLICATION__SYNC_INTERVAL".into(), "1s".into()));
        env
    };
    let mut nodes: Vec<TestServer> = (1..=3).map(|n| start_node(&dir(n), n, &env(n))).collect();
    wait_ready(&nodes);
    let client = nodes[0].connect().await;
    client.batch_execute(&insert(1, 3000)).await.unwrap();
    let backups = tempfile::tempdir().unwrap();
    let url = |n: u8| format!("file://{}/node{n}", backups.path().display());
    for (i, node) in nodes.iter().enumerate() {
        let backup = "SELECT stemedb_backup($1)";
        let url = url(i as u8 + 1);
        node.connect()
            .await
            .query_one(backup, &[&url])
            .await
            .unwrap();
    }
    let at_backup = as_of(&client, None).await;
    assert_eq!(stored(&nodes), 6000.0);

    // node3 loses its disk; written meanwhile: 1 000 more claims.
    assert!(nodes[2].terminate().success());
    std::fs::remove_dir_all(dir(3)).unwrap();
    client.batch_execute(&insert(3001, 4000)).await.unwrap();
    let now = as_of(&client, None).await;
    restore(&url(3), &dir(3));
    nodes[2] = start_node(&dir(3), 3, &env(3));
    settled(&nodes, 4000.0, &now).await;

    // The whole cluster from its three backups: as it was then.
    for node in nodes.iter_mut() {
        assert!(node.terminate().success());
    }
    drop(nodes);
    for n in 1..=3 {
        std::fs::remove_dir_all(dir(n)).unwrap();
        restore(&url(n), &dir(n));
    }
    let nodes: Vec<TestServer> = (1..=3).map(|n| start_node(&dir(n), n, &env(n))).collect();
    wait_ready(&nodes);
    settled(&nodes, 3000.0, &at_backup).await;
}
