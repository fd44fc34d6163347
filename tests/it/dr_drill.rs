//! The disaster-recovery drill (`deploy/dr-drill.sh`, issue 14) with
//! small data: a node archiving every 2 s — alone, or one of three — loses
//! its data dir under continuous writes and is restored from its backup
//! and archive; the script's own checks (RTO ≤ 5 min, RPO ≤ 1 min) must
//! pass, a single node loses at most about one archive interval and a
//! cluster node nothing.

use std::process::Command;

#[test]
fn the_dr_drill_restores_one_node_within_the_seeds_rto_and_rpo() {
    let report = drill(1);
    assert!(rpo(&report) <= 5.0, "{report}");
}

#[test]
fn the_dr_drill_restores_a_cluster_node_and_loses_nothing() {
    let report = drill(3);
    // The other owner held every write: nothing acknowledged is lost.
    assert!(report.contains("| 0 of "), "{report}");
    assert_eq!(rpo(&report), 0.0, "{report}");
}

/// The RPO line's seconds of writes lost.
fn rpo(report: &str) -> f64 {
    let line = report
        .lines()
        .find(|l| l.starts_with("| RPO"))
        .expect("an RPO line");
    line.split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

/// Runs the drill with `nodes` nodes and small data; its report.
fn drill(nodes: u8) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/dr-drill.sh");
    let ports: Vec<String> = (0..4)
        .map(|_| crate::support::cluster::free_cluster_port().to_string())
        .collect();
    let out = Command::new("bash")
        .arg(script)
        .env("NODES", nodes.to_string())
        .env("RPC_PORT", &ports[2])
        .env("SWIM_PORT", &ports[3])
        .env("STEMEDB_BIN", &*crate::support::BINARY)
        .env("CLAIMS", "10000")
        .env("ARCHIVE_INTERVAL", "2s")
        .env("WRITE_SECONDS", "5")
        .env("SQL_PORT", &ports[0])
        .env("HTTP_PORT", &ports[1])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}\n{log}");
    eprintln!("{report}");
    assert!(log.contains("archived records replayed"), "{log}");
    let served = report
        .lines()
        .find(|l| l.starts_with("| claims served"))
        .and_then(|l| l.split('|').nth(2))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(served > 10_000, "{report}");
    report.into_owned()
}
