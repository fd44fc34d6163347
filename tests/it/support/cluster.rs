//! Real three-node clusters for the tests: node `n` (1–3) listens on
//! 127.0.0.n (SQL, HTTP, gRPC, SWIM), with its own data dir, and has the
//! other nodes as seeds.

use std::path::Path;
use std::time::{Duration, Instant};

use super::TestServer;

/// Ports shared by the nodes (each on its own address).
#[derive(Clone, Copy)]
pub struct ClusterPorts {
    pub swim: u16,
    pub rpc: u16,
}

impl ClusterPorts {
    pub fn free() -> ClusterPorts {
        ClusterPorts {
            swim: free_cluster_port(),
            rpc: free_cluster_port(),
        }
    }
}

/// A port free for TCP and UDP on 127.0.0.1–.4, below the kernel's
/// ephemeral range (32768+): an ephemeral port, which `free_port` hands
/// out, may be taken meanwhile by any outgoing connection — nodes connect
/// out from their own address, so one node's client port can be the port
/// another node is about to listen on.
pub fn free_cluster_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let seed = std::process::id() as u64 ^ CALLS.fetch_add(1, Ordering::Relaxed) << 32;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos() as u64);
    let mut rng = super::rng::Rng(seed ^ nanos | 1);
    loop {
        let port = 20_000 + rng.below(12_000) as u16;
        let free = (1..=4).all(|n| {
            let ip = format!("127.0.0.{n}");
            std::net::TcpListener::bind((ip.as_str(), port)).is_ok()
                && std::net::UdpSocket::bind((ip.as_str(), port)).is_ok()
        });
        if free {
            return port;
        }
    }
}

/// Node `n`'s settings.
pub fn node_env(n: u8, ports: ClusterPorts, secret: Option<&str>) -> Vec<(String, String)> {
    let seeds: Vec<String> = (1..=3)
        .map(|i| format!("\"127.0.0.{i}:{}\"", ports.swim))
        .collect();
    let mut env = vec![
        ("STEMEDB_CLUSTER__ENABLED".into(), "true".into()),
        ("STEMEDB_CLUSTER__NODE_ID".into(), format!("node{n}")),
        (
            "STEMEDB_CLUSTER__SWIM_ADDR".into(),
            format!("127.0.0.{n}:{}", ports.swim),
        ),
        (
            "STEMEDB_CLUSTER__RPC_ADDR".into(),
            format!("127.0.0.{n}:{}", ports.rpc),
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

/// Starts node `n` on `dir` with `env` ([`node_env`]).
pub fn start_node(dir: &Path, n: u8, env: &[(String, String)]) -> TestServer {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_at(dir, &format!("127.0.0.{n}"), &env).expect("node starts")
}

/// Polls `check` until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
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

/// The member list of `/cluster/members` as `node` sees it (without the
/// node's own name and state: [`node_state`]).
pub fn members(node: &TestServer) -> String {
    let body = node.http("/cluster/members").1;
    let list = body.split(",\"node\":").next().unwrap_or(&body);
    format!("{}}}\n", list.trim_end().trim_end_matches('}'))
}

/// The state `/cluster/members` says a client meets at `node` (`READY`,
/// `JOINING`, `NO_QUORUM`, `SHUTTING_DOWN`).
pub fn node_state(node: &TestServer) -> String {
    let body = node.http("/cluster/members").1;
    body.split("\"state\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_string()
}

/// The `/cluster/members` body listing `ids`, with their statuses.
pub fn listing(members: &[(&str, &str)]) -> String {
    let listed: Vec<String> = members
        .iter()
        .map(|(id, status)| format!("{{\"id\":\"{id}\",\"status\":\"{status}\"}}"))
        .collect();
    format!("{{\"members\":[{}]}}\n", listed.join(","))
}

/// Three nodes in `dir`, once each lists all three UP (within 10 s).
pub fn three_nodes(dir: &Path, ports: ClusterPorts) -> Vec<TestServer> {
    three_nodes_with(dir, ports, &[])
}

/// [`three_nodes`], each also given `extra` settings.
pub fn three_nodes_with(
    dir: &Path,
    ports: ClusterPorts,
    extra: &[(&str, &str)],
) -> Vec<TestServer> {
    let nodes: Vec<TestServer> = (1..=3u8)
        .map(|n| {
            let mut env = node_env(n, ports, None);
            env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            start_node(&dir.join(format!("node{n}")), n, &env)
        })
        .collect();
    let everyone = listing(&[("node1", "UP"), ("node2", "UP"), ("node3", "UP")]);
    for node in &nodes {
        assert!(
            wait_for(Duration::from_secs(10), || members(node) == everyone),
            "node on {} sees {}",
            node.ip,
            members(node)
        );
    }
    wait_ready(&nodes);
    nodes
}

/// Waits (at most 15 s each) until every node's `/ready` is 200: it sees
/// a majority and has settled the cluster's members, so it takes writes.
pub fn wait_ready(nodes: &[TestServer]) {
    for node in nodes {
        assert!(
            wait_for(Duration::from_secs(15), || node.http("/ready").0 == 200),
            "node on {} not ready: {}",
            node.ip,
            node.http("/ready").1
        );
    }
}

/// A gauge's value in a node's `/metrics`.
pub fn gauge(node: &TestServer, name: &str) -> f64 {
    let metrics = node.http("/metrics").1;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Claims stored over all `nodes` (each is on two).
pub fn stored(nodes: &[TestServer]) -> f64 {
    nodes
        .iter()
        .map(|n| gauge(n, "stemedb_assertions_stored"))
        .sum()
}
