//! Roles: made on one node, logging in everywhere, each doing only what
//! it was granted; kept across restarts and in backups.

use std::time::Duration;

use super::{code, login, psql};
use crate::support::TestServer;
use crate::support::cluster::{ClusterPorts, node_env, start_node, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn roles_made_on_one_node_log_in_everywhere_and_may_do_only_what_they_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let start = |n: u8| {
        let mut env = node_env(n, ports, None);
        env.push(("STEMEDB_PASSWORD".into(), "boot".into()));
        env.push(("STEMEDB_REPLICATION__SYNC_INTERVAL".into(), "1s".into()));
        start_node(&tmp.path().join(format!("node{n}")), n, &env)
    };
    let mut nodes: Vec<TestServer> = (1..=3u8).map(start).collect();
    crate::support::cluster::wait_ready(&nodes);
    let admin = login(&nodes[0], "stemedb", "boot").await.unwrap();
    admin
        .batch_execute(
            "CREATE ROLE analyst LOGIN PASSWORD 'a-pw';
             GRANT pg_read_all_data TO analyst;
             CREATE ROLE ingest LOGIN PASSWORD 'i-pw';
             GRANT pg_write_all_data TO ingest;
             CREATE ROLE ops LOGIN PASSWORD 'o-pw';
             GRANT stemedb_admin TO ops;
             CREATE ROLE nologin PASSWORD 'n-pw';
             INSERT INTO assertions (subject, predicate, object, source) VALUES ('s', 'p', 'o', 'src')",
        )
        .await
        .unwrap();
    let made = std::time::Instant::now();
    // On node3 within a second or so (sent to every member at once).
    let analyst = loop {
        match login(&nodes[2], "analyst", "a-pw").await {
            Ok(c) => break c,
            Err(e) if made.elapsed() < Duration::from_secs(5) => {
                assert_eq!(code(&e), "28P01", "{e:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("analyst cannot log in on node3: {e:?}"),
        }
    };
    println!(
        "a role made on node1 logged in on node3 after {:?}",
        made.elapsed()
    );
    assert!(
        made.elapsed() < Duration::from_secs(2),
        "{:?}",
        made.elapsed()
    );
    let n: i64 = analyst
        .query_one("SELECT count(*) FROM assertions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // The catalog stays readable (psql's \d), data writes do not.
    analyst
        .query("SELECT rolname FROM pg_catalog.pg_roles", &[])
        .await
        .unwrap();
    for refused in [
        "INSERT INTO assertions (subject, predicate, object, source) VALUES ('x', 'p', 'o', 's')",
        "COPY assertions (subject, predicate, object, source) FROM STDIN",
        "SELECT stemedb_sync()",
        "SELECT stemedb_reload_config()",
        "CREATE ROLE sneaky LOGIN PASSWORD 'x'",
        "GRANT stemedb_admin TO analyst",
    ] {
        let e = analyst.simple_query(refused).await.unwrap_err();
        assert_eq!(code(&e), "42501", "{refused}: {e:?}");
    }
    // The connection is still usable after each refusal.
    analyst.query_one("SELECT 1", &[]).await.unwrap();

    let ingest = login(&nodes[1], "ingest", "i-pw").await.unwrap();
    ingest
        .execute(
            "INSERT INTO assertions (subject, predicate, object, source) VALUES ('t', 'p', 'o', 's')",
            &[],
        )
        .await
        .unwrap();
    let e = ingest
        .query("SELECT * FROM recency", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42501");
    let ops = login(&nodes[2], "ops", "o-pw").await.unwrap();
    let report: String = ops
        .query_one("SELECT stemedb_sync()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(report.contains("node"), "{report}");

    // Wrong passwords, roles without LOGIN, roles that do not exist.
    for (user, password) in [("analyst", "wrong"), ("nologin", "n-pw"), ("nobody", "x")] {
        let e = login(&nodes[2], user, password).await.unwrap_err();
        assert_eq!(code(&e), "28P01", "{user}: {e:?}");
        let message = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(message.contains(&format!("\"{user}\"")), "{message}");
    }
    // A new password, and a dropped role, hold everywhere.
    admin
        .batch_execute("ALTER ROLE analyst PASSWORD 'a-pw-2'; DROP ROLE ingest")
        .await
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || {
            let rt = tokio::runtime::Handle::current();
            let node = &nodes[2];
            std::thread::scope(|s| {
                s.spawn(|| {
                    rt.block_on(async {
                        login(node, "analyst", "a-pw-2").await.is_ok()
                            && login(node, "ingest", "i-pw").await.is_err()
                    })
                })
                .join()
                .unwrap()
            })
        }),
        "ALTER and DROP did not reach node3"
    );
    // A restarted node keeps the roles.
    nodes[2].terminate();
    nodes[2] = start(3);
    login(&nodes[2], "analyst", "a-pw-2").await.unwrap();
    assert!(login(&nodes[2], "analyst", "a-pw").await.is_err());
    // The CLI reports the server's refusal, not "db error".
    let url = format!("file://{}", tmp.path().join("backups").display());
    let conn = format!(
        "host={} port={} user=analyst password=a-pw-2 dbname=stemedb",
        nodes[0].ip, nodes[0].port
    );
    let out = std::process::Command::new(&*crate::support::BINARY)
        .args(["backup", "create", "--to", &url, "--connect", &conn])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("permission denied") && stderr.contains("42501"),
        "{stderr}"
    );
    // psql's \du lists them.
    let conn = format!(
        "host={} port={} user=stemedb dbname=stemedb",
        nodes[0].ip, nodes[0].port
    );
    let (ok, out, err) = psql(&conn, "\\du", Some("boot"));
    assert!(ok, "{err}");
    assert!(out.contains("analyst") && out.contains("ops"), "{out}");
    assert!(!out.contains("ingest"), "a dropped role is listed: {out}");
    // The audit log names the user of each login and role change.
    let audit = nodes[0].log_lines("stemedb::audit");
    assert!(
        audit
            .iter()
            .any(|l| l.contains("role changed") && l.contains("CREATE ROLE analyst")),
        "{audit:?}"
    );
    assert!(
        !audit.iter().any(|l| l.contains("a-pw")),
        "a password in the log"
    );
}

/// A backup carries the roles: restored elsewhere, a role logs in with its
/// password and keeps its grants.
#[tokio::test(flavor = "multi_thread")]
async fn roles_survive_a_backup_and_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(&[("STEMEDB_PASSWORD", "boot")]);
    let admin = login(&server, "stemedb", "boot").await.unwrap();
    admin
        .batch_execute(
            "CREATE ROLE analyst LOGIN PASSWORD 'a-pw'; GRANT pg_read_all_data TO analyst",
        )
        .await
        .unwrap();
    let url = format!("file://{}", tmp.path().join("backups").display());
    let conn = format!("{} password=boot", server.conn_str());
    let dir = tmp.path().join("restored");
    crate::support::backup_and_restore(&conn, &url, &dir);
    let copy = TestServer::start_in(&dir, &[("STEMEDB_PASSWORD", "boot")]).unwrap();
    let analyst = login(&copy, "analyst", "a-pw").await.unwrap();
    analyst
        .query_one("SELECT count(*) FROM assertions", &[])
        .await
        .unwrap();
    let e = analyst
        .simple_query("INSERT INTO assertions (subject, predicate, object, source) VALUES ('a', 'b', 'c', 'd')")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42501");
}
