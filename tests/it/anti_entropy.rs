//! Merkle anti-entropy between real nodes: a node whose data dir is wiped
//! gets its whole share back from its peers, with no operator step, and
//! `stemedb.replication` shows the repair and then the replicas in sync.

use std::time::{Duration, Instant};

use crate::support::cluster::*;
use crate::support::text_rows as rows;
use tokio_postgres::Client;

const CLAIMS: usize = 3000;

/// What every node must answer alike.
async fn answers(client: &Client) -> Vec<Vec<Option<String>>> {
    let mut out = rows(
        client,
        "SELECT subject, predicate, object, claims FROM recency ORDER BY subject, predicate",
    )
    .await;
    out.extend(rows(client, "SELECT count(*) FROM retractions").await);
    out
}

/// 3 000 claims over 1 000 subjects, and retractions of some.
async fn write_claims(client: &Client) {
    let values: Vec<String> = (0..CLAIMS)
        .map(|i| {
            format!(
                "('s{}', 'p{}', 'o{}', 'src', {}, 0.5)",
                i % 1000,
                i % 3,
                i % 7,
                i % 4
            )
        })
        .collect();
    for chunk in values.chunks(500) {
        client
            .batch_execute(&format!(
                "INSERT INTO assertions (subject, predicate, object, source, tier, confidence) \
                 VALUES {}",
                chunk.join(", ")
            ))
            .await
            .unwrap();
    }
    client
        .batch_execute(
            "INSERT INTO retractions (assertion_id, reason) SELECT id, 'wrong' \
             FROM assertions WHERE object = 'o3' AND predicate = 'p1'",
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wiped_node_gets_its_share_back_from_its_peers() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let env = |n| {
        let mut env = node_env(n, ports, None);
        env.push(("STEMEDB_REPLICATION__SYNC_INTERVAL".into(), "1s".into()));
        env
    };
    let dir = |n: u8| tmp.path().join(format!("node{n}"));
    let mut nodes: Vec<_> = (1..=3).map(|n| start_node(&dir(n), n, &env(n))).collect();
    wait_ready(&nodes);
    let client = nodes[0].connect().await;
    write_claims(&client).await;
    let expected = answers(&client).await;
    let retracted: usize = expected.last().unwrap()[0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retracted > 50, "{retracted} retractions");
    assert_eq!(stored(&nodes), 2.0 * CLAIMS as f64);

    // On demand, an exchange finds every replica in sync, comparing one
    // root each way (once every node has built its Merkle trees, which a
    // node does in the background after it starts).
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let report = rows(&client, "SELECT stemedb_sync()").await[0][0]
            .clone()
            .unwrap();
        if !report.contains("Merkle trees are not built yet") || Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for peer in ["node2", "node3"] {
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("{peer}: in sync (")))
            .unwrap_or_else(|| panic!("{peer} not in sync: {report}"));
        let bytes: usize = line.split(['(', ' ']).nth(4).unwrap().parse().unwrap();
        assert!(bytes < 1024, "{line}");
    }
    eprintln!("{report}");

    // node3 loses its disk and comes back empty.
    assert!(nodes[2].terminate().success());
    std::fs::remove_dir_all(dir(3)).unwrap();
    let wiped = Instant::now();
    nodes[2] = start_node(&dir(3), 3, &env(3));
    let whole = || stored(&nodes) == 2.0 * CLAIMS as f64;
    assert!(
        wait_for(Duration::from_secs(60), whole),
        "{} of {} claims stored after 60 s",
        stored(&nodes),
        2 * CLAIMS
    );
    eprintln!("node3's share back in {:?}", wiped.elapsed());

    // Its answers, retractions included, are the cluster's again.
    let third = nodes[2].connect().await;
    let settled = || async { answers(&third).await == expected };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !settled().await {
        assert!(Instant::now() < deadline, "node3 answers differ after 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Its peers report what they repaired, then the replicas in sync.
    let state = "SELECT bool_and(in_sync), sum(repaired), count(last_sync_at) \
                 FROM stemedb.replication WHERE peer = 'node3'";
    let deadline = Instant::now() + Duration::from_secs(30);
    let repaired = loop {
        let (mut all, mut repaired) = (true, 0);
        for node in &nodes[..2] {
            let got = rows(&node.connect().await, state).await;
            all &= got[0][0].as_deref() == Some("t") && got[0][2].as_deref() == Some("1");
            repaired += got[0][1].as_deref().unwrap_or("0").parse::<i64>().unwrap();
        }
        if all {
            break repaired;
        }
        assert!(
            Instant::now() < deadline,
            "node1 and node2 never saw node3 in sync"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Every node shows every peer's state, including the peers whose
    // rounds it did not start (scheduled rounds run from the lower id).
    let deadline = Instant::now() + Duration::from_secs(30);
    for node in &nodes {
        let seen = "SELECT count(in_sync) FROM stemedb.replication";
        while rows(&node.connect().await, seen).await[0][0].as_deref() != Some("2") {
            assert!(
                Instant::now() < deadline,
                "{} shows a peer's in_sync NULL",
                node.ip
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    // node3 may have pulled its share itself; then its peers repaired
    // nothing, and node3 reports it.
    let own = rows(
        &third,
        "SELECT sum(repaired), bool_and(in_sync) FROM stemedb.replication",
    )
    .await;
    let own_repaired: i64 = own[0][0].as_deref().unwrap().parse().unwrap();
    let share = gauge(&nodes[2], "stemedb_assertions_stored") as i64;
    assert!(share > CLAIMS as i64 / 3, "node3 holds {share}");
    assert!(
        repaired + own_repaired >= share,
        "repaired {repaired} + {own_repaired} of node3's {share} claims"
    );
    // The operator's command says the same.
    let out = std::process::Command::new(&*crate::support::BINARY)
        .args(["cluster", "sync", "--connect"])
        .arg(nodes[2].conn_str())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed} {out:?}");
    for peer in ["node1", "node2"] {
        assert!(printed.contains(&format!("{peer}: in sync")), "{printed}");
    }
    for (i, node) in nodes.iter_mut().enumerate() {
        assert!(node.terminate().success());
        crate::support::verify_ok(&dir(i as u8 + 1), "after anti-entropy");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_node_with_data_becomes_a_three_node_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: u8| tmp.path().join(format!("node{n}"));
    // docs/deploy.md, "From a single node to a cluster": the single node
    // (a generated name) restarted with node1's cluster configuration, two
    // new nodes, `stemedb cluster sync` until both peers are in sync.
    let mut single = crate::support::TestServer::start_in(&dir(1), &[]).unwrap();
    let client = single.connect().await;
    write_claims(&client).await;
    let mut expected = answers(&client).await;
    assert!(!single.http("/health").1.contains("\"node1\""));
    assert!(single.terminate().success());

    let ports = ClusterPorts::free();
    let env = |n: u8| {
        let mut env = node_env(n, ports, None);
        env.push(("STEMEDB_REPLICATION__SYNC_INTERVAL".into(), "1s".into()));
        env
    };
    let mut nodes: Vec<_> = (1..=3).map(|n| start_node(&dir(n), n, &env(n))).collect();
    // Once node1 says READY with all three UP, a write through it is taken
    // at once (members used to be shown UP while writes were refused).
    let all_ready = || {
        members(&nodes[0]) == listing(&[("node1", "UP"), ("node2", "UP"), ("node3", "UP")])
            && node_state(&nodes[0]) == "READY"
    };
    assert!(
        wait_for(Duration::from_secs(30), all_ready),
        "{}",
        members(&nodes[0])
    );
    nodes[0]
        .connect()
        .await
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source) \
             VALUES ('zz-probe', 'p', 'o', 'src')",
        )
        .await
        .expect("a write once READY");
    let last = expected.len() - 1;
    expected.insert(
        last,
        ["zz-probe", "p", "o", "1"]
            .map(|v| Some(v.to_string()))
            .to_vec(),
    );
    wait_ready(&nodes);
    // The probe went to its owners: node1 counts the bytes it sent, by peer.
    let metrics = nodes[0].http("/metrics").1;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("stemedb_replication_bytes_total{")
                && l.contains("direction=\"sent\"")
                && l.contains("peer=\"127.0.0."))
            && crate::support::metric_sum(&metrics, "stemedb_replication_bytes_total") > 0.0,
        "{metrics}"
    );
    // It kept its data and took the configured name.
    assert!(nodes[0].http("/health").1.contains("\"node\":\"node1\""));
    assert!(
        !nodes[0]
            .log_lines("is node \"node1\" from now on")
            .is_empty()
    );
    let in_sync = || {
        let out = std::process::Command::new(&*crate::support::BINARY)
            .args(["cluster", "sync", "--connect"])
            .arg(nodes[0].conn_str())
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success()
            && ["node2", "node3"]
                .iter()
                .all(|p| printed.contains(&format!("{p}: in sync")))
    };
    assert!(
        wait_for(Duration::from_secs(60), in_sync),
        "node1 never in sync"
    );
    let whole = || stored(&nodes) == 2.0 * (CLAIMS + 1) as f64;
    assert!(
        wait_for(Duration::from_secs(60), whole),
        "{} of {} claims stored after 60 s; node1 logged: {:?}",
        stored(&nodes),
        2 * (CLAIMS + 1),
        nodes[0]
            .log
            .lock()
            .unwrap()
            .iter()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
    );
    // Every claim on exactly its two owners, and every node answers as
    // the single node did.
    for node in &nodes {
        let client = node.connect().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while answers(&client).await != expected {
            assert!(Instant::now() < deadline, "{} answers differ", node.ip);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let held = gauge(node, "stemedb_assertions_stored");
        assert!(held > 1000.0 && held < 3000.0, "{} holds {held}", node.ip);
    }
    for (i, node) in nodes.iter_mut().enumerate() {
        assert!(node.terminate().success());
        crate::support::verify_ok(&dir(i as u8 + 1), "after the migration");
    }
}
