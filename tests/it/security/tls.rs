//! Certificates from `stemedb cert`, client logins over TLS (by
//! certificate or password, from psql, psycopg and pgjdbc), mutual TLS
//! between nodes, and a capture proving no claim crosses in clear text.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{certificates, psql, tls_env};
use crate::support::cluster::{ClusterPorts, listing, members, node_env, start_node, wait_for};
use crate::support::{BINARY, TestServer, stemedb_ok};

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
        "security::tls::no_claim_crosses_between_nodes_in_clear_text_with_tls",
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
