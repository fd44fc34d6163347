//! The change feed (docs/changes.md): `stemedb.changes` paged by
//! `change_id`, on one node and on a three-node cluster whose consumers
//! must see every acknowledged write and retraction exactly once, in
//! order, while a node is killed and another partitioned — and do miss
//! some with the frontier switched off (`STEMEDB_TEST_NO_FRONTIER`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::cluster::*;
use crate::support::partition::{cut_node3, heal};
use crate::support::{TestServer, connect, sqlstate};

const PAGE: &str = "SELECT change_id, kind, subject FROM stemedb.changes \
                    WHERE change_id > $1 ORDER BY change_id LIMIT 200";

/// (kind, subject): a writer's subject has one claim and at most one
/// retraction.
type Change = (String, String);

/// Every row after `last`, page by page.
async fn drain(client: &tokio_postgres::Client, last: &mut String) -> Vec<(String, Change)> {
    let mut seen = Vec::new();
    loop {
        let rows = client.query(PAGE, &[&*last]).await.unwrap();
        for r in &rows {
            let id: String = r.get(0);
            assert!(id > *last, "{id} after {last}");
            *last = id.clone();
            seen.push((id, (r.get(1), r.get(2))));
        }
        if rows.len() < 200 {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_single_node_feed_pages_in_write_order() {
    let server = TestServer::start();
    let client = server.connect().await;
    let mut last = String::new();
    assert!(drain(&client, &mut last).await.is_empty());
    let insert = "INSERT INTO assertions (subject, predicate, object, source) \
                  VALUES ($1, 'dose', '10 mg', 'fda') RETURNING id";
    let mut ids = Vec::new();
    for i in 0..450 {
        let row = client
            .query_one(insert, &[&format!("s{i:03}")])
            .await
            .unwrap();
        ids.push(row.get::<_, String>(0));
    }
    // A block's writes are stamped when their statement runs and show
    // once it commits; a retraction is a change of its own.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute(
            "INSERT INTO retractions (assertion_id) VALUES ($1)",
            &[&ids[7]],
        )
        .await
        .unwrap();
    client.query_one(insert, &[&"in-block"]).await.unwrap();
    let before = drain(&client, &mut last.clone()).await;
    assert_eq!(
        before.len(),
        450,
        "a block's writes show only once it commits"
    );
    client.batch_execute("COMMIT").await.unwrap();
    // A write is in the feed as soon as it is acknowledged, on one node.
    let seen = drain(&client, &mut last).await;
    let changes: Vec<&Change> = seen.iter().map(|(_, c)| c).collect();
    assert_eq!(changes.len(), 452);
    for (i, c) in changes[..450].iter().enumerate() {
        assert_eq!(**c, ("assert".to_string(), format!("s{i:03}")));
    }
    assert_eq!(*changes[450], ("retract".to_string(), "s007".to_string()));
    assert_eq!(
        *changes[451],
        ("assert".to_string(), "in-block".to_string())
    );
    // Resuming from the last id: nothing more; from an id in the middle:
    // the rest, the same ids.
    assert!(drain(&client, &mut last.clone()).await.is_empty());
    let mut from = seen[99].0.clone();
    let rest = drain(&client, &mut from).await;
    assert_eq!(rest, seen[100..].to_vec());
    // Compared with NULL, as in PostgreSQL: no row.
    let none: Option<String> = None;
    assert!(client.query(PAGE, &[&none]).await.unwrap().is_empty());
    let exact = "SELECT change_id FROM stemedb.changes WHERE change_id = $1";
    assert_eq!(client.query(exact, &[&seen[5].0]).await.unwrap().len(), 1);
    // The read is a seek in change_id order: no sort in the plan.
    let plan: Vec<String> = client
        .query(&format!("EXPLAIN {}", PAGE.replace("$1", "''")), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(1))
        .collect();
    assert!(!plan[1].contains("SortExec"), "{}", plan[1]);
    assert!(
        !plan[1].contains("FilterExec"),
        "the scan applies change_id > …: {}",
        plan[1]
    );
    assert!(
        plan[1].contains("output_ordering=[change_id"),
        "{}",
        plan[1]
    );
    // The frontier: now, give or take; rows carry the claim.
    let recent: bool = client
        .query_one(
            "SELECT stemedb.resolved_frontier() > now() - interval '5 seconds'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(recent, "the frontier of an idle node is now");
    let row = client
        .query_one(
            "SELECT kind, assertion_id, object, source, tier, confidence, agent, \
             changed_at >= observed_at FROM stemedb.changes WHERE kind = 'retract'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(1), ids[7]);
    assert_eq!(row.get::<_, String>(2), "10 mg");
    assert_eq!(row.get::<_, String>(3), "fda");
    assert!(row.get::<_, bool>(7));
    // Time travel stops the feed at that instant.
    let at: String = client
        .query_one(
            "SELECT changed_at::text FROM stemedb.changes WHERE change_id = $1",
            &[&seen[9].0],
        )
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!("SET stemedb.as_of = '{at}'"))
        .await
        .unwrap();
    let until_then = drain(&client, &mut String::new()).await;
    assert!(until_then.len() >= 10 && until_then.len() < 450);
}

/// The feed and `explain` show claims: reading them needs the grant that
/// reading the tables needs.
#[tokio::test]
async fn reading_the_feed_needs_the_read_grant() {
    let server = TestServer::start_with(&[("STEMEDB_PASSWORD", "boot")]);
    let login = |user, password| crate::security::login(&server, user, password);
    let admin = login("stemedb", "boot").await.unwrap();
    admin
        .batch_execute(
            "CREATE ROLE outsider LOGIN PASSWORD 'o-pw';
             CREATE ROLE reader LOGIN PASSWORD 'r-pw'; GRANT pg_read_all_data TO reader;
             INSERT INTO assertions (subject, predicate, object, source) VALUES ('s', 'p', 'o', 'src')",
        )
        .await
        .unwrap();
    let outsider = login("outsider", "o-pw").await.unwrap();
    let reader = login("reader", "r-pw").await.unwrap();
    for sql in [
        "SELECT change_id FROM stemedb.changes",
        "SELECT rank FROM stemedb.explain('s', 'p')",
    ] {
        let e = outsider.query(sql, &[]).await.unwrap_err();
        assert_eq!(sqlstate(&e), "42501", "{sql}: {e:?}");
        assert_eq!(reader.query(sql, &[]).await.unwrap().len(), 1, "{sql}");
    }
}

/// An idle client connection has TCP keepalive armed on the server's
/// side (probes after a minute of silence), so a listener that waits for
/// hours keeps the state of every NAT and firewall on its path; and it
/// still answers after idling.
#[tokio::test]
async fn an_idle_listener_is_kept_alive() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("LISTEN stemedb_changes")
        .await
        .unwrap();
    let sockets = || {
        let out = std::process::Command::new("ss")
            .args(["-tnoH", "state", "established"])
            .arg(format!("( sport = :{} )", server.port))
            .output()
            .expect("ss (iproute2; make test installs it)");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // Once the last reply is acknowledged, the socket's timer is the
    // keepalive's (before, it may be the retransmission timer).
    let armed = wait_for(Duration::from_secs(5), || {
        let listed = sockets();
        !listed.trim().is_empty() && listed.lines().all(|l| l.contains("timer:(keepalive,"))
    });
    assert!(armed, "no keepalive on :{}: {}", server.port, sockets());
    tokio::time::sleep(Duration::from_secs(3)).await;
    client.batch_execute("UNLISTEN *").await.unwrap();
}

/// A `LISTEN stemedb_changes` connection to `conn` (tokio-postgres):
/// the payloads it is sent, as they come.
async fn listen(conn: &str) -> (tokio_postgres::Client, Arc<Mutex<Vec<String>>>) {
    let (client, mut connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls)
        .await
        .unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let into = heard.clone();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = futures::StreamExt::next(&mut messages).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                into.lock().unwrap().push(n.payload().to_string());
            }
        }
    });
    client
        .batch_execute("LISTEN stemedb_changes")
        .await
        .unwrap();
    (client, heard)
}

/// What the writers did, by change.
#[derive(Default)]
struct Written {
    attempted: BTreeSet<Change>,
    acked: BTreeSet<Change>,
}

struct Shared {
    written: Mutex<Written>,
    /// Each consumer's changes in the order it saw them.
    seen: Vec<Mutex<Vec<(String, Change)>>>,
    nodes: Mutex<Vec<String>>,
    stop_writing: AtomicBool,
    stop_reading: AtomicBool,
}

impl Shared {
    fn node(&self, i: usize) -> String {
        let nodes = self.nodes.lock().unwrap();
        nodes[i % nodes.len()].clone()
    }

    fn set_nodes(&self, nodes: &[TestServer]) {
        *self.nodes.lock().unwrap() = nodes.iter().map(|n| n.conn_str()).collect();
    }

    fn acked(&self) -> usize {
        self.written.lock().unwrap().acked.len()
    }
}

/// Runs `statement` with `arg`, recording the change as attempted and,
/// once answered, acknowledged. `None` if the connection is gone.
async fn attempt(
    s: &Shared,
    client: &tokio_postgres::Client,
    change: Change,
    statement: &str,
    arg: &str,
) -> Option<Option<String>> {
    s.written.lock().unwrap().attempted.insert(change.clone());
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&arg];
    match tokio::time::timeout(Duration::from_secs(20), client.query(statement, &params)).await {
        Ok(Ok(rows)) => {
            s.written.lock().unwrap().acked.insert(change);
            Some(rows.first().map(|r| r.get(0)))
        }
        Ok(Err(e)) if !client.is_closed() => {
            if sqlstate(&e) != "25006" {
                eprintln!("write {change:?}: {e}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some(None)
        }
        _ => None,
    }
}

/// One writer: claims, and a retraction of every third it made.
async fn write(s: Arc<Shared>, w: usize) {
    let (mut at, mut k, mut client) = (w, 0, None);
    while !s.stop_writing.load(Ordering::Relaxed) {
        let c = match &client {
            Some(c) => c,
            None => {
                match tokio::time::timeout(Duration::from_secs(2), connect(&s.node(at))).await {
                    Ok(Ok(c)) => client.insert(c),
                    _ => {
                        at += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                }
            }
        };
        let subject = format!("w{w}-{k}");
        k += 1;
        let insert = "INSERT INTO assertions (subject, predicate, object, source) \
                      VALUES ($1, 'feed', 'v', 'test') RETURNING id";
        let claim = ("assert".to_string(), subject.clone());
        let id = match attempt(&s, c, claim, insert, &subject).await {
            Some(Some(id)) => id,
            Some(None) => continue,
            None => {
                (client, at) = (None, at + 1);
                continue;
            }
        };
        if k % 3 == 0 {
            let retract =
                "INSERT INTO retractions (assertion_id) VALUES ($1) RETURNING assertion_id";
            let change = ("retract".to_string(), subject);
            if attempt(&s, c, change, retract, &id).await.is_none() {
                (client, at) = (None, at + 1);
            }
        }
    }
}

/// One consumer on node `n`: polls with its last change_id until told to
/// stop, reconnecting when its node goes away.
async fn consume(s: Arc<Shared>, n: usize) {
    let (mut last, mut client) = (String::new(), None);
    while !s.stop_reading.load(Ordering::Relaxed) {
        let c = match &client {
            Some(c) => c,
            None => match tokio::time::timeout(Duration::from_secs(2), connect(&s.node(n))).await {
                Ok(Ok(c)) => client.insert(c),
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&last];
        match tokio::time::timeout(Duration::from_secs(10), c.query(PAGE, &params)).await {
            Ok(Ok(rows)) => {
                let mut seen = s.seen[n].lock().unwrap();
                for r in rows {
                    let id: String = r.get(0);
                    last = id.clone();
                    seen.push((id, (r.get(1), r.get(2))));
                }
            }
            Ok(Err(_)) if !c.is_closed() => {}
            _ => client = None,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What one consumer got wrong: changes out of order or seen twice,
/// changes never written, acknowledged changes missed.
fn faults(seen: &[(String, Change)], written: &Written) -> (Vec<String>, usize) {
    let mut wrong = Vec::new();
    for pair in seen.windows(2) {
        if pair[1].0 <= pair[0].0 {
            wrong.push(format!("{} after {}", pair[1].0, pair[0].0));
        }
    }
    let mut counts: BTreeMap<&Change, usize> = BTreeMap::new();
    for (_, c) in seen {
        *counts.entry(c).or_default() += 1;
    }
    for (c, n) in &counts {
        if *n > 1 {
            wrong.push(format!("{c:?} seen {n} times"));
        }
        if !written.attempted.contains(*c) {
            wrong.push(format!("{c:?} never written"));
        }
    }
    let missed: Vec<&Change> = written
        .acked
        .iter()
        .filter(|c| !counts.contains_key(c))
        .collect();
    if !missed.is_empty() {
        eprintln!("missed: {:?}", &missed[..missed.len().min(10)]);
    }
    (wrong, missed.len())
}

fn env(n: u8, ports: ClusterPorts, frontier: bool) -> Vec<(String, String)> {
    let mut env = node_env(n, ports, None);
    env.push(("STEMEDB_REPLICATION__SYNC_INTERVAL".into(), "2s".into()));
    if !frontier {
        env.push(("STEMEDB_TEST_NO_FRONTIER".into(), "1".into()));
    }
    env
}

/// Eight writers through all nodes, a consumer on each; node1 killed and
/// restarted, node3 partitioned and healed. Returns, per consumer, the
/// acknowledged changes it missed (after waiting up to `catch_up` for it).
async fn consumers_under_faults(dir: &Path, frontier: bool, catch_up: Duration) -> Vec<usize> {
    let ports = ClusterPorts::free();
    let start = |n: u8| start_node(&dir.join(format!("node{n}")), n, &env(n, ports, frontier));
    let mut nodes: Vec<TestServer> = (1..=3).map(start).collect();
    wait_ready(&nodes);
    let s = Arc::new(Shared {
        written: Mutex::default(),
        seen: (0..3).map(|_| Mutex::default()).collect(),
        nodes: Mutex::default(),
        stop_writing: AtomicBool::new(false),
        stop_reading: AtomicBool::new(false),
    });
    s.set_nodes(&nodes);
    let (_listening, heard) = listen(&nodes[1].conn_str()).await;
    let writers: Vec<_> = (0..8).map(|w| tokio::spawn(write(s.clone(), w))).collect();
    let consumers: Vec<_> = (0..3)
        .map(|n| tokio::spawn(consume(s.clone(), n)))
        .collect();
    let progress = |more: usize| {
        let s = s.clone();
        async move {
            let target = s.acked() + more;
            let deadline = Instant::now() + Duration::from_secs(90);
            while s.acked() < target {
                assert!(Instant::now() < deadline, "writes stalled at {}", s.acked());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let mark = |event: &str| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        eprintln!("{event} at {}", now.as_micros());
    };
    progress(150).await;
    mark("kill node1");
    nodes[0].kill9();
    progress(150).await;
    mark("restart node1");
    nodes[0] = start(1);
    s.set_nodes(&nodes);
    progress(150).await;
    mark("cut node3");
    cut_node3(ports);
    progress(150).await;
    mark("heal");
    heal();
    progress(150).await;
    mark("stop");
    s.stop_writing.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    // The consumers catch up once the frontier passes the last writes.
    let deadline = Instant::now() + catch_up;
    let missed = loop {
        let missed: Vec<usize> = {
            let written = s.written.lock().unwrap();
            let seen = s.seen.iter().map(|seen| seen.lock().unwrap());
            seen.enumerate()
                .map(|(n, seen)| {
                    let (wrong, m) = faults(&seen, &written);
                    assert!(wrong.is_empty(), "consumer on node{}: {wrong:?}", n + 1);
                    m
                })
                .collect()
        };
        if missed.iter().all(|m| *m == 0) || Instant::now() > deadline {
            break missed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    s.stop_reading.store(true, Ordering::Relaxed);
    for c in consumers {
        c.await.unwrap();
    }
    if frontier {
        // A listener on node2 was told of new changes as the frontier
        // passed them, in order, the last being the newest change.
        let newest = s.seen[1].lock().unwrap().last().map(|(id, _)| id.clone());
        let told = wait_for(Duration::from_secs(10), || {
            heard.lock().unwrap().last() == newest.as_ref()
        });
        let heard = heard.lock().unwrap();
        assert!(
            told,
            "told {} times, last {:?}, newest {newest:?}",
            heard.len(),
            heard.last()
        );
        assert!(
            heard.windows(2).all(|w| w[0] < w[1]) && heard.len() > 5,
            "{heard:?}"
        );
    }
    let written = s.written.lock().unwrap();
    let seen: Vec<usize> = s.seen.iter().map(|v| v.lock().unwrap().len()).collect();
    eprintln!(
        "frontier {}: {} changes attempted, {} acknowledged; consumers saw {seen:?}, missed {missed:?}",
        if frontier { "on" } else { "off" },
        written.attempted.len(),
        written.acked.len()
    );
    missed
}

/// Runs `test` of this module in its own network namespace.
fn in_namespace(test: &str) -> bool {
    let module = module_path!().trim_start_matches("it::");
    crate::support::in_namespace(&format!("{module}::{test}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn consumers_on_every_node_see_every_change_once_through_a_kill_and_a_partition() {
    if !in_namespace("consumers_on_every_node_see_every_change_once_through_a_kill_and_a_partition")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let missed = consumers_under_faults(tmp.path(), true, Duration::from_secs(90)).await;
    assert_eq!(missed, vec![0, 0, 0], "acknowledged changes missed");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_frontier_the_same_consumers_miss_changes() {
    if !in_namespace("without_the_frontier_the_same_consumers_miss_changes") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let missed = consumers_under_faults(tmp.path(), false, Duration::from_secs(10)).await;
    assert!(
        missed.iter().sum::<usize>() > 0,
        "the check cannot fail: nothing was missed without the frontier"
    );
}
