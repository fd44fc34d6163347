//! A real S3 server on loopback for the tests: moto's server (PyPI,
//! installed by `make test`), one process per test, stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cluster::wait_for;
use super::{free_port, http_request_at};

pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// Starts moto on a free port, once it answers (within 30 s).
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (make test installs moto[server])");
        let up = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        assert!(
            wait_for(Duration::from_secs(30), up),
            "moto did not start on {port}"
        );
        Moto { child, port }
    }

    /// Creates `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = http_request_at("127.0.0.1", self.port, "PUT", &format!("/{bucket}"));
        assert_eq!(status, 200, "creating bucket {bucket}: {body}");
    }

    /// Forgets every bucket and object at once (moto's reset).
    pub fn reset(&self) {
        let (status, body) = http_request_at("127.0.0.1", self.port, "POST", "/moto-api/reset");
        assert_eq!(status, 200, "resetting moto: {body}");
    }

    /// The AWS settings a server or CLI needs to reach this S3.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
