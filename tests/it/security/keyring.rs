//! The cluster keyring: a node sharing no secret never joins, and the
//! rotation runbook runs under writes.

use std::path::Path;
use std::time::Duration;

use crate::support::TestServer;
use crate::support::cluster::{ClusterPorts, listing, members, node_env, start_node, wait_for};

/// `env` with node1 as the only seed (a node joining a running cluster).
fn seeded_by_node1(env: &mut Vec<(String, String)>, ports: ClusterPorts) {
    env.retain(|(k, _)| k != "STEMEDB_CLUSTER__SEEDS");
    env.push((
        "STEMEDB_CLUSTER__SEEDS".into(),
        format!("[\"127.0.0.1:{}\"]", ports.swim),
    ));
}

#[test]
fn a_node_with_no_secret_of_the_keyring_never_joins() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let mut env = node_env(1, ports, None);
    env.push(("STEMEDB_CLUSTER__SECRETS".into(), "[\"k1\", \"k2\"]".into()));
    let one = start_node(&tmp.path().join("node1"), 1, &env);
    let mut env = node_env(2, ports, Some("other"));
    seeded_by_node1(&mut env, ports);
    let two = start_node(&tmp.path().join("node2"), 2, &env);
    let refused = "no secret of this node's keyring opens";
    assert!(
        wait_for(Duration::from_secs(15), || !one
            .log_lines(refused)
            .is_empty()),
        "node1 logged no refusal"
    );
    assert!(members(&one).contains("\"node1\""));
    assert!(!members(&one).contains("node2"), "{}", members(&one));
    assert!(!members(&two).contains("node1"), "{}", members(&two));
    // A node in the middle of a rotation — sealing with node1's second
    // secret, still taking its first — joins.
    let mut env = node_env(3, ports, None);
    env.push(("STEMEDB_CLUSTER__SECRETS".into(), "[\"k2\", \"k1\"]".into()));
    seeded_by_node1(&mut env, ports);
    let three = start_node(&tmp.path().join("node3"), 3, &env);
    assert!(
        wait_for(Duration::from_secs(15), || members(&one).contains("node3")
            && members(&three).contains("node1")),
        "{} / {}",
        members(&one),
        members(&three)
    );
}

/// Node `n`'s configuration file holding the keyring `secrets`.
fn keyring_file(dir: &Path, n: u8, secrets: &[&str]) -> std::path::PathBuf {
    let file = dir.join(format!("node{n}.toml"));
    let listed: Vec<String> = secrets.iter().map(|s| format!("{s:?}")).collect();
    std::fs::write(
        &file,
        format!("[cluster]\nsecrets = [{}]\n", listed.join(", ")),
    )
    .unwrap();
    file
}

/// The rotation runbook of docs/operations.md, step by step on every node
/// in turn, with `SELECT stemedb_reload_config()`, under eight writers.
#[tokio::test(flavor = "multi_thread")]
async fn the_keyring_rotates_online_under_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let nodes: Vec<TestServer> = (1..=3u8)
        .map(|n| {
            let file = keyring_file(tmp.path(), n, &["k1"]);
            let mut env = node_env(n, ports, None);
            env.push(("STEMEDB_REPLICATION__SYNC_INTERVAL".into(), "2s".into()));
            env.push((
                crate::support::CONFIG_FILE.into(),
                file.to_str().unwrap().into(),
            ));
            start_node(&tmp.path().join(format!("node{n}")), n, &env)
        })
        .collect();
    crate::support::cluster::wait_ready(&nodes);
    let load = crate::support::faults::Load::start("rotate", &nodes);
    load.progress(200, Duration::from_secs(60)).await;
    let steps: [&[&str]; 3] = [&["k1", "k2"], &["k2", "k1"], &["k2"]];
    for secrets in steps {
        for (i, node) in nodes.iter().enumerate() {
            keyring_file(tmp.path(), i as u8 + 1, secrets);
            let report: String = node
                .connect()
                .await
                .query_one("SELECT stemedb_reload_config()", &[])
                .await
                .unwrap()
                .get(0);
            assert!(
                report.contains(&format!("cluster keyring ({} secrets)", secrets.len())),
                "{report}"
            );
            load.progress(100, Duration::from_secs(60)).await;
        }
    }
    let everyone = listing(&[("node1", "UP"), ("node2", "UP"), ("node3", "UP")]);
    for node in &nodes {
        assert_eq!(members(node), everyone);
    }
    let report = load.check(&nodes).await;
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(
        report.refused, 0,
        "a write was refused while rotating: {report:?}"
    );
    // The old secret is gone: a node holding only it is refused.
    let mut env = node_env(4, ports, Some("k1"));
    seeded_by_node1(&mut env, ports);
    let old = start_node(&tmp.path().join("node4"), 4, &env);
    assert!(
        wait_for(Duration::from_secs(15), || !nodes[0]
            .log_lines("no secret of this node's keyring opens")
            .is_empty()),
        "a node with the retired secret was not refused"
    );
    assert!(!members(&nodes[0]).contains("node4"));
    drop(old);
}
