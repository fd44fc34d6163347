//! Authentication: SCRAM-SHA-256 with the configured password, 28P01 on a
//! wrong one, and a refusal to listen openly without a password.

use std::process::Command;

use crate::support::{BINARY, TestServer, free_port};

#[tokio::test]
async fn scram_login_and_wrong_password() {
    let server = TestServer::start_with(&[("STEMEDB_PASSWORD", "s3cret pass")]);
    let base = format!(
        "host=127.0.0.1 port={} user=stemedb dbname=stemedb",
        server.port
    );

    let client = crate::support::connect(&format!("{base} password='s3cret pass'"))
        .await
        .expect("SCRAM login");
    let row = client.query_one("SELECT 40 + 2", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 42);

    let err = crate::support::connect(&format!("{base} password=wrong"))
        .await
        .expect_err("wrong password refused");
    assert_eq!(err.code().map(|c| c.code()), Some("28P01"), "{err}");

    let err = crate::support::connect(&base)
        .await
        .expect_err("no password refused");
    assert!(
        format!("{err:?}").to_lowercase().contains("password"),
        "{err:?}"
    );

    // The good connection is unaffected by the failed ones.
    assert_eq!(
        client
            .query_one("SELECT 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );
    // A SCRAM login is registered like a trusted one: the failed logins
    // are not, the good one is, as its own backend.
    let rows = client
        .query(
            "SELECT usename, pid = pg_backend_pid() FROM pg_stat_activity",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].get::<_, String>(0), "stemedb");
    assert!(rows[0].get::<_, bool>(1));
}

#[test]
fn refuses_to_listen_openly_without_a_password() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(&*BINARY)
        .args(["serve", "--data-dir"])
        .arg(tmp.path().join("data"))
        .args(["--listen", &format!("0.0.0.0:{}", free_port())])
        .args(["--http-listen", &format!("127.0.0.1:{}", free_port())])
        .env_remove("STEMEDB_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0"), "{stderr}");
    assert!(stderr.contains("password"), "{stderr}");
}

#[test]
fn health_endpoint_answers_200() {
    let server = TestServer::start();
    let (status, body) = crate::support::http_get(server.http_port, "/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"UP\""), "{body}");
    let (status, body) = crate::support::http_get(server.http_port, "/ready");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"READY\""), "{body}");
}
