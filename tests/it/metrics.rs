//! `GET /metrics` of a live node after real work: every metric docs/operations.md lists
//! is exported with values that match what was done, and `promtool check
//! metrics` accepts the text.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::TestServer;

fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("{key} is not exported"))
}

/// The names docs/operations.md lists (histograms by their `_count`).
const REQUIRED: &[&str] = &[
    "stemedb_statements_total",
    "stemedb_query_duration_seconds_count",
    "stemedb_wal_fsync_duration_seconds_count",
    "stemedb_commit_batch_size_count",
    "stemedb_connections",
    "stemedb_connections_refused_total",
    "stemedb_auth_failures_total",
    "stemedb_rate_limited_total",
    "stemedb_disk_bytes",
];

#[tokio::test]
async fn metrics_show_what_the_node_did() {
    let server = TestServer::start();
    let client = server.connect().await;
    for i in 0..20 {
        client
            .execute(
                "INSERT INTO assertions (subject, predicate, object, source) VALUES ($1, 'p', 'o', 's')",
                &[&format!("s{i}")],
            )
            .await
            .unwrap();
    }
    for i in 0..5 {
        client
            .query(
                "SELECT object FROM recency WHERE subject = $1",
                &[&format!("s{i}")],
            )
            .await
            .unwrap();
    }
    client
        .query("SELECT count(*) FROM conflicts", &[])
        .await
        .unwrap();
    client.simple_query("SELECT 1/0").await.unwrap_err();
    let copy = client
        .copy_in(
            "COPY assertions (subject, predicate, object, source) FROM STDIN WITH (FORMAT csv)",
        )
        .await
        .unwrap();
    {
        use futures::SinkExt;
        let mut copy = Box::pin(copy);
        copy.send(bytes::Bytes::from_static(b"c1,p,o,s\nc2,p,o,s\n"))
            .await
            .unwrap();
        copy.as_mut().finish().await.unwrap();
    }

    let (status, text) = crate::support::http_get(server.http_port, "/metrics");
    assert_eq!(status, 200);
    let s = crate::support::metric_samples(&text);
    for name in REQUIRED {
        assert!(
            s.keys()
                .any(|k| k == name || k.starts_with(&format!("{name}{{"))),
            "{name} is not exported:\n{text}"
        );
    }
    let statements = |kind: &str, outcome: &str| {
        value(
            &s,
            &format!("stemedb_statements_total{{kind=\"{kind}\",outcome=\"{outcome}\"}}"),
        )
    };
    assert!(statements("write", "ok") >= 20.0);
    assert!(statements("point", "ok") >= 5.0);
    assert!(statements("scan", "ok") >= 1.0);
    assert!(statements("scan", "error") >= 1.0);
    assert_eq!(statements("copy", "ok"), 1.0);
    assert!(value(&s, "stemedb_query_duration_seconds_count{kind=\"point\"}") >= 5.0);
    assert!(value(&s, "stemedb_wal_fsync_duration_seconds_count") >= 21.0);
    assert!(value(&s, "stemedb_commit_batch_size_sum") >= 21.0);
    assert_eq!(value(&s, "stemedb_connections"), 1.0);
    assert!(value(&s, "stemedb_keys{cf=\"assertions\"}") >= 22.0);
    assert_eq!(value(&s, "stemedb_auth_failures_total"), 0.0);
    // Background work is reported (a count, zero or more).
    assert!(value(&s, "stemedb_compactions_running") >= 0.0);
    assert!(value(&s, "stemedb_flushes_running") >= 0.0);

    // promtool, the Prometheus project's own checker, accepts the text.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (package prometheus; `make test` installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
