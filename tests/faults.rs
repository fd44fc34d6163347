//! The fault harness (issue 12): real three-node clusters, eight clients
//! writing throughout, one fault per scenario; afterwards every
//! acknowledged write is on every owner, nothing unwritten appears, all
//! nodes answer alike and all owner-pair roots are equal
//! ([`support::faults`]). Each scenario prints writes attempted,
//! acknowledged, refused (25006), unknown and lost (always 0).

mod support;

use std::path::Path;
use std::time::Duration;

use support::TestServer;
use support::cluster::*;
use support::faults::Load;

/// One cluster at a time: each takes the machine's two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SOON: Duration = Duration::from_secs(60);

fn env(n: u8, ports: ClusterPorts) -> Vec<(String, String)> {
    let mut env = node_env(n, ports, None);
    env.push(("STEMEDB_REPLICATION__SYNC_INTERVAL".into(), "2s".into()));
    env
}

fn cluster(dir: &Path, ports: ClusterPorts) -> Vec<TestServer> {
    (1..=3u8)
        .map(|n| start_node(&dir.join(format!("node{n}")), n, &env(n, ports)))
        .collect()
}

fn restart(nodes: &mut [TestServer], i: usize, dir: &Path, ports: ClusterPorts) {
    let n = i as u8 + 1;
    nodes[i] = start_node(&dir.join(format!("node{n}")), n, &env(n, ports));
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_and_restart_each_node_in_turn() {
    let _one = ONE_AT_A_TIME.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let mut nodes = cluster(tmp.path(), ports);
    let load = Load::start("kill", &nodes);
    load.progress(300, SOON).await;
    for i in 0..3 {
        nodes[i].kill9();
        load.progress(300, SOON).await;
        restart(&mut nodes, i, tmp.path(), ports);
        load.nodes_changed(&nodes);
        load.progress(300, SOON).await;
    }
    let report = load.check(&nodes).await;
    assert!(report.acknowledged >= 2100, "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_node_thaws() {
    let _one = ONE_AT_A_TIME.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let nodes = cluster(tmp.path(), ports);
    let load = Load::start("freeze", &nodes);
    load.progress(300, SOON).await;
    let pid = nodes[1].child.id().to_string();
    let signal = |s: &str| {
        let ok = std::process::Command::new("kill")
            .args([s, &pid])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {s}");
    };
    signal("-STOP");
    // Writes go on around the frozen node (its share to hints).
    load.progress(300, SOON).await;
    signal("-CONT");
    load.progress(300, SOON).await;
    let report = load.check(&nodes).await;
    assert!(report.acknowledged >= 900, "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_dir_replaced_by_an_older_copy() {
    let _one = ONE_AT_A_TIME.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let mut nodes = cluster(tmp.path(), ports);
    let load = Load::start("old", &nodes);
    load.progress(300, SOON).await;
    let (dir, old) = (tmp.path().join("node3"), tmp.path().join("node3.old"));
    // A copy taken while node3 is stopped…
    assert!(nodes[2].terminate().success());
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .args([&dir, &old])
        .status()
        .unwrap();
    assert!(copied.success());
    restart(&mut nodes, 2, tmp.path(), ports);
    load.nodes_changed(&nodes);
    // …goes stale while node3 takes its share…
    load.progress(600, SOON).await;
    // …and replaces its data dir: what it took since is gone from it.
    assert!(nodes[2].terminate().success());
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::rename(&old, &dir).unwrap();
    restart(&mut nodes, 2, tmp.path(), ports);
    load.nodes_changed(&nodes);
    load.progress(300, SOON).await;
    let report = load.check(&nodes).await;
    assert!(report.acknowledged >= 1200, "{report:?}");
}
