//! Shared by the integration tests: starts the real `stemedb` binary on a
//! free loopback port with a fresh data dir, waits until it is ready, and
//! stops it when dropped.

#![allow(dead_code)]

pub mod answers;
pub mod cluster;
pub mod faults;
pub mod partition;
pub mod pgbouncer;
mod rng;
pub mod s3;
#[allow(unused_imports)]
pub use rng::Rng;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The server binary: cargo's build of it, or `STEMEDB_BIN` (e.g. the
/// release build, for `make fuzz`).
pub static BINARY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("STEMEDB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_stemedb").to_string())
});

/// Runs the `stemedb` binary with `args`; fails the test with its stderr
/// unless it succeeds.
pub fn stemedb_ok<S: AsRef<std::ffi::OsStr>>(
    args: impl IntoIterator<Item = S>,
) -> std::process::Output {
    let out = Command::new(&*BINARY).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `stemedb backup create` of the node at `conn` to `url`, then `backup
/// restore` of it into `dir` (which must not exist).
pub fn backup_and_restore(conn: &str, url: &str, dir: &Path) {
    stemedb_ok(["backup", "create", "--to", url, "--connect", conn]);
    stemedb_ok([
        "backup",
        "restore",
        "--from",
        url,
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
}

/// A key of a test server's settings that is no variable: the
/// configuration file it is started with (`serve --config FILE`).
pub const CONFIG_FILE: &str = "--config";

pub struct TestServer {
    pub child: Child,
    /// Every line the server wrote to stderr so far.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The loopback address its SQL and HTTP ports listen on.
    pub ip: String,
    pub port: u16,
    pub http_port: u16,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// A free port on 127.0.0.1 (bound then released; fine on loopback).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl TestServer {
    /// A server with a fresh temporary data dir.
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> TestServer {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        let mut s = Self::start_in(&dir, env).expect("server starts");
        s._tmp = Some(tmp);
        s
    }

    /// A server on an existing data dir (restarts keep the dir). A free
    /// port can be taken by another process before the server binds it:
    /// then it tries again on other ports.
    pub fn start_in(dir: &Path, env: &[(&str, &str)]) -> Result<TestServer, String> {
        Self::start_at(dir, "127.0.0.1", env)
    }

    /// A server whose SQL and HTTP ports listen on loopback address `ip`
    /// (e.g. 127.0.0.2, a cluster's second node).
    pub fn start_at(dir: &Path, ip: &str, env: &[(&str, &str)]) -> Result<TestServer, String> {
        let mut attempt = 0;
        loop {
            match Self::start_once(dir, ip, (free_port(), free_port()), env) {
                Err(e) if e.contains("Address already in use") && attempt < 5 => attempt += 1,
                other => return other,
            }
        }
    }

    /// This server started again on its data dir, address and ports (as a
    /// restart under systemd is: a balancer in front still finds it), with
    /// `env`.
    pub fn restart_with(&mut self, env: &[(&str, &str)]) -> Result<TestServer, String> {
        Self::start_once(&self.data_dir, &self.ip, (self.port, self.http_port), env)
    }

    fn start_once(
        dir: &Path,
        ip: &str,
        (port, http_port): (u16, u16),
        env: &[(&str, &str)],
    ) -> Result<TestServer, String> {
        let mut cmd = Command::new(&*BINARY);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(dir)
            .arg("--listen")
            .arg(format!("{ip}:{port}"))
            .arg("--http-listen")
            .arg(format!("{ip}:{http_port}"))
            .env_remove("STEMEDB_PASSWORD")
            // Not a setting: the server must start anyway (with a warning).
            .env("STEMEDB_BIN", &*BINARY)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            match *k {
                CONFIG_FILE => drop(cmd.arg("--config").arg(v)),
                _ => drop(cmd.env(k, v)),
            }
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawn {}: {e}", *BINARY))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (tx, rx) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line.clone());
                if line.contains("panicked") {
                    // A panic in a connection task: the server lives on,
                    // but the test should see it.
                    eprintln!("server: {line}");
                }
                if line.contains("StemeDB is ready") {
                    let _ = tx.send(Ok(()));
                } else if line.contains("ERROR") || line.starts_with("stemedb:") {
                    let _ = tx.send(Err(line));
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(())) => Ok(TestServer {
                child,
                log,
                ip: ip.to_string(),
                port,
                http_port,
                data_dir: dir.to_path_buf(),
                _tmp: None,
            }),
            Ok(Err(line)) => {
                let _ = child.kill();
                Err(line)
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(format!("server did not become ready (exit: {status:?})"))
            }
        }
    }

    /// The server's log lines so far that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }

    pub fn conn_str(&self) -> String {
        format!(
            "host={} port={} user=stemedb dbname=stemedb",
            self.ip, self.port
        )
    }

    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(&self.conn_str()).await.expect("connect")
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn connect(conn: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A connection whose end is observable: the handle resolves with the
/// connection's own error (e.g. a FATAL the server sent while the client
/// was idle).
pub async fn connect_watched(
    conn: &str,
) -> (
    tokio_postgres::Client,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
) {
    let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls)
        .await
        .expect("connect");
    (client, tokio::spawn(connection))
}

/// A connection to the server on 127.0.0.1:`port` made from the loopback
/// address `from` (e.g. 127.0.0.2): to the server, another client address.
pub async fn connect_from(
    from: [u8; 4],
    port: u16,
    password: Option<&str>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from((from, 0)))
        .expect("bind a loopback address");
    let stream = socket
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("tcp connect");
    let mut config = tokio_postgres::Config::new();
    config.user("stemedb").dbname("stemedb");
    if let Some(p) = password {
        config.password(p);
    }
    let (client, connection) = config.connect_raw(stream, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl TestServer {
    /// `GET path` on this server's admin HTTP port.
    pub fn http(&self, path: &str) -> (u16, String) {
        http_get_at(&self.ip, self.http_port, path)
    }
}

/// `GET path` on the admin HTTP port: the status code and the body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http_get_at("127.0.0.1", port, path)
}

/// `GET path` on `ip`:`port`.
pub fn http_get_at(ip: &str, port: u16, path: &str) -> (u16, String) {
    http_request_at(ip, port, "GET", path)
}

/// `method path` (no body) on `ip`:`port`: the status code and the body.
pub fn http_request_at(ip: &str, port: u16, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((ip, port)).expect("http connect");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("http request");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("http response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A failed statement's SQLSTATE, or the error's text when it has none
/// (a lost connection), so an assertion shows what went wrong.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map_or_else(|| e.to_string(), |c| c.code().to_string())
}

/// The rows of `sql` (simple protocol) as text, NULL as `None`.
pub async fn text_rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(String::from)).collect())
            }
            _ => None,
        })
        .collect()
}

/// The samples of a Prometheus exposition: `name{labels}` → value.
pub fn metric_samples(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of every sample of metric `name` (any labels) in `text`.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    metric_samples(text)
        .into_iter()
        .filter(|(key, _)| key == name || key.starts_with(&format!("{name}{{")))
        .map(|(_, v)| v)
        .sum()
}

/// "SQLSTATE: message" for a failed statement, so tests can match codes.
pub fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// `SELECT count(*) FROM assertions`.
pub async fn count_assertions(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM assertions", &[])
        .await
        .unwrap()
        .get(0)
}

/// `stemedb verify` on a stopped data dir must pass (`when` names the moment).
pub fn verify_ok(dir: &Path, when: &str) {
    let out = Command::new(&*BINARY)
        .args(["verify", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.contains("OK"),
        "verify failed {when}:\n{report}"
    );
}

/// A claim written now is stamped at or after every stored one.
pub async fn assert_new_stamp_is_newest(client: &tokio_postgres::Client, when: &str) {
    let newest: String = client
        .query_one("SELECT max(asserted_at)::text FROM assertions", &[])
        .await
        .unwrap()
        .get(0);
    let stamped: String = client
        .query_one(
            "INSERT INTO assertions (subject, predicate, object, source) \
             VALUES ('probe', 'p', 'o', 'probe') RETURNING asserted_at::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        stamped >= newest,
        "{when}: new stamp {stamped} < stored {newest}"
    );
}

/// Whether this is the run of `test` (its full name in this binary, e.g.
/// `faults::a_partition`) inside a private network namespace: if not, runs
/// it there — `unshare -n`, loopback up — and returns `false` (the caller
/// returns; the inner run's result is asserted here). So nftables rules
/// and captures there see only this test's traffic.
pub fn in_namespace(test: &str) -> bool {
    in_namespaces(test, &["-n"])
}

/// [`in_namespace`] with other `unshare` flags too (`-m`: a private mount
/// namespace, where the test may mount what it likes).
pub fn in_namespaces(test: &str, flags: &[&str]) -> bool {
    if std::env::var_os("STEMEDB_IN_NETNS").is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .args(flags)
        .args(["--", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(exe)
        .args(["--exact", test, "--nocapture"])
        .env("STEMEDB_IN_NETNS", "1")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{test} in its network namespace: {status}"
    );
    false
}
