//! Configuration: defaults, then the TOML file (`--config`), then
//! `STEMEDB_*` environment variables, then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::Durability;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where RocksDB keeps the node's data.
    pub data_dir: PathBuf,
    /// SQL (PostgreSQL wire protocol) address.
    pub listen: String,
    /// Admin HTTP address (`/health`).
    pub http_listen: String,
    /// Password of user `stemedb`; without one, only loopback trust logins.
    pub password: Option<String>,
    /// This node's id; generated on first start when unset.
    pub node_id: Option<String>,
    /// `fsync` (default): acknowledge after the WAL fsync; `buffered`: before.
    pub durability: Durability,
    /// PEM certificate chain and key for TLS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Connections beyond this are refused with 53300.
    pub max_connections: usize,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `stemedb=debug`.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./stemedb-data"),
            listen: "127.0.0.1:18180".into(),
            http_listen: "127.0.0.1:18181".into(),
            password: None,
            node_id: None,
            durability: Durability::Fsync,
            tls_cert: None,
            tls_key: None,
            max_connections: 200,
            log: "info".into(),
        }
    }
}

impl Config {
    /// Loads defaults ← file ← environment. Command-line flags are applied
    /// by the caller on top.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(Error::internal(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("STEMEDB_").split("__").filter(|key| {
            let known = is_known_key(key.as_str());
            if !known {
                // Scripts export their own STEMEDB_* variables (STEMEDB_BIN,
                // STEMEDB_PASSWORD for the import client…): not ours to refuse.
                // (Logging starts after the config is read, hence stderr.)
                eprintln!(
                    "stemedb warning: ignoring STEMEDB_{}: not a configuration key",
                    key.as_str().replace('.', "__").to_uppercase()
                );
            }
            known
        }));
        figment
            .extract()
            .map_err(|e| Error::internal(format!("invalid configuration: {e}")))
    }

    pub fn listen_addr(&self) -> Result<SocketAddr> {
        parse_addr(&self.listen, "listen")
    }

    pub fn http_addr(&self) -> Result<SocketAddr> {
        parse_addr(&self.http_listen, "http_listen")
    }
}

/// Whether `key` (an environment variable's name after `STEMEDB_`,
/// lowercased, nested keys joined with `.`) names a setting.
fn is_known_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let top = key.split(['.']).next().unwrap_or_default();
    let top = top.split("__").next().unwrap_or_default();
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(fields)) => fields.contains_key(top),
        _ => true,
    }
}

fn parse_addr(s: &str, key: &str) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Error::internal(format!("{key} = \"{s}\" is not a HOST:PORT address")))
}
