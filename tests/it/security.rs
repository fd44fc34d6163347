//! Security on separate hosts (docs/operations.md, "Security"): the
//! certificates `stemedb cert` makes, mutual TLS between nodes, the
//! cluster keyring, the admin port's token, and what a password login
//! offers and reports.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::cluster::{ClusterPorts, listing, members, node_env, start_node, wait_for};
use crate::support::{BINARY, TestServer, free_port, stemedb_ok};

/// `stemedb cert` into `dir`: a CA, a node certificate for 127.0.0.n per
/// node, and a client certificate for `alice`.
fn certificates(dir: &Path, nodes: u8) {
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

fn tls_env(certs: &Path, n: u8) -> Vec<(String, String)> {
    let file = |f: String| certs.join(f).to_str().unwrap().to_string();
    vec![
        ("STEMEDB_CLUSTER__TLS".into(), "true".into()),
        ("STEMEDB_TLS_CERT".into(), file(format!("node{n}.crt"))),
        ("STEMEDB_TLS_KEY".into(), file(format!("node{n}.key"))),
        ("STEMEDB_TLS_CA".into(), file("ca.crt".into())),
    ]
}

#[test]
fn cert_writes_keys_for_their_owner_only_and_never_replaces_one() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    certificates(tmp.path(), 1);
    for key in ["ca.key", "node1.key", "client.alice.key"] {
        let mode = std::fs::metadata(tmp.path().join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let again = Command::new(&*BINARY)
        .args(["cert", "create-ca", "--certs-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    // openssl agrees the certificates chain to the CA (when it is here).
    if let Ok(out) = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(tmp.path().join("ca.crt"))
        .arg(tmp.path().join("node1.crt"))
        .arg(tmp.path().join("client.alice.crt"))
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn nodes_replicate_over_mutual_tls_and_refuse_a_node_of_another_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    certificates(&certs, 3);
    // A fourth node with a certificate of its own CA, same secret.
    let foreign = tmp.path().join("foreign");
    let f = foreign.to_str().unwrap();
    stemedb_ok(["cert", "create-ca", "--certs-dir", f]);
    stemedb_ok([
        "cert",
        "create-node",
        "--certs-dir",
        f,
        "node4",
        "127.0.0.4",
    ]);

    let ports = ClusterPorts::free();
    let nodes: Vec<TestServer> = (1..=3u8)
        .map(|n| {
            let mut env = node_env(n, ports, Some("s3cret"));
            env.extend(tls_env(&certs, n));
            start_node(&tmp.path().join(format!("node{n}")), n, &env)
        })
        .collect();
    let everyone = listing(&[("node1", "UP"), ("node2", "UP"), ("node3", "UP")]);
    for node in &nodes {
        assert!(
            wait_for(Duration::from_secs(15), || members(node) == everyone),
            "{}",
            members(node)
        );
    }
    crate::support::cluster::wait_ready(&nodes);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let one = nodes[0].connect().await;
        for i in 0..20 {
            one.execute(
                "INSERT INTO assertions (subject, predicate, object, source) VALUES ($1, 'p', 'o', 's')",
                &[&format!("tls-{i}")],
            )
            .await
            .unwrap();
        }
        // Every claim reached two nodes over TLS: the cluster reads all
        // twenty from the third.
        let three = nodes[2].connect().await;
        let n: i64 = three
            .query_one("SELECT count(*) FROM assertions WHERE subject LIKE 'tls-%'", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 20);
    });

    let mut env = node_env(4, ports, Some("s3cret"));
    let file = |f: &str| foreign.join(f).to_str().unwrap().to_string();
    env.extend([
        ("STEMEDB_CLUSTER__TLS".into(), "true".into()),
        ("STEMEDB_TLS_CERT".into(), file("node4.crt")),
        ("STEMEDB_TLS_KEY".into(), file("node4.key")),
        ("STEMEDB_TLS_CA".into(), file("ca.crt")),
    ]);
    let stranger = start_node(&tmp.path().join("node4"), 4, &env);
    let refused = "refused a connection without a certificate of this cluster's CA";
    assert!(
        wait_for(Duration::from_secs(20), || {
            nodes.iter().any(|n| !n.log_lines(refused).is_empty())
                && !stranger.log_lines("TLS to a peer failed").is_empty()
        }),
        "no refusal logged"
    );
    let line = nodes
        .iter()
        .flat_map(|n| n.log_lines(refused))
        .next()
        .unwrap();
    assert!(
        line.contains("127.0.0.4"),
        "the refusal names the address: {line}"
    );
    // It cannot be added: no claim can reach it.
    rt.block_on(async {
        let one = nodes[0].connect().await;
        let error = one
            .query_one("SELECT stemedb_add_member('node4')", &[])
            .await
            .unwrap_err();
        let message = error.as_db_error().map(|e| e.message().to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("certificate")),
            "{message:?}"
        );
    });
}

#[test]
fn a_node_with_no_secret_of_the_keyring_never_joins() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let mut env = node_env(1, ports, None);
    env.push(("STEMEDB_CLUSTER__SECRETS".into(), "[\"k1\", \"k2\"]".into()));
    let one = start_node(&tmp.path().join("node1"), 1, &env);
    let mut env = node_env(2, ports, Some("other"));
    env.retain(|(k, _)| k != "STEMEDB_CLUSTER__SEEDS");
    env.push((
        "STEMEDB_CLUSTER__SEEDS".into(),
        format!("[\"127.0.0.1:{}\"]", ports.swim),
    ));
    let two = start_node(&tmp.path().join("node2"), 2, &env);
    let refused = "no secret of this node's keyring opens";
    assert!(
        wait_for(Duration::from_secs(15), || !one
            .log_lines(refused)
            .is_empty()),
        "node1 logged no refusal"
    );
    assert!(members(&one).contains("\"node1\""));
    assert!(!members(&one).contains("node2"), "{}", members(&one));
    assert!(!members(&two).contains("node1"), "{}", members(&two));
    // A node in the middle of a rotation — sealing with node1's second
    // secret, still taking its first — joins.
    let mut env = node_env(3, ports, None);
    env.push(("STEMEDB_CLUSTER__SECRETS".into(), "[\"k2\", \"k1\"]".into()));
    env.retain(|(k, _)| k != "STEMEDB_CLUSTER__SEEDS");
    env.push((
        "STEMEDB_CLUSTER__SEEDS".into(),
        format!("[\"127.0.0.1:{}\"]", ports.swim),
    ));
    let three = start_node(&tmp.path().join("node3"), 3, &env);
    assert!(
        wait_for(Duration::from_secs(15), || members(&one).contains("node3")
            && members(&three).contains("node1")),
        "{} / {}",
        members(&one),
        members(&three)
    );
}

/// `GET path` with a bearer token: the status code.
fn get_with_token(server: &TestServer, path: &str, token: Option<&str>) -> u16 {
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

fn psql(conn: &str, sql: &str, password: Option<&str>) -> (bool, String, String) {
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

#[test]
fn clients_log_in_by_certificate_or_password_and_a_refusal_names_the_user() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    certificates(&certs, 1);
    let dir = certs.to_str().unwrap();
    stemedb_ok(["cert", "create-client", "--certs-dir", dir, "stemedb"]);
    let file = |f: &str| certs.join(f).to_str().unwrap().to_string();
    let server = TestServer::start_with(&[
        ("STEMEDB_PASSWORD", "pw-1"),
        ("STEMEDB_TLS_CERT", &file("node1.crt")),
        ("STEMEDB_TLS_KEY", &file("node1.key")),
        ("STEMEDB_TLS_CA", &file("ca.crt")),
    ]);
    let port = server.port;
    // verify-full: the server's certificate is checked against the CA and
    // the host name; the client's certificate logs in as its CN.
    let verified = format!(
        "host=localhost port={port} user=stemedb dbname=stemedb sslmode=verify-full \
         sslrootcert={} sslcert={} sslkey={}",
        file("ca.crt"),
        file("client.stemedb.crt"),
        file("client.stemedb.key")
    );
    let (ok, out, err) = psql(&verified, "SELECT current_user", None);
    assert!(ok, "{err}");
    assert_eq!(out, "stemedb");
    let logins = server.log_lines("stemedb::audit");
    assert!(
        logins
            .iter()
            .any(|l| l.contains("login") && l.contains("certificate")),
        "{logins:?}"
    );
    // A certificate for another user does not log in as stemedb.
    let alice = format!(
        "host=localhost port={port} user=stemedb dbname=stemedb sslmode=verify-full \
         sslrootcert={} sslcert={} sslkey={}",
        file("ca.crt"),
        file("client.alice.crt"),
        file("client.alice.key")
    );
    let (ok, _, err) = psql(&alice, "SELECT 1", None);
    assert!(!ok, "alice's certificate logged in as stemedb");
    assert!(err.contains("password"), "{err}");
    // verify-full with a password (no client certificate): SCRAM, with
    // channel binding offered.
    let with_password = format!(
        "host=localhost port={port} user=stemedb dbname=stemedb sslmode=verify-full \
         sslrootcert={}",
        file("ca.crt")
    );
    let (ok, _, err) = psql(&with_password, "SELECT 1", Some("pw-1"));
    assert!(ok, "{err}");
    // Without TLS only SCRAM-SHA-256 is offered, so libpq logs in.
    let plain = format!("host=127.0.0.1 port={port} user=stemedb dbname=stemedb sslmode=disable");
    let (ok, _, err) = psql(&plain, "SELECT 1", Some("pw-1"));
    assert!(ok, "{err}");
    let (ok, _, err) = psql(&plain, "SELECT 1", Some("wrong"));
    assert!(!ok);
    assert!(
        err.contains("password authentication failed for user \"stemedb\""),
        "{err}"
    );
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

/// Node `n`'s configuration file holding the keyring `secrets`.
fn keyring_file(dir: &Path, n: u8, secrets: &[&str]) -> std::path::PathBuf {
    let file = dir.join(format!("node{n}.toml"));
    let listed: Vec<String> = secrets.iter().map(|s| format!("{s:?}")).collect();
    std::fs::write(
        &file,
        format!("[cluster]\nsecrets = [{}]\n", listed.join(", ")),
    )
    .unwrap();
    file
}

/// The rotation runbook of docs/operations.md, step by step on every node
/// in turn, with `SELECT stemedb_reload_config()`, under eight writers.
#[tokio::test(flavor = "multi_thread")]
async fn the_keyring_rotates_online_under_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let nodes: Vec<TestServer> = (1..=3u8)
        .map(|n| {
            let file = keyring_file(tmp.path(), n, &["k1"]);
            let mut env = node_env(n, ports, None);
            env.push(("STEMEDB_REPLICATION__SYNC_INTERVAL".into(), "2s".into()));
            env.push((
                crate::support::CONFIG_FILE.into(),
                file.to_str().unwrap().into(),
            ));
            start_node(&tmp.path().join(format!("node{n}")), n, &env)
        })
        .collect();
    crate::support::cluster::wait_ready(&nodes);
    let load = crate::support::faults::Load::start("rotate", &nodes);
    load.progress(200, Duration::from_secs(60)).await;
    let steps: [&[&str]; 3] = [&["k1", "k2"], &["k2", "k1"], &["k2"]];
    for secrets in steps {
        for (i, node) in nodes.iter().enumerate() {
            keyring_file(tmp.path(), i as u8 + 1, secrets);
            let report: String = node
                .connect()
                .await
                .query_one("SELECT stemedb_reload_config()", &[])
                .await
                .unwrap()
                .get(0);
            assert!(
                report.contains(&format!("cluster keyring ({} secrets)", secrets.len())),
                "{report}"
            );
            load.progress(100, Duration::from_secs(60)).await;
        }
    }
    let everyone = listing(&[("node1", "UP"), ("node2", "UP"), ("node3", "UP")]);
    for node in &nodes {
        assert_eq!(members(node), everyone);
    }
    let report = load.check(&nodes).await;
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(
        report.refused, 0,
        "a write was refused while rotating: {report:?}"
    );
    // The old secret is gone: a node holding only it is refused.
    let mut env = node_env(4, ports, Some("k1"));
    env.retain(|(k, _)| k != "STEMEDB_CLUSTER__SEEDS");
    env.push((
        "STEMEDB_CLUSTER__SEEDS".into(),
        format!("[\"127.0.0.1:{}\"]", ports.swim),
    ));
    let old = start_node(&tmp.path().join("node4"), 4, &env);
    assert!(
        wait_for(Duration::from_secs(15), || !nodes[0]
            .log_lines("no secret of this node's keyring opens")
            .is_empty()),
        "a node with the retired secret was not refused"
    );
    assert!(!members(&nodes[0]).contains("node4"));
    drop(old);
}

#[test]
fn psycopg_and_pgjdbc_verify_the_server_and_log_in_with_a_password() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    certificates(&certs, 1);
    let file = |f: &str| certs.join(f).to_str().unwrap().to_string();
    let server = TestServer::start_with(&[
        ("STEMEDB_PASSWORD", "pw-2"),
        ("STEMEDB_TLS_CERT", &file("node1.crt")),
        ("STEMEDB_TLS_KEY", &file("node1.key")),
        ("STEMEDB_TLS_CA", &file("ca.crt")),
    ]);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");
    let port = server.port.to_string();
    for (program, args) in [
        ("python3", vec!["tls_psycopg.py"]),
        (
            "java",
            vec!["-cp", "/usr/share/java/postgresql.jar", "TlsJdbc.java"],
        ),
    ] {
        let out = Command::new(program)
            .args(&args)
            .args([port.as_str(), &file("ca.crt"), "pw-2"])
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("{program} (make test installs it): {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(": ok"),
            "{program} {args:?}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Three nodes (TLS between them or not) while a claim carrying `marker`
/// is written through node1 and read back through node3; every byte on the
/// cluster's ports as tcpdump saw it on loopback.
fn capture_cluster_traffic(dir: &Path, tls: bool, marker: &str) -> Vec<u8> {
    let certs = dir.join("certs");
    certificates(&certs, 3);
    let ports = ClusterPorts::free();
    let pcap = dir.join("cluster.pcap");
    let filter = format!("tcp port {} or udp port {}", ports.rpc, ports.swim);
    let mut tcpdump = Command::new("tcpdump")
        .args(["-i", "lo", "-U", "-s", "0", "-w"])
        .arg(&pcap)
        .arg(&filter)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tcpdump (make test installs it)");
    // tcpdump says "listening on lo" once it captures.
    let stderr = tcpdump.stderr.take().unwrap();
    let (ready, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("listening on") {
                let _ = ready.send(());
            }
        }
    });
    listening
        .recv_timeout(Duration::from_secs(10))
        .expect("tcpdump started");
    let nodes: Vec<TestServer> = (1..=3u8)
        .map(|n| {
            let mut env = node_env(n, ports, Some("s3cret"));
            if tls {
                env.extend(tls_env(&certs, n));
            }
            start_node(&dir.join(format!("node{n}")), n, &env)
        })
        .collect();
    crate::support::cluster::wait_ready(&nodes);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let one = nodes[0].connect().await;
        for subject in ["a", "b", "c", "d", "e", "f"] {
            one.execute(
                "INSERT INTO assertions (subject, predicate, object, source) VALUES ($1, 'secret', $2, 'lab')",
                &[&format!("{marker}-{subject}"), &marker],
            )
            .await
            .unwrap();
        }
        // Read back through node3: a remote scan crosses too.
        let three = nodes[2].connect().await;
        let n: i64 = three
            .query_one("SELECT count(*) FROM assertions WHERE object = $1", &[&marker])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 6);
    });
    // A few gossip rounds more.
    std::thread::sleep(Duration::from_secs(2));
    drop(nodes);
    let _ = Command::new("kill")
        .args(["-INT", &tcpdump.id().to_string()])
        .status();
    let _ = tcpdump.wait();
    std::fs::read(&pcap).unwrap()
}

fn holds(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// The capture runs in the test's own network namespace, so it holds this
/// test's traffic only.
#[test]
fn no_claim_crosses_between_nodes_in_clear_text_with_tls() {
    if !crate::support::in_namespace(
        "security::no_claim_crosses_between_nodes_in_clear_text_with_tls",
    ) {
        return;
    }
    let marker = "m4rker-7f3a9c";
    let tmp = tempfile::tempdir().unwrap();
    let clear = capture_cluster_traffic(&tmp.path().join("clear"), false, marker);
    assert!(
        holds(&clear, marker.as_bytes()),
        "without TLS the marker should cross in clear ({} bytes captured): the check \
         could not fail",
        clear.len()
    );
    let sealed = capture_cluster_traffic(&tmp.path().join("tls"), true, marker);
    assert!(
        sealed.len() > 20_000,
        "only {} bytes captured: the capture saw no cluster traffic",
        sealed.len()
    );
    assert!(
        !holds(&sealed, marker.as_bytes()),
        "the marker crossed in clear text with TLS on"
    );
    println!(
        "captured {} bytes in clear (marker present), {} bytes with TLS (marker absent)",
        clear.len(),
        sealed.len()
    );
}

async fn login(
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

fn code(e: &tokio_postgres::Error) -> String {
    crate::support::sqlstate(e)
}

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
    stemedb_ok(["backup", "create", "--to", &url, "--connect", &conn]);
    let dir = tmp.path().join("restored");
    stemedb_ok([
        "backup",
        "restore",
        "--from",
        &url,
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
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
