//! The fault harness's load and checker: eight clients write unique claims
//! over the cluster's nodes while a scenario breaks things; afterwards the
//! checker waits for the replicas to converge and checks set semantics —
//! every acknowledged write present on every node's answer, nothing that
//! was never written, all nodes answering alike, every owner pair's Merkle
//! roots equal and every claim on exactly two nodes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::TestServer;
use super::cluster::{gauge, stored};

const INSERT: &str = "INSERT INTO assertions (subject, predicate, object, source) \
                      VALUES ($1, 'fault', 'v', 'test')";

/// What a scenario's clients did.
#[derive(Debug, Default)]
pub struct Report {
    pub attempted: usize,
    pub acknowledged: usize,
    /// Refused with 25006 (not acknowledged; may still be stored on one node).
    pub refused: usize,
    /// Other errors or timeouts: outcome unknown to the client.
    pub unknown: usize,
    pub lost: usize,
    /// Whole-answer checks made by [`Load::watch_reads`].
    pub reads: usize,
}

#[derive(Default)]
struct Shared {
    attempted: Mutex<BTreeSet<String>>,
    acked: Mutex<BTreeSet<String>>,
    refused: AtomicUsize,
    unknown: AtomicUsize,
    errors: Mutex<Vec<String>>,
    stop: AtomicBool,
    /// The nodes' connection strings (a restarted node gets new ports).
    nodes: Mutex<Vec<String>>,
    /// Reads that missed acknowledged writes ([`Load::watch_reads`]).
    misses: Mutex<Vec<String>>,
    reads: AtomicUsize,
}

pub struct Load {
    shared: Arc<Shared>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Eight clients writing `tag`-prefixed claims, spread over `nodes`.
    pub fn start(tag: &str, nodes: &[TestServer]) -> Load {
        let shared = Arc::new(Shared::default());
        shared.set_nodes(nodes);
        let writers = (0..8)
            .map(|w| tokio::spawn(write(shared.clone(), format!("{tag}-{w}"), w)))
            .collect();
        Load { shared, writers }
    }

    /// After a node restarted on new ports.
    pub fn nodes_changed(&self, nodes: &[TestServer]) {
        self.shared.set_nodes(nodes);
    }

    /// A reader that checks, over and over on each node in turn, that
    /// acknowledged writes are all there: by a point lookup of the newest
    /// and by a full count. [`Load::check`] fails on any miss.
    pub fn watch_reads(&mut self) {
        self.writers.push(tokio::spawn(read(self.shared.clone())));
    }

    /// Whole-answer checks made so far ([`Load::watch_reads`]).
    pub fn reads(&self) -> usize {
        self.shared.reads.load(Ordering::Relaxed)
    }

    pub fn acked(&self) -> usize {
        self.shared.acked.lock().unwrap().len()
    }

    /// Waits until `more` further writes are acknowledged (at most `limit`).
    pub async fn progress(&self, more: usize, limit: Duration) {
        let target = self.acked() + more;
        let deadline = Instant::now() + limit;
        while self.acked() < target {
            assert!(
                Instant::now() < deadline,
                "writes stalled: {} of {target} acknowledged after {limit:?}; errors: {:?}",
                self.acked(),
                self.shared
                    .errors
                    .lock()
                    .unwrap()
                    .iter()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the clients, waits for the replicas to converge, checks set
    /// semantics on every node and reports.
    pub async fn check(self, nodes: &[TestServer]) -> Report {
        self.shared.stop.store(true, Ordering::Relaxed);
        for w in self.writers {
            w.await.unwrap();
        }
        let s = &self.shared;
        let misses = s.misses.lock().unwrap().clone();
        assert!(
            misses.is_empty(),
            "reads missed acknowledged writes: {misses:?}"
        );
        let acked = s.acked.lock().unwrap().clone();
        let attempted = s.attempted.lock().unwrap().clone();
        converge(nodes).await;
        let mut answers = Vec::new();
        for node in nodes {
            let (present, listed) = written(node).await;
            assert_eq!(present.len(), listed, "a claim listed twice on {}", node.ip);
            answers.push(present);
        }
        let present = &answers[0];
        for (i, other) in answers.iter().enumerate() {
            assert_eq!(other, present, "node{} answers differently", i + 1);
        }
        let never_written: Vec<_> = present.difference(&attempted).take(5).collect();
        assert!(never_written.is_empty(), "never written: {never_written:?}");
        let lost: Vec<&String> = acked.difference(present).collect();
        let report = Report {
            attempted: attempted.len(),
            acknowledged: acked.len(),
            refused: s.refused.load(Ordering::Relaxed),
            unknown: s.unknown.load(Ordering::Relaxed),
            lost: lost.len(),
            reads: s.reads.load(Ordering::Relaxed),
        };
        eprintln!("{report:?}");
        assert!(
            lost.is_empty(),
            "lost {} acknowledged writes: {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        report
    }
}

/// The writers' claims `node` answers with, and how many rows listed them.
pub async fn written(node: &TestServer) -> (BTreeSet<String>, usize) {
    let client = node.connect().await;
    let rows = client
        .query(
            "SELECT subject FROM assertions WHERE predicate = 'fault'",
            &[],
        )
        .await
        .unwrap();
    (rows.iter().map(|r| r.get(0)).collect(), rows.len())
}

impl Shared {
    fn set_nodes(&self, nodes: &[TestServer]) {
        *self.nodes.lock().unwrap() = nodes.iter().map(|n| n.conn_str()).collect();
    }

    fn node(&self, i: usize) -> String {
        let nodes = self.nodes.lock().unwrap();
        nodes[i % nodes.len()].clone()
    }
}

/// One client: writes until told to stop, moving to the next node when its
/// node stops answering.
async fn write(s: Arc<Shared>, prefix: String, first: usize) {
    let mut at = first;
    let mut k = 0;
    let mut client = None;
    while !s.stop.load(Ordering::Relaxed) {
        let c = match &client {
            Some(c) => c,
            None => match tokio::time::timeout(Duration::from_secs(2), super::connect(&s.node(at)))
                .await
            {
                Ok(Ok(c)) => client.insert(c),
                _ => {
                    at += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let subject = format!("{prefix}-{k}");
        k += 1;
        s.attempted.lock().unwrap().insert(subject.clone());
        match tokio::time::timeout(Duration::from_secs(20), c.execute(INSERT, &[&subject])).await {
            Ok(Ok(_)) => {
                s.acked.lock().unwrap().insert(subject);
            }
            Ok(Err(e)) if e.code().map(|c| c.code()) == Some("25006") => {
                s.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(Err(e)) => {
                s.unknown.fetch_add(1, Ordering::Relaxed);
                s.errors.lock().unwrap().push(super::describe_error(&e));
                if c.is_closed() {
                    client = None;
                    at += 1;
                }
            }
            Err(_) => {
                s.unknown.fetch_add(1, Ordering::Relaxed);
                s.errors
                    .lock()
                    .unwrap()
                    .push(format!("{subject}: no answer in 20 s"));
                client = None;
                at += 1;
            }
        }
    }
}

/// The reader of [`Load::watch_reads`]. A node that does not answer is
/// skipped (it may be stopping); one that answers must answer whole.
async fn read(s: Arc<Shared>) {
    let mut clients = std::collections::HashMap::new();
    let mut at = 0;
    while !s.stop.load(Ordering::Relaxed) {
        at += 1;
        let node = s.node(at);
        if !clients.contains_key(&node) {
            let connecting = tokio::time::timeout(Duration::from_secs(2), super::connect(&node));
            match connecting.await {
                Ok(Ok(c)) => clients.insert(node.clone(), c),
                _ => continue,
            };
        }
        let c = &clients[&node];
        let acked: Vec<String> = s.acked.lock().unwrap().iter().cloned().collect();
        let newest: Vec<String> = acked.iter().rev().take(20).cloned().collect();
        let point = "SELECT subject FROM recency WHERE subject = ANY($1)";
        let count = "SELECT count(*) FROM assertions WHERE predicate = 'fault'";
        let (Ok(rows), Ok(total)) = (
            c.query(point, &[&newest]).await,
            c.query_one(count, &[]).await,
        ) else {
            clients.remove(&node);
            continue;
        };
        let total: i64 = total.get(0);
        s.reads.fetch_add(1, Ordering::Relaxed);
        if rows.len() != newest.len() || (total as usize) < acked.len() {
            s.misses.lock().unwrap().push(format!(
                "{node}: {} of the {} newest acknowledged, {total} claims of {} acknowledged",
                rows.len(),
                newest.len(),
                acked.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (at most 90 s), with no operator step, until the claims stored
/// over the nodes are exactly twice the claims there are and no hint is
/// pending; then every node's on-demand exchange must find all its peers
/// in sync (equal roots for every owner pair) without repairing anything.
async fn converge(nodes: &[TestServer]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let count: i64 = nodes[0]
            .connect()
            .await
            .query_one("SELECT count(*) FROM assertions", &[])
            .await
            .unwrap()
            .get(0);
        let hints: f64 = nodes
            .iter()
            .map(|n| gauge(n, "stemedb_hints_pending"))
            .sum();
        if hints == 0.0 && stored(nodes) == 2.0 * count as f64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replicas did not converge in 90 s: stored {} for {count} claims, {hints} hints",
            stored(nodes)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The stored counts are RocksDB's key estimates, and a claim whose
    // write was never acknowledged may sit on one replica only (its
    // coordinator killed between the two owners): anti-entropy repairs it.
    // Converged means every node finds every peer in sync.
    loop {
        let mut reports = Vec::new();
        for node in nodes {
            let report: String = node
                .connect()
                .await
                .query_one("SELECT stemedb_sync()", &[])
                .await
                .unwrap()
                .get(0);
            let in_sync = report.lines().filter(|l| l.contains(": in sync (")).count();
            if in_sync != nodes.len() - 1 {
                reports.push(format!("on {}: {report}", node.ip));
            }
        }
        if reports.is_empty() {
            break;
        }
        eprintln!("anti-entropy still repairing: {reports:?}");
        assert!(
            Instant::now() < deadline,
            "replicas not in sync after 90 s: {reports:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
