//! Security on separate hosts (docs/operations.md, "Security"), one file
//! per subject: [`tls`] (certificates, TLS for clients and between nodes,
//! what crosses the network), [`keyring`] (the cluster secret and its
//! rotation), [`admin_port`] (the admin token and reloads), [`roles`].
//! Here: what they share.

mod admin_port;
mod keyring;
mod roles;
mod tls;

use std::path::Path;
use std::process::Command;

use crate::support::{TestServer, stemedb_ok};

/// `stemedb cert` into `dir`: a CA, a node certificate for 127.0.0.n per
/// node, and a client certificate for `alice`.
pub fn certificates(dir: &Path, nodes: u8) {
    let dir = dir.to_str().unwrap();
    stemedb_ok(["cert", "create-ca", "--certs-dir", dir]);
    for n in 1..=nodes {
        let (name, ip) = (format!("node{n}"), format!("127.0.0.{n}"));
        stemedb_ok([
            "cert",
            "create-node",
            "--certs-dir",
            dir,
            &name,
            &ip,
            "localhost",
        ]);
    }
    stemedb_ok(["cert", "create-client", "--certs-dir", dir, "alice"]);
}

pub fn tls_env(certs: &Path, n: u8) -> Vec<(String, String)> {
    let file = |f: String| certs.join(f).to_str().unwrap().to_string();
    vec![
        ("STEMEDB_CLUSTER__TLS".into(), "true".into()),
        ("STEMEDB_TLS_CERT".into(), file(format!("node{n}.crt"))),
        ("STEMEDB_TLS_KEY".into(), file(format!("node{n}.key"))),
        ("STEMEDB_TLS_CA".into(), file("ca.crt".into())),
    ]
}

pub fn psql(conn: &str, sql: &str, password: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.arg(conn)
        .args(["-X", "-A", "-t", "-w", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().expect("psql is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `GET path` with a bearer token: the status code.
pub fn get_with_token(server: &TestServer, path: &str, token: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((server.ip.as_str(), server.http_port)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n{auth}\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

pub async fn login(
    node: &TestServer,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    crate::support::connect(&format!(
        "host={} port={} user={user} password={password} dbname=stemedb",
        node.ip, node.port
    ))
    .await
}

pub fn code(e: &tokio_postgres::Error) -> String {
    crate::support::sqlstate(e)
}
