//! The client matrix: real client programs in other languages, each
//! asserting values and types against a fresh server. Each program's
//! runtime must be installed (`make test` installs them); a missing one
//! fails the test rather than skipping it.

use std::process::Command;

use crate::support::TestServer;

fn run_client(program: &str, args: &[&str]) {
    let server = TestServer::start();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");
    let port = server.port.to_string();
    let out = Command::new(program)
        .args(args)
        .arg(&port)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is not installed ({e}); run `make test-deps`"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(": ok"), "{stdout}\n{stderr}");
}

#[test]
fn psycopg3() {
    run_client("python3", &["psycopg_client.py"]);
}

#[test]
fn asyncpg() {
    run_client("python3", &["asyncpg_client.py"]);
}

/// `LISTEN stemedb_changes` (docs/changes.md): psycopg's `notifies()` and
/// asyncpg's `add_listener` are woken within a second of a write, also
/// after a cancelled query; `UNLISTEN` and `UNLISTEN *` stop them.
#[test]
fn python_listeners_are_woken_by_new_changes() {
    run_client("python3", &["listen_clients.py"]);
}

/// node-postgres's `notification` event, likewise.
#[test]
fn node_postgres_listener_is_woken_by_new_changes() {
    run_client("node", &["node_pg_listen.js"]);
}

#[test]
fn pgcli_in_a_terminal() {
    run_client("python3", &["pgcli_client.py"]);
}

#[test]
fn sqlalchemy_and_pandas() {
    run_client("python3", &["sqlalchemy_client.py"]);
}

#[tokio::test]
async fn pgbench_with_a_custom_script() {
    let server = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("claims.sql");
    std::fs::write(
        &script,
        "\\set s random(1, 100)\n\
         INSERT INTO assertions (subject, predicate, object, source, tier) VALUES (:s, 'p', 'o', 'pgbench', 3);\n\
         SELECT object, tier FROM recency WHERE subject = :s;\n",
    )
    .unwrap();
    let out = Command::new("pgbench")
        .args([
            "-n", "-M", "prepared", "-c", "4", "-j", "2", "-t", "25", "-f",
        ])
        .arg(&script)
        .arg(server.conn_str())
        .output()
        .expect("pgbench is installed (make test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("number of transactions actually processed: 100/100"),
        "{stdout}"
    );
    let client = server.connect().await;
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM assertions WHERE source = 'pgbench'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100);
}

#[test]
fn node_postgres() {
    run_client("node", &["node_pg_client.js"]);
}

#[test]
fn pgjdbc() {
    run_client(
        "java",
        &["-cp", "/usr/share/java/postgresql.jar", "JdbcClient.java"],
    );
}

#[tokio::test]
async fn pgbouncer_in_transaction_pooling_mode() {
    // deploy/pgbouncer as shipped (SCRAM, transaction pooling), with this
    // test's ports and paths.
    let server = TestServer::start_with(&[("STEMEDB_PASSWORD", "change-me")]);
    let bouncer = crate::support::pgbouncer::Pgbouncer::start(server.port, 1);
    let client = bouncer.connect("stemedb").await;
    // Simple-protocol statements and a transaction, through the pooler.
    client
        .batch_execute(
            "BEGIN; INSERT INTO assertions (subject, predicate, object, source) VALUES ('via', 'p', 'bouncer', 's'); COMMIT",
        )
        .await
        .unwrap();
    let rows = client
        .simple_query("SELECT object FROM recency WHERE subject = 'via'")
        .await
        .unwrap();
    let object = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(object.as_deref(), Some("bouncer"));
}
