//! The disaster-recovery drill (`deploy/dr-drill.sh`, issue 14) with
//! small data: a node archiving every 2 s loses its data dir under
//! continuous writes and is restored from its backup and archive; the
//! script's own checks (RTO ≤ 5 min, RPO ≤ 1 min) must pass and its
//! report must show the node serving every claim it restored.

mod support;

use std::process::Command;

#[test]
fn the_dr_drill_restores_within_the_seeds_rto_and_rpo() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/dr-drill.sh");
    let (sql, http) = (support::free_port(), support::free_port());
    let out = Command::new("bash")
        .arg(script)
        .env("STEMEDB_BIN", &*support::BINARY)
        .env("CLAIMS", "10000")
        .env("ARCHIVE_INTERVAL", "2s")
        .env("WRITE_SECONDS", "5")
        .env("SQL_PORT", sql.to_string())
        .env("HTTP_PORT", http.to_string())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}\n{log}");
    eprintln!("{report}");
    let rpo = report
        .lines()
        .find(|l| l.starts_with("| RPO"))
        .expect("an RPO line");
    let seconds: f64 = rpo
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{rpo}"));
    // Archived every 2 s: at most about one interval of writes is lost.
    assert!(seconds <= 5.0, "{rpo}");
    assert!(log.contains("archived records replayed"), "{log}");
    let served = report
        .lines()
        .find(|l| l.starts_with("| claims served"))
        .and_then(|l| l.split('|').nth(2))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(served > 10_000, "{report}");
}
