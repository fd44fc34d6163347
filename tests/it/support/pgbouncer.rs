//! pgbouncer as shipped in deploy/pgbouncer (SCRAM, transaction pooling),
//! with the test's ports and paths: database `stemedb` points at one
//! node, `stemedb_cluster` at a load balancer in front of a cluster.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Pgbouncer {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

impl Pgbouncer {
    /// Starts it with `stemedb` on `node_port` and `stemedb_cluster` on
    /// `balancer_port` (both on 127.0.0.1).
    pub fn start(node_port: u16, balancer_port: u16) -> Pgbouncer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        let port = super::free_port();
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/pgbouncer");
        std::fs::copy(deploy.join("userlist.txt"), path.join("users.txt")).unwrap();
        let ini = std::fs::read_to_string(deploy.join("pgbouncer.ini")).unwrap();
        let ini: Vec<String> = ini
            .lines()
            .map(|line| {
                let key = line.split('=').next().unwrap_or("").trim();
                match key {
                    "listen_port" => format!("listen_port = {port}"),
                    "auth_file" => format!("auth_file = {}/users.txt", path.display()),
                    "logfile" => format!("logfile = {}/pgbouncer.log", path.display()),
                    "pidfile" => format!("pidfile = {}/pgbouncer.pid", path.display()),
                    "stemedb" => line.replace("port=18180", &format!("port={node_port}")),
                    "stemedb_cluster" => {
                        line.replace("port=5432", &format!("port={balancer_port}"))
                    }
                    _ => line.to_string(),
                }
            })
            .collect();
        assert!(ini.iter().any(|l| l == "pool_mode = transaction"));
        assert!(ini.iter().any(|l| l.starts_with("stemedb_cluster =")));
        std::fs::write(path.join("pgbouncer.ini"), ini.join("\n")).unwrap();
        // pgbouncer refuses to run as root; -u drops to the postgres user.
        let mut cmd = Command::new("pgbouncer");
        if running_as_root() {
            Command::new("chmod")
                .args(["-R", "a+rwx"])
                .arg(path)
                .status()
                .unwrap();
            cmd.args(["-u", "postgres"]);
        }
        let child = cmd
            .arg(path.join("pgbouncer.ini"))
            .spawn()
            .expect("pgbouncer is installed (make test installs it)");
        Pgbouncer {
            child,
            port,
            _dir: dir,
        }
    }

    /// The connection string of database `db` through pgbouncer.
    pub fn conn_str(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=stemedb dbname={db} password=change-me",
            self.port
        )
    }

    /// A client of database `db`, once pgbouncer accepts (within 20 s).
    pub async fn connect(&self, db: &str) -> tokio_postgres::Client {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match super::connect(&self.conn_str(db)).await {
                Ok(c) => return c,
                Err(e) if Instant::now() > deadline => panic!("pgbouncer never accepted: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}
