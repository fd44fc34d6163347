//! The client matrix: real client programs in other languages, each
//! asserting values and types against a fresh server. Each program's
//! runtime must be installed (`make test` installs them); a missing one
//! fails the test rather than skipping it.

mod support;

use std::process::Command;

use support::TestServer;

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
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = support::free_port();
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/pgbouncer");
    std::fs::copy(deploy.join("userlist.txt"), dir.join("users.txt")).unwrap();
    let ini = std::fs::read_to_string(deploy.join("pgbouncer.ini")).unwrap();
    let ini: Vec<String> = ini
        .lines()
        .map(|line| {
            let key = line.split('=').next().unwrap_or("").trim();
            match key {
                "listen_port" => format!("listen_port = {port}"),
                "auth_file" => format!("auth_file = {}/users.txt", dir.display()),
                "logfile" => format!("logfile = {}/pgbouncer.log", dir.display()),
                "pidfile" => format!("pidfile = {}/pgbouncer.pid", dir.display()),
                "stemedb" => line.replace("port=18180", &format!("port={}", server.port)),
                _ => line.to_string(),
            }
        })
        .collect();
    assert!(ini.iter().any(|l| l == "pool_mode = transaction"));
    std::fs::write(dir.join("pgbouncer.ini"), ini.join("\n")).unwrap();
    // pgbouncer refuses to run as root; -u drops to the postgres user.
    let mut cmd = Command::new("pgbouncer");
    if running_as_root() {
        std::process::Command::new("chmod")
            .args(["-R", "a+rwx"])
            .arg(dir)
            .status()
            .unwrap();
        cmd.args(["-u", "postgres"]);
    }
    let mut bouncer = cmd
        .arg(dir.join("pgbouncer.ini"))
        .spawn()
        .expect("pgbouncer is installed (make test installs it)");
    let conn = format!("host=127.0.0.1 port={port} user=stemedb dbname=stemedb password=change-me");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let client = loop {
        match support::connect(&conn).await {
            Ok(c) => break c,
            Err(e) if std::time::Instant::now() > deadline => {
                let _ = bouncer.kill();
                panic!("pgbouncer never accepted: {e}");
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
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
    let _ = bouncer.kill();
    let _ = bouncer.wait();
    assert_eq!(object.as_deref(), Some("bouncer"));
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}
