//! The server's logs: JSON lines when asked, the slow-statement log with
//! the statement's text but never its parameters, and an audit line for
//! each login, failed login and refused connection — never a password.

use std::time::{Duration, Instant};

use crate::support::{TestServer, connect_from};

/// Polls the server's log for a line containing every one of `needles`.
fn wait_for_line(server: &TestServer, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = server
            .log_lines(needles[0])
            .into_iter()
            .find(|l| needles.iter().all(|n| l.contains(n)));
        if let Some(line) = found {
            return line;
        }
        assert!(Instant::now() < deadline, "no log line with {needles:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn json_logs_audit_and_slow_statements() {
    let server = TestServer::start_with(&[
        ("STEMEDB_LOG_FORMAT", "json"),
        ("STEMEDB_LOG_MIN_DURATION_STATEMENT", "0"),
        ("STEMEDB_PASSWORD", "s3cret-horse"),
        ("STEMEDB_MAX_CONNECTIONS", "1"),
    ]);
    // Every line is one JSON object.
    let ready = wait_for_line(&server, &["StemeDB is ready"]);
    let parsed: serde_json::Value = serde_json::from_str(&ready).expect("a JSON log line");
    assert_eq!(parsed["level"], "INFO", "{ready}");

    let wrong = connect_from([127, 0, 0, 7], server.port, Some("guess")).await;
    assert!(wrong.is_err());
    let failed = wait_for_line(&server, &["login failed", "127.0.0.7"]);
    assert!(failed.contains("\"user\":\"stemedb\""), "{failed}");

    let client = connect_from([127, 0, 0, 8], server.port, Some("s3cret-horse"))
        .await
        .unwrap();
    wait_for_line(&server, &["\"login\"", "127.0.0.8", "scram-sha-256"]);
    // A second client is over max_connections (1): refused, and audited.
    let refused = connect_from([127, 0, 0, 9], server.port, Some("s3cret-horse")).await;
    assert!(refused.is_err());
    wait_for_line(
        &server,
        &["connection refused", "127.0.0.9", "max_connections"],
    );

    let secret_value = "parameter-value-never-logged";
    client
        .query(
            "SELECT object FROM recency WHERE subject = $1",
            &[&secret_value],
        )
        .await
        .unwrap();
    let slow = wait_for_line(&server, &["slow statement", "WHERE subject = $1"]);
    let parsed: serde_json::Value = serde_json::from_str(&slow).unwrap();
    assert!(parsed["duration_ms"].as_f64().is_some(), "{slow}");
    assert_eq!(parsed["kind"], "Point", "{slow}");

    let everything = server.log.lock().unwrap().join("\n");
    assert!(!everything.contains(secret_value), "a parameter was logged");
    assert!(
        !everything.contains("s3cret-horse"),
        "a password was logged"
    );
    assert!(!everything.contains("guess"), "a password was logged");
}
