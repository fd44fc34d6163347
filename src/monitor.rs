//! What a node reports to Prometheus (`GET /metrics`, docs/operations.md
//! lists every metric): the `metrics` facade with
//! `metrics-exporter-prometheus` as its recorder. A leaf: it imports
//! nothing of the crate, so every layer may record through it.
//!
//! Every metric a statement touches is registered once, up front, as a
//! handle: recording is then an atomic add (counters) or a push onto a
//! lock-free bucket (histograms) — no name lookup, no allocation on the
//! hot path. Gauges that read another layer's state (storage, members,
//! replication lag) are set where the scrape is answered (`http::scrape`). Without [`install`] (tools such as `stemedb import`) every
//! handle is a no-op.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets, seconds: 50 µs … 60 s.
const SECONDS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Statements per group commit.
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// How often histogram samples are folded into their buckets when no one
/// scrapes (otherwise they would pile up in memory).
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same).
/// `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("stemedb_commit_batch_size".into()),
                        BATCH,
                    )
                })
                .and_then(|b| b.install_recorder());
            match built {
                Ok(handle) => {
                    register_events();
                    single_node();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!("metrics are off: {e}");
                    None
                }
            }
        })
        .as_ref()
}

/// The Prometheus text exposition of every metric (empty without
/// [`install`]). Gauges read from other layers at scrape time are set by
/// the scrape's answerer (`http::scrape`) just before.
pub fn render() -> String {
    match HANDLE.get().and_then(Option::as_ref) {
        Some(handle) => handle.render(),
        None => String::new(),
    }
}

/// Folds histogram samples into buckets; run every [`UPKEEP_EVERY`].
pub fn upkeep() {
    if let Some(handle) = HANDLE.get().and_then(Option::as_ref) {
        handle.run_upkeep();
    }
}

/// What a statement was, for `stemedb_statements_total{kind}` and
/// `stemedb_query_duration_seconds{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A lens query by subject, answered from lens heads.
    Point,
    /// Any other query.
    Scan,
    /// INSERT (any spelling), retractions, COMMIT of a block.
    Write,
    /// COPY FROM STDIN, from the COPY statement to its last row stored.
    Copy,
    /// SET, SHOW, BEGIN, and the like.
    Other,
}

const KINDS: [(Kind, &str); 5] = [
    (Kind::Point, "point"),
    (Kind::Scan, "scan"),
    (Kind::Write, "write"),
    (Kind::Copy, "copy"),
    (Kind::Other, "other"),
];

struct Statements {
    /// By kind, then [ok, error].
    finished: Vec<[Counter; 2]>,
    durations: Vec<Histogram>,
}

static STATEMENTS: LazyLock<Statements> = LazyLock::new(|| Statements {
    finished: KINDS
        .iter()
        .map(|(_, kind)| {
            [
                counter!("stemedb_statements_total", "kind" => *kind, "outcome" => "ok"),
                counter!("stemedb_statements_total", "kind" => *kind, "outcome" => "error"),
            ]
        })
        .collect(),
    durations: KINDS
        .iter()
        .map(|(_, kind)| histogram!("stemedb_query_duration_seconds", "kind" => *kind))
        .collect(),
});

fn index(kind: Kind) -> usize {
    KINDS.iter().position(|(k, _)| *k == kind).unwrap_or(0)
}

/// A statement ended (its rows all sent, or it failed).
pub fn statement(kind: Kind, ok: bool, took: Duration) {
    let s = &*STATEMENTS;
    let i = index(kind);
    s.finished[i][usize::from(!ok)].increment(1);
    s.durations[i].record(took.as_secs_f64());
}

struct Node {
    connections: Gauge,
    auth_failures: Counter,
    /// Plan cache lookups: a plan reused, a statement planned, a shape
    /// that runs as written.
    plans: [Counter; 3],
    wal_fsync: Histogram,
    commit_batch: Histogram,
}

static NODE: LazyLock<Node> = LazyLock::new(|| Node {
    connections: gauge!("stemedb_connections"),
    auth_failures: counter!("stemedb_auth_failures_total"),
    plans: PLAN_OUTCOMES.map(|o| counter!("stemedb_plan_cache_total", "outcome" => o)),
    wal_fsync: histogram!("stemedb_wal_fsync_duration_seconds"),
    commit_batch: histogram!("stemedb_commit_batch_size"),
});

const PLAN_OUTCOMES: [&str; 3] = ["hit", "miss", "as_written"];

/// Reasons a connection is refused and limits a request can hit.
const REFUSALS: &[&str] = &["max_connections", "rate_limit", "locked_out"];
const LIMITS: &[&str] = &[
    "connections",
    "statements",
    "failed_logins",
    "concurrent_statements",
];

/// Every metric's help text (promtool and dashboards want one).
const HELP: &[(&str, &str)] = &[
    (
        "stemedb_statements_total",
        "Statements ended, by kind and outcome (ok, error).",
    ),
    (
        "stemedb_query_duration_seconds",
        "Statement latency, from execution to the last row sent, by kind.",
    ),
    (
        "stemedb_wal_fsync_duration_seconds",
        "Group commit: writing its batch to the WAL, with the fsync when durable.",
    ),
    (
        "stemedb_commit_batch_size",
        "Statements merged into one group commit.",
    ),
    ("stemedb_connections", "Client connections open."),
    (
        "stemedb_connections_refused_total",
        "Connections refused at startup, by reason.",
    ),
    (
        "stemedb_auth_failures_total",
        "Logins refused for a wrong password.",
    ),
    (
        "stemedb_rate_limited_total",
        "Requests refused by a [limits] rate, by limit.",
    ),
    (
        "stemedb_disk_bytes",
        "Live SST files on disk, by column family.",
    ),
    (
        "stemedb_keys",
        "Keys stored (RocksDB's estimate), by column family.",
    ),
    (
        "stemedb_memtable_bytes",
        "Memtables in memory, by column family.",
    ),
    (
        "stemedb_compaction_pending_bytes",
        "Bytes RocksDB estimates compaction still has to rewrite, by column family.",
    ),
    (
        "stemedb_compactions_running",
        "RocksDB compactions running now.",
    ),
    (
        "stemedb_flushes_running",
        "RocksDB memtable flushes running now.",
    ),
    ("stemedb_block_cache_bytes", "Block cache in use."),
    (
        "stemedb_block_cache_capacity_bytes",
        "Block cache capacity.",
    ),
    (
        "stemedb_block_cache_hits_total",
        "Block cache lookups that hit.",
    ),
    (
        "stemedb_block_cache_misses_total",
        "Block cache lookups that missed (read from disk).",
    ),
    (
        "stemedb_block_cache_hit_ratio",
        "Block cache hits / lookups since start.",
    ),
    (
        "stemedb_filesystem_size_bytes",
        "Size of the data dir's filesystem.",
    ),
    (
        "stemedb_filesystem_avail_bytes",
        "Bytes still available on the data dir's filesystem.",
    ),
    (
        "stemedb_assertions_stored",
        "Claims in this node's own storage (RocksDB's estimate; hints excluded).",
    ),
    (
        "stemedb_members",
        "Cluster members this node sees, by status (a single node: itself, UP).",
    ),
    (
        "stemedb_quorum",
        "This node's majority view: members it counts alive (state=alive) of those the \
         majority is taken of (state=counted, the current layout's members).",
    ),
    (
        "stemedb_replication_bytes_total",
        "Bytes of claims and retractions moved between this node and a member, by peer (its \
         RPC address) and direction (sent: replicated writes and hints; received: scans, \
         lookups, anti-entropy).",
    ),
    (
        "stemedb_hints_pending",
        "Writes held for a member that is down (none on a single node).",
    ),
    (
        "stemedb_resolved_frontier_lag_seconds",
        "How far the change feed's resolved frontier is behind this node's clock: changes \
         newer than that are not in stemedb.changes yet (it grows while a member is down or \
         a write, transaction block or hint is pending).",
    ),
    (
        "stemedb_plan_cache_total",
        "Statements looked up in their session's plan cache, by outcome (hit, miss, as_written).",
    ),
    (
        "stemedb_merkle_syncs_total",
        "Anti-entropy exchanges (none on a single node).",
    ),
    (
        "stemedb_merkle_repaired_total",
        "Claims repaired by anti-entropy (none on a single node).",
    ),
];

/// Help texts, and counters of rare events exported at 0 before the first
/// one so that alert rules and dashboards find them.
fn register_events() {
    for (name, help) in HELP {
        metrics::describe_counter!(*name, *help);
    }
    LazyLock::force(&STATEMENTS);
    LazyLock::force(&NODE);
    for reason in REFUSALS {
        counter!("stemedb_connections_refused_total", "reason" => *reason).increment(0);
    }
    for limit in LIMITS {
        counter!("stemedb_rate_limited_total", "limit" => *limit).increment(0);
    }
}

pub fn connection_opened() {
    NODE.connections.increment(1.0);
}

pub fn connection_closed() {
    NODE.connections.decrement(1.0);
}

/// A connection refused at startup, by `reason` (`max_connections`,
/// `rate_limit`, `locked_out`).
pub fn connection_refused(reason: &'static str) {
    counter!("stemedb_connections_refused_total", "reason" => reason).increment(1);
}

/// A lookup in a session's plan cache.
pub fn plan_cache(outcome: PlanLookup) {
    NODE.plans[outcome as usize].increment(1);
}

#[derive(Debug, Clone, Copy)]
pub enum PlanLookup {
    Hit = 0,
    Miss = 1,
    AsWritten = 2,
}

pub fn auth_failure() {
    NODE.auth_failures.increment(1);
}

/// A request refused by the limit named `limit`.
pub fn rate_limited(limit: &'static str) {
    counter!("stemedb_rate_limited_total", "limit" => limit).increment(1);
}

/// One WAL sync (with `durability = "buffered"`: one WAL write).
pub fn wal_fsync(took: Duration) {
    NODE.wal_fsync.record(took.as_secs_f64());
}

/// One group commit of `statements` requests.
pub fn commit_batch(statements: usize) {
    NODE.commit_batch.record(statements as f64);
}

/// `stemedb_hints_pending`: writes this node holds for members that were
/// down when they were made.
pub fn hints_pending(n: u64) {
    gauge!("stemedb_hints_pending").set(n as f64);
}

/// `stemedb_resolved_frontier_lag_seconds`: now minus the frontier.
pub fn frontier_lag(seconds: f64) {
    gauge!("stemedb_resolved_frontier_lag_seconds").set(seconds);
}

/// One anti-entropy exchange, and the records it moved.
pub fn merkle_sync(repaired: u64) {
    counter!("stemedb_merkle_syncs_total").increment(1);
    counter!("stemedb_merkle_repaired_total").increment(repaired);
}

/// The cluster's figures as a single node has them: one member (itself,
/// UP), no hints, no anti-entropy. The scrape (`http::scrape`) updates the first on every
/// scrape; hints and anti-entropy come with replication.
fn single_node() {
    for status in ["UP", "SUSPECT", "DOWN"] {
        gauge!("stemedb_members", "status" => status).set(if status == "UP" { 1.0 } else { 0.0 });
    }
    gauge!("stemedb_hints_pending").set(0.0);
    counter!("stemedb_merkle_syncs_total").absolute(0);
    counter!("stemedb_merkle_repaired_total").absolute(0);
}
