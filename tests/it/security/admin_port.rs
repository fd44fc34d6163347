//! The admin port: its token, the refusal to open it without one, and a
//! reload reading the token again.

use std::process::Command;
use std::time::Duration;

use super::get_with_token;
use crate::support::cluster::wait_for;
use crate::support::{BINARY, TestServer, free_port};

#[test]
fn the_admin_port_needs_its_token_except_for_health_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("http.token");
    std::fs::write(&token, "t0ken-one\n").unwrap();
    let server = TestServer::start_with(&[("STEMEDB_HTTP_TOKEN_FILE", token.to_str().unwrap())]);
    assert_eq!(get_with_token(&server, "/health", None), 200);
    assert_eq!(get_with_token(&server, "/ready", None), 200);
    for path in ["/metrics", "/cluster/members", "/nothing-here"] {
        assert_eq!(get_with_token(&server, path, None), 401, "{path}");
        assert_eq!(get_with_token(&server, path, Some("wrong")), 401, "{path}");
    }
    assert_eq!(get_with_token(&server, "/metrics", Some("t0ken-one")), 200);
    assert_eq!(
        get_with_token(&server, "/cluster/members", Some("t0ken-one")),
        200
    );
}

#[test]
fn refuses_an_open_admin_port_without_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(&*BINARY)
        .args(["serve", "--data-dir"])
        .arg(tmp.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--http-listen", &format!("0.0.0.0:{}", free_port())])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without a token"), "{stderr}");
    assert!(stderr.contains("http_token_file"), "{stderr}");
}

#[test]
fn a_reload_reads_the_admin_token_again() {
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("http.token");
    std::fs::write(&token, "first").unwrap();
    let config = tmp.path().join("stemedb.toml");
    std::fs::write(
        &config,
        format!("http_token_file = {:?}\n", token.to_str().unwrap()),
    )
    .unwrap();
    let server = TestServer::start_with(&[(crate::support::CONFIG_FILE, config.to_str().unwrap())]);
    assert_eq!(get_with_token(&server, "/metrics", Some("first")), 200);
    // SIGHUP
    std::fs::write(&token, "second").unwrap();
    Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || get_with_token(
            &server,
            "/metrics",
            Some("second")
        ) == 200),
        "SIGHUP did not reload the token"
    );
    assert_eq!(get_with_token(&server, "/metrics", Some("first")), 401);
    // SELECT stemedb_reload_config(), and a file that cannot be read
    // leaves the token in use.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = server.connect().await;
        std::fs::write(&token, "third").unwrap();
        let report: String = client
            .query_one("SELECT stemedb_reload_config()", &[])
            .await
            .unwrap()
            .get(0);
        assert!(report.contains("admin token"), "{report}");
        assert_eq!(get_with_token(&server, "/metrics", Some("third")), 200);
        std::fs::write(&token, "  \n").unwrap();
        let error = client
            .query_one("SELECT stemedb_reload_config()", &[])
            .await
            .unwrap_err();
        assert!(format!("{error:?}").contains("empty"), "{error:?}");
        assert_eq!(get_with_token(&server, "/metrics", Some("third")), 200);
    });
}
