//! A real three-node cluster: three `stemedb serve` processes gossiping
//! (SWIM over UDP) on 127.0.0.1, .2 and .3, each with its own data dir.

mod support;

use std::time::{Duration, Instant};

use support::{TestServer, free_port, http_get};

/// A node's settings: node `n` (1–3) on 127.0.0.n, the others as seeds.
fn node_env(n: u8, swim: u16, rpc: u16, secret: Option<&str>) -> Vec<(String, String)> {
    let seeds: Vec<String> = (1..=3).map(|i| format!("\"127.0.0.{i}:{swim}\"")).collect();
    let mut env = vec![
        ("STEMEDB_CLUSTER__ENABLED".into(), "true".into()),
        ("STEMEDB_CLUSTER__NODE_ID".into(), format!("node{n}")),
        (
            "STEMEDB_CLUSTER__SWIM_ADDR".into(),
            format!("127.0.0.{n}:{swim}"),
        ),
        (
            "STEMEDB_CLUSTER__RPC_ADDR".into(),
            format!("127.0.0.{n}:{rpc}"),
        ),
        (
            "STEMEDB_CLUSTER__SEEDS".into(),
            format!("[{}]", seeds.join(",")),
        ),
    ];
    if let Some(secret) = secret {
        env.push(("STEMEDB_CLUSTER__SECRET".into(), secret.into()));
    }
    env
}

fn start_node(dir: &std::path::Path, env: &[(String, String)]) -> TestServer {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_in(dir, &env).expect("node starts")
}

/// Polls `check` until it holds or `limit` passes; the last value.
fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn members(node: &TestServer) -> String {
    http_get(node.http_port, "/cluster/members").1
}

fn all_up(ids: &[&str]) -> String {
    let listed: Vec<String> = ids
        .iter()
        .map(|id| format!("{{\"id\":\"{id}\",\"status\":\"UP\"}}"))
        .collect();
    format!("{{\"members\":[{}]}}\n", listed.join(","))
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_form_a_cluster_and_track_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let (swim, rpc) = (free_port(), free_port());
    let envs: Vec<_> = (1..=3).map(|n| node_env(n, swim, rpc, None)).collect();
    let dir = |n: usize| tmp.path().join(format!("node{n}"));
    let started = Instant::now();
    let mut nodes: Vec<TestServer> = (0..3).map(|i| start_node(&dir(i + 1), &envs[i])).collect();

    // 1. Every node lists all three UP within 10 s.
    let everyone = all_up(&["node1", "node2", "node3"]);
    for node in &nodes {
        assert!(
            wait_for(Duration::from_secs(10), || members(node) == everyone),
            "node on {} sees {}",
            node.http_port,
            members(node)
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10) + Duration::from_secs(5));
    // The SQL view agrees, and each node is itself.
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
            assert_eq!(row.get::<_, String>(3), format!("127.0.0.{n}:{swim}"));
            assert_eq!(row.get::<_, String>(4), format!("127.0.0.{n}:{rpc}"));
            assert_eq!(
                row.get::<_, String>(5),
                format!("127.0.0.1:{}", nodes[j].port)
            );
        }
        assert_eq!(http_get(node.http_port, "/ready").0, 200);
        let metrics = http_get(node.http_port, "/metrics").1;
        assert!(
            metrics.contains("stemedb_members{status=\"UP\"} 3"),
            "{metrics}"
        );
        assert!(metrics.contains("stemedb_members{status=\"DOWN\"} 0"));
    }

    nodes[0]
        .connect()
        .await
        .execute(
            "INSERT INTO assertions (subject, predicate, object, source) \
             VALUES ('a', 'p', 'o', 'test')",
            &[],
        )
        .await
        .expect("a write with every member up");

    // A node shut down leaves the cluster: the others see it DOWN at once
    // (no suspicion period) and keep their majority.
    assert!(nodes[2].terminate().success());
    let without_3 = "{\"members\":[{\"id\":\"node1\",\"status\":\"UP\"},{\"id\":\"node2\",\"status\":\"UP\"},{\"id\":\"node3\",\"status\":\"DOWN\"}]}\n";
    for node in &nodes[..2] {
        assert!(
            wait_for(Duration::from_secs(3), || members(node) == without_3),
            "{}",
            members(node)
        );
        assert_eq!(http_get(node.http_port, "/ready").0, 200);
    }

    // kill -9 a second node: the survivor detects it (suspect, then down)
    // and, alone of three, is no longer ready.
    nodes[1].kill9();
    let survivor = nodes[0].http_port;
    assert!(
        wait_for(Duration::from_secs(20), || http_get(survivor, "/ready").0
            == 503),
        "{}",
        http_get(survivor, "/cluster/members").1
    );
    assert!(http_get(survivor, "/ready").1.contains("NO_QUORUM"));
    // Without a majority it refuses writes, clearly, and keeps reading on
    // the same connection.
    let client = nodes[0].connect().await;
    let insert = "INSERT INTO assertions (subject, predicate, object, source) \
                  VALUES ('s', 'p', 'o', 'test')";
    let refused = client.execute(insert, &[]).await.unwrap_err();
    let refused = support::describe_error(&refused);
    assert!(refused.starts_with("25006: "), "{refused}");
    assert!(
        refused.contains("node1") && refused.contains("node2 DOWN"),
        "{refused}"
    );
    let copy = client
        .simple_query("COPY assertions (subject, predicate, object, source) FROM STDIN")
        .await;
    assert!(support::describe_error(&copy.unwrap_err()).starts_with("25006: "));
    let count: i64 = client
        .query_one("SELECT count(*) FROM assertions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1, "the write made with a majority is still there");

    // node3 comes back on its data dir: it finds the survivor, which is
    // ready again without a restart.
    nodes[2] = start_node(&dir(3), &envs[2]);
    assert!(
        wait_for(Duration::from_secs(10), || http_get(survivor, "/ready").0
            == 200),
        "{}",
        http_get(survivor, "/cluster/members").1
    );
    client
        .execute(insert, &[])
        .await
        .expect("writes resume with a majority");
    let back = "{\"members\":[{\"id\":\"node1\",\"status\":\"UP\"},{\"id\":\"node2\",\"status\":\"DOWN\"},{\"id\":\"node3\",\"status\":\"UP\"}]}\n";
    assert!(
        wait_for(Duration::from_secs(5), || members(&nodes[2]) == back),
        "{}",
        members(&nodes[2])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_with_another_secret_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (swim, rpc) = (free_port(), free_port());
    let secrets = [Some("right"), Some("right"), Some("wrong")];
    let nodes: Vec<TestServer> = (0..3)
        .map(|i| {
            let env = node_env(i as u8 + 1, swim, rpc, secrets[i]);
            start_node(&tmp.path().join(format!("node{i}")), &env)
        })
        .collect();
    let pair = "{\"members\":[{\"id\":\"node1\",\"status\":\"UP\"},{\"id\":\"node2\",\"status\":\"UP\"}]}\n";
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
            wait_for(Duration::from_secs(10), || !node
                .log_lines("not signed with this cluster's secret")
                .is_empty()),
            "no refusal logged"
        );
        assert_eq!(members(node), pair);
    }
    assert_eq!(members(&nodes[2]), all_up(&["node3"]));
    assert_eq!(http_get(nodes[2].http_port, "/ready").0, 503);
}

#[test]
fn a_cluster_address_off_loopback_needs_a_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = [
        ("STEMEDB_CLUSTER__ENABLED", "true"),
        ("STEMEDB_CLUSTER__SWIM_ADDR", &*format!("0.0.0.0:{port}")),
    ];
    let error = TestServer::start_in(&tmp.path().join("data"), &env)
        .err()
        .expect("refused to start");
    assert!(error.contains("without a cluster secret"), "{error}");
}
