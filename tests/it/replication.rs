//! Replication in a real three-node cluster (docs/cluster.md): writes made on
//! any node land on their subjects' two owners, every node answers like
//! one node holding everything, and a node killed mid-load loses no
//! acknowledged write.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::cluster::*;
use crate::support::text_rows as rows;
use crate::support::{TestServer, verify_ok};
use futures::SinkExt;
use tokio_postgres::Client;

/// One statement of a workload, sent to one node.
enum Step {
    Sql(String),
    Copy(String),
    Block(Vec<String>),
}

const COLUMNS: &str = "subject, predicate, object, source, tier, confidence";

fn values(j: usize) -> (String, String, String, String, usize, f64) {
    (
        format!("s{}", j % 1500),
        format!("p{}", j % 3),
        format!("o{}", j % 7),
        format!("src{}", j % 5),
        j % 4,
        (j % 10) as f64 / 10.0,
    )
}

fn row(j: usize) -> String {
    let (s, p, o, src, tier, confidence) = values(j);
    format!("('{s}', '{p}', '{o}', '{src}', {tier}, {confidence})")
}

fn insert(rows: impl Iterator<Item = usize>) -> String {
    let rows: Vec<String> = rows.map(row).collect();
    format!(
        "INSERT INTO assertions ({COLUMNS}) VALUES {}",
        rows.join(", ")
    )
}

/// 10 000 claims over 1 500 subjects — single-row and multi-row INSERTs,
/// COPYs, transaction blocks — and retractions between them.
fn workload() -> Vec<Step> {
    let mut steps = Vec::new();
    for batch in 0..100 {
        let j = batch * 100;
        match batch % 4 {
            0 => steps.extend((j..j + 100).map(|k| Step::Sql(insert(k..k + 1)))),
            1 => steps.push(Step::Sql(insert(j..j + 100))),
            2 => {
                let csv: Vec<String> = (j..j + 100)
                    .map(|k| {
                        let (s, p, o, src, tier, c) = values(k);
                        format!("{s},{p},{o},{src},{tier},{c}\n")
                    })
                    .collect();
                steps.push(Step::Copy(csv.concat()));
            }
            _ => steps.push(Step::Block(vec![
                insert(j..j + 50),
                insert(j + 50..j + 100),
            ])),
        }
        if batch % 10 == 9 {
            let subject = (batch * 37) % 1500;
            steps.push(Step::Sql(format!(
                "INSERT INTO retractions (assertion_id, reason) SELECT id, 'wrong' \
                 FROM assertions WHERE subject = 's{subject}' AND object = 'o{}'",
                subject % 7
            )));
        }
    }
    steps
}

async fn run(client: &Client, step: &Step) {
    match step {
        Step::Sql(sql) => {
            client.batch_execute(sql).await.unwrap();
        }
        Step::Copy(csv) => {
            let sink = client
                .copy_in(&format!(
                    "COPY assertions ({COLUMNS}) FROM STDIN WITH (FORMAT csv)"
                ))
                .await
                .unwrap();
            futures::pin_mut!(sink);
            sink.send(bytes::Bytes::from(csv.clone())).await.unwrap();
            sink.finish().await.unwrap();
        }
        Step::Block(statements) => {
            client.batch_execute("BEGIN").await.unwrap();
            for s in statements {
                client.batch_execute(s).await.unwrap();
            }
            client.batch_execute("COMMIT").await.unwrap();
        }
    }
}

/// What a node answers: counts of every table, the lens tables' rows
/// (without ids and stamps, which differ between runs), and point lookups
/// through the extended protocol.
async fn answers(client: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for table in stemedb::planner::TABLE_NAMES {
        let sql = format!("SELECT count(*) FROM {table}");
        out.push(format!("{sql}: {:?}", rows(client, &sql).await));
    }
    for sql in [
        "SELECT count(*) FROM assertions WHERE retracted",
        "SELECT subject, predicate, object, source, claims FROM recency ORDER BY subject, predicate",
        "SELECT subject, predicate, object, source, claims FROM authority ORDER BY subject, predicate",
        "SELECT subject, predicate, claims, distinct_objects, leading_object FROM conflicts \
         ORDER BY subject, predicate",
    ] {
        out.push(format!("{sql}: {:?}", rows(client, sql).await));
    }
    for s in (0..1500).step_by(29) {
        let found = client
            .query(
                "SELECT predicate, object, source FROM recency WHERE subject = $1 ORDER BY predicate",
                &[&format!("s{s}")],
            )
            .await
            .unwrap();
        let found: Vec<(String, String, String)> = found
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        out.push(format!("s{s}: {found:?}"));
    }
    // Point lookups as drivers spell them: the node reads the subjects it
    // owns and asks an owner for the others.
    for s in (0..1500).step_by(37) {
        let (a, b, c) = (
            format!("s{s}"),
            format!("s{}", s + 1),
            format!("s{}", s + 2),
        );
        for (sql, params) in [
            (
                "SELECT subject, predicate, object, source FROM recency WHERE subject = $1",
                vec![a.clone()],
            ),
            (
                "SELECT subject, predicate, object FROM authority WHERE subject = $1::text \
                 AND predicate = 'p1'",
                vec![a.clone()],
            ),
            (
                "SELECT subject, predicate, object, claims FROM beliefs WHERE subject IN ($1, $2, $3)",
                vec![a.clone(), b.clone(), c.clone()],
            ),
        ] {
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(|p| p as _).collect();
            let found = client.query(sql, &params).await.unwrap();
            let mut found: Vec<Vec<String>> = found
                .iter()
                .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
                .collect();
            found.sort();
            out.push(format!("{sql} {s}: {found:?}"));
        }
        let any = client
            .query(
                "SELECT subject, object FROM recency WHERE subject = ANY($1)",
                &[&vec![a, b, c]],
            )
            .await
            .unwrap();
        let mut any: Vec<(String, String)> = any.iter().map(|r| (r.get(0), r.get(1))).collect();
        any.sort();
        out.push(format!("ANY {s}: {any:?}"));
    }
    out
}

/// A cell as text, whatever its type.
fn cell(row: &tokio_postgres::Row, i: usize) -> String {
    match row.columns()[i].type_().name() {
        "int8" => row.get::<_, i64>(i).to_string(),
        _ => row.get::<_, String>(i),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_node_answers_like_a_single_node() {
    let tmp = tempfile::tempdir().unwrap();
    let nodes = three_nodes(tmp.path(), ClusterPorts::free());
    let single = TestServer::start();
    let mut cluster = Vec::new();
    for n in &nodes {
        cluster.push(n.connect().await);
    }
    let alone = single.connect().await;
    for (i, step) in workload().iter().enumerate() {
        run(&cluster[i % 3], step).await;
        run(&alone, step).await;
    }
    let expected = answers(&alone).await;
    assert!(
        expected[0].ends_with("[[Some(\"10000\")]]"),
        "{}",
        expected[0]
    );
    assert!(
        !expected[1].ends_with("[[Some(\"0\")]]"),
        "retractions made"
    );
    for (n, client) in cluster.iter().enumerate() {
        let got = answers(client).await;
        for (want, got) in expected.iter().zip(&got) {
            assert_eq!(got, want, "node{} differs", n + 1);
        }
    }
    // Every claim is stored on exactly two nodes.
    assert_eq!(stored(&nodes), 20_000.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_under_load_loses_no_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let mut nodes = three_nodes(tmp.path(), ports);
    let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    // Eight clients write through node1 and node2.
    for w in 0..8 {
        let client = nodes[w % 2].connect().await;
        let (acked, failed, stop) = (acked.clone(), failed.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let subject = format!("w{w}-{k}");
                let sql = "INSERT INTO assertions (subject, predicate, object, source) \
                           VALUES ($1, 'load', 'v', 'test')";
                let limit = Duration::from_secs(20);
                match tokio::time::timeout(limit, client.execute(sql, &[&subject])).await {
                    Ok(Ok(_)) => {
                        acked.lock().unwrap().insert(subject);
                    }
                    Ok(Err(e)) => failed
                        .lock()
                        .unwrap()
                        .push(crate::support::describe_error(&e)),
                    Err(_) => {
                        failed
                            .lock()
                            .unwrap()
                            .push(format!("{subject}: no answer in 20 s"));
                        return;
                    }
                }
                k += 1;
            }
        }));
    }
    let count = || acked.lock().unwrap().len();
    assert!(wait_for(Duration::from_secs(30), || count() >= 300));
    nodes[2].kill9();
    let at_kill = count();
    // Writes keep being accepted by the two survivors.
    assert!(
        wait_for(Duration::from_secs(30), || count() >= at_kill + 500),
        "{} writes after the kill; errors: {:?}",
        count() - at_kill,
        failed.lock().unwrap().first()
    );
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        failed.lock().unwrap().is_empty(),
        "{:?}",
        failed.lock().unwrap()
    );
    let acked: Vec<String> = acked.lock().unwrap().iter().cloned().collect();
    let listed = "SELECT subject FROM assertions WHERE predicate = 'load' ORDER BY subject";
    let read = |rows: Vec<Vec<Option<String>>>| -> Vec<String> {
        let mut v: Vec<String> = rows.into_iter().filter_map(|r| r[0].clone()).collect();
        v.sort();
        v
    };
    // Both survivors read every acknowledged write (and nothing else: no
    // write failed).
    for node in &nodes[..2] {
        let client = node.connect().await;
        assert_eq!(read(rows(&client, listed).await), acked, "on {}", node.ip);
    }
    // What node3 missed waits for it in hints.
    let held =
        gauge(&nodes[0], "stemedb_hints_pending") + gauge(&nodes[1], "stemedb_hints_pending");
    assert!(held > 0.0, "no hints held for node3");
    // stemedb.replication shows what node3 is missing, and how old it is.
    let survivor = nodes[0].connect().await;
    let state = rows(
        &survivor,
        "SELECT peer, hints_pending, lag_seconds > 0 FROM stemedb.replication ORDER BY peer",
    )
    .await;
    assert_eq!(state.len(), 2, "{state:?}");
    assert_eq!(state[1][0].as_deref(), Some("node3"));
    let pending: f64 = state[1][1].as_deref().unwrap().parse().unwrap();
    assert_eq!(pending, gauge(&nodes[0], "stemedb_hints_pending"));
    assert_eq!(
        state[1][2].as_deref(),
        Some(if pending > 0.0 { "t" } else { "f" })
    );

    // node3 returns, takes its hints, and all three answer alike.
    nodes[2] = start_node(&tmp.path().join("node3"), 3, &node_env(3, ports, None));
    let handed_off = || {
        nodes
            .iter()
            .all(|n| gauge(n, "stemedb_hints_pending") == 0.0)
    };
    assert!(wait_for(Duration::from_secs(30), handed_off));
    let state = rows(
        &survivor,
        "SELECT sum(hints_pending) FROM stemedb.replication",
    )
    .await;
    assert_eq!(state[0][0].as_deref(), Some("0"));
    for node in &nodes {
        let client = node.connect().await;
        assert_eq!(read(rows(&client, listed).await), acked, "on {}", node.ip);
    }
    assert_eq!(stored(&nodes), 2.0 * acked.len() as f64);
    for (i, node) in nodes.iter_mut().enumerate() {
        assert!(node.terminate().success());
        verify_ok(&tmp.path().join(format!("node{}", i + 1)), "after the kill");
    }
}
