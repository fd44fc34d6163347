//! A real three-node cluster: three `stemedb serve` processes gossiping
//! (SWIM over UDP) on 127.0.0.1, .2 and .3, each with its own data dir.

use std::time::Duration;

use crate::support::cluster::*;
use crate::support::{TestServer, describe_error, http_get_at};

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_form_a_cluster_and_track_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    // 1. Every node lists all three UP within 10 s (three_nodes checks).
    let mut nodes = three_nodes(tmp.path(), ports);
    // The SQL view and the metrics agree, and each node is itself.
    for (i, node) in nodes.iter().enumerate() {
        let client = node.connect().await;
        let rows = client
            .query(
                "SELECT id, status, is_self, swim_addr, rpc_addr, sql_addr \
                 FROM stemedb.cluster_members ORDER BY id",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 3);
        for (j, row) in rows.iter().enumerate() {
            let n = j + 1;
            assert_eq!(row.get::<_, String>(0), format!("node{n}"));
            assert_eq!(row.get::<_, String>(1), "UP");
            assert_eq!(row.get::<_, bool>(2), i == j);
            assert_eq!(
                row.get::<_, String>(3),
                format!("127.0.0.{n}:{}", ports.swim)
            );
            assert_eq!(
                row.get::<_, String>(4),
                format!("127.0.0.{n}:{}", ports.rpc)
            );
            let sql = format!("127.0.0.{n}:{}", nodes[j].port);
            assert_eq!(row.get::<_, String>(5), sql);
        }
        assert_eq!(node.http("/ready").0, 200);
        let metrics = node.http("/metrics").1;
        assert!(
            metrics.contains("stemedb_members{status=\"UP\"} 3"),
            "{metrics}"
        );
        assert!(metrics.contains("stemedb_members{status=\"DOWN\"} 0"));
    }
    let insert = |subject: &str| {
        format!(
            "INSERT INTO assertions (subject, predicate, object, source) \
             VALUES ('{subject}', 'p', 'o', 'test')"
        )
    };
    let client = nodes[0].connect().await;
    client
        .execute(&insert("a"), &[])
        .await
        .expect("a write with every member up");

    // A node shut down leaves the cluster: the others see it DOWN at once
    // (no suspicion period) and keep their majority.
    assert!(nodes[2].terminate().success());
    let without_3 = listing(&[("node1", "UP"), ("node2", "UP"), ("node3", "DOWN")]);
    for node in &nodes[..2] {
        assert!(
            wait_for(Duration::from_secs(3), || members(node) == without_3),
            "{}",
            members(node)
        );
        assert_eq!(node.http("/ready").0, 200);
    }

    // kill -9 a second node: the survivor detects it (suspect, then down)
    // and, alone of three, is no longer ready.
    nodes[1].kill9();
    let survivor = (nodes[0].ip.clone(), nodes[0].http_port);
    let ready = || http_get_at(&survivor.0, survivor.1, "/ready");
    assert!(
        wait_for(Duration::from_secs(20), || ready().0 == 503),
        "{}",
        members(&nodes[0])
    );
    assert!(ready().1.contains("NO_QUORUM"));
    // Without a majority it refuses writes, clearly, and keeps reading on
    // the same connection.
    let refused = describe_error(&client.execute(&insert("s"), &[]).await.unwrap_err());
    assert!(refused.starts_with("25006: "), "{refused}");
    assert!(
        refused.contains("node1") && refused.contains("node2 DOWN"),
        "{refused}"
    );
    let copy = client
        .simple_query("COPY assertions (subject, predicate, object, source) FROM STDIN")
        .await;
    assert!(describe_error(&copy.unwrap_err()).starts_with("25006: "));
    let count: i64 = client
        .query_one("SELECT count(*) FROM assertions", &[])
        .await
        .unwrap()
        .get(0);
    // Alone, it reads the subjects it owns (the write made with a majority
    // is there if node1 owns "a"; if not, both its owners are down).
    let ids = ["node1", "node2", "node3"].map(String::from);
    let owned = stemedb::cluster::placement::owners("a", &ids, 2).contains(&"node1");
    assert_eq!(count, owned as i64, "node1 owns \"a\": {owned}");

    // node3 comes back on its data dir: it finds the survivor, which is
    // ready and takes writes again without a restart.
    nodes[2] = start_node(&tmp.path().join("node3"), 3, &node_env(3, ports, None));
    assert!(
        wait_for(Duration::from_secs(10), || ready().0 == 200),
        "{}",
        members(&nodes[0])
    );
    client
        .execute(&insert("s"), &[])
        .await
        .expect("writes resume with a majority");
    let back = listing(&[("node1", "UP"), ("node2", "DOWN"), ("node3", "UP")]);
    assert!(
        wait_for(Duration::from_secs(5), || members(&nodes[2]) == back),
        "{}",
        members(&nodes[2])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_with_another_secret_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let secrets = [Some("right"), Some("right"), Some("wrong")];
    let nodes: Vec<TestServer> = (1..=3u8)
        .map(|n| {
            let env = node_env(n, ports, secrets[n as usize - 1]);
            start_node(&tmp.path().join(format!("node{n}")), n, &env)
        })
        .collect();
    let pair = listing(&[("node1", "UP"), ("node2", "UP")]);
    for node in &nodes[..2] {
        assert!(
            wait_for(Duration::from_secs(10), || members(node) == pair),
            "{}",
            members(node)
        );
    }
    // node3 announced itself at boot: both refused it, and said why.
    for node in &nodes[..2] {
        assert!(
            wait_for(Duration::from_secs(10), || {
                !node
                    .log_lines("no secret of this node's keyring opens")
                    .is_empty()
            }),
            "no refusal logged"
        );
        assert_eq!(members(node), pair);
    }
    assert_eq!(members(&nodes[2]), listing(&[("node3", "UP")]));
    assert_eq!(nodes[2].http("/ready").0, 503);

    // gRPC on rpc_addr takes the same secret, and only it.
    use std::sync::Arc;
    use stemedb::cluster::Peers;
    use stemedb::cluster::keyring::Keyring;
    let keyring = |secret: &str| Arc::new(Keyring::new(&[secret.to_string()]));
    let node2 = format!("127.0.0.2:{}", ports.rpc);
    let from = "127.0.0.3".parse().unwrap();
    let right = Peers::new("test", from, keyring("right"));
    let reply = right
        .hello(&node2)
        .await
        .expect("the cluster's secret is accepted");
    assert_eq!(reply.node_id, "node2");
    assert!(
        reply.seen_from.starts_with("127.0.0.3:"),
        "{}",
        reply.seen_from
    );
    let wrong = Peers::new("node3", from, keyring("wrong"));
    let refused = wrong.hello(&node2).await;
    assert!(refused.is_err());
    assert!(wait_for(Duration::from_secs(5), || {
        !nodes[1]
            .log_lines("refused an RPC not signed with this cluster's secret")
            .is_empty()
    }));
}

#[test]
fn a_cluster_address_off_loopback_needs_a_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let env = [
        ("STEMEDB_CLUSTER__ENABLED", "true"),
        ("STEMEDB_CLUSTER__SWIM_ADDR", &*format!("0.0.0.0:{port}")),
    ];
    let error = TestServer::start_in(&tmp.path().join("data"), &env)
        .err()
        .expect("refused to start");
    assert!(error.contains("without a cluster secret"), "{error}");
}
