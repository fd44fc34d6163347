//! Drives the real `psql` against the server: the README tour in
//! miniature, plus TLS with `sslmode=require`.

use std::process::Command;

use crate::support::TestServer;

fn psql(conn: &str, sql: &str) -> (bool, String, String) {
    let out = Command::new("psql")
        .arg(conn)
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql is installed (make test installs postgresql-client)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn psql_runs_the_tour() {
    let server = TestServer::start();
    let conn = format!(
        "host=127.0.0.1 port={} user=stemedb dbname=stemedb",
        server.port
    );
    let (ok, _, err) = psql(
        &conn,
        "INSERT INTO assertions (subject, predicate, object, source, tier, observed_at) VALUES \
         ('aspirin', 'interacts_with', 'warfarin', 'fda', 0, '2020-01-01'), \
         ('aspirin', 'interacts_with', 'nothing', 'forum', 4, '2024-01-01')",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = psql(
        &conn,
        "SELECT object FROM recency WHERE subject = 'aspirin'",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "nothing");
    let (_, out, _) = psql(
        &conn,
        "SELECT object FROM authority WHERE subject = 'aspirin'",
    );
    assert_eq!(out, "warfarin");
    let (_, out, _) = psql(
        &conn,
        "SELECT contested, claims FROM recency WHERE subject = 'aspirin'",
    );
    assert_eq!(out, "t|2");
    let (_, out, _) = psql(
        &conn,
        "SET stemedb.lens = 'authority'; SELECT object FROM beliefs",
    );
    assert!(out.ends_with("warfarin"), "{out:?}");
    // Errors print the SQLSTATE-bearing message and exit non-zero.
    let (ok, _, err) = psql(&conn, "UPDATE assertions SET object = 'x'");
    assert!(!ok);
    assert!(err.contains("immutable"), "{err}");
}

#[test]
fn psql_connects_with_sslmode_require() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("server.crt"), tmp.path().join("server.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let server = TestServer::start_with(&[
        ("STEMEDB_TLS_CERT", cert.to_str().unwrap()),
        ("STEMEDB_TLS_KEY", key.to_str().unwrap()),
        ("STEMEDB_PASSWORD", "tls-pass"),
    ]);
    let conn = format!(
        "host=127.0.0.1 port={} user=stemedb dbname=stemedb sslmode=require password=tls-pass",
        server.port
    );
    let (ok, out, err) = psql(&conn, "SELECT ssl FROM (SELECT true AS ssl) t");
    assert!(ok, "{err}");
    assert_eq!(out, "t");
    let (ok, out, err) = psql(&conn, "\\conninfo");
    assert!(ok, "{err}");
    assert!(out.contains("SSL connection"), "{out}");
}

#[test]
fn psql_backslash_copy_both_ways() {
    let server = TestServer::start();
    let conn = format!(
        "host=127.0.0.1 port={} user=stemedb dbname=stemedb",
        server.port
    );
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("claims.csv");
    std::fs::write(
        &input,
        "subject,predicate,object,source,tier\nip:1,malicious,true,cert,0\nip:1,malicious,false,vendor,3\n",
    )
    .unwrap();
    let (ok, out, err) = psql(
        &conn,
        &format!(
            "\\copy assertions (subject, predicate, object, source, tier) from '{}' with (format csv, header)",
            input.display()
        ),
    );
    assert!(ok, "{err}");
    assert_eq!(out, "COPY 2");
    let output = tmp.path().join("out.csv");
    let (ok, _, err) = psql(
        &conn,
        &format!(
            "\\copy (select subject, object, tier from authority) to '{}' with csv header",
            output.display()
        ),
    );
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "subject,object,tier\nip:1,true,0\n"
    );
}

#[test]
fn psql_meta_commands_describe_the_schema() {
    let server = TestServer::start();
    let conn = format!(
        "host=127.0.0.1 port={} user=stemedb dbname=stemedb",
        server.port
    );
    let (ok, out, err) = psql(&conn, "\\dt");
    assert!(ok, "{err}");
    assert!(
        out.contains("public|assertions|table") && out.contains("public|retractions|table"),
        "{out}"
    );
    let (ok, out, err) = psql(&conn, "\\dv");
    assert!(ok, "{err}");
    for view in ["recency", "authority", "beliefs", "conflicts"] {
        assert!(out.contains(&format!("public|{view}|view")), "{out}");
    }
    let (ok, out, err) = psql(&conn, "\\d assertions");
    assert!(ok, "{err}");
    for (column, ty) in [
        ("id", "text"),
        ("object_number", "double precision"),
        ("tier", "smallint"),
        ("observed_at", "timestamp with time zone"),
        ("retracted", "boolean"),
    ] {
        assert!(
            out.contains(&format!("{column}|{ty}|")),
            "{column} {ty} missing in:\n{out}"
        );
    }
    let (ok, out, err) = psql(&conn, "\\l");
    assert!(ok, "{err}");
    assert!(out.contains("stemedb|"), "{out}");
    let (_, out, _) = psql(&conn, "SELECT version()");
    assert!(out.starts_with("PostgreSQL 16"), "{out}");
    // \df lists functions outside pg_catalog (none: StemeDB has no user
    // functions) and finds built-ins by name, as in PostgreSQL.
    let (ok, out, err) = psql(&conn, "\\df");
    assert!(ok && out.is_empty(), "{out}{err}");
    let (ok, out, err) = psql(&conn, "\\df version");
    assert!(ok && out.starts_with("pg_catalog|version|"), "{out}{err}");
    // Expanded display: one "column|value" line per field.
    let out = Command::new("psql")
        .arg(&conn)
        .args(["-X", "-A", "-c", "\\x on", "-c"])
        .arg("SELECT 'drug:x' AS subject, 2 AS claims")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("subject|drug:x\nclaims|2"), "{out}");
}
