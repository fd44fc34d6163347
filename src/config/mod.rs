//! Configuration: defaults, then the TOML file (`--config`), then
//! `STEMEDB_*` environment variables, then command-line flags. What may
//! change while the node runs is read again by [`reload`].

pub mod reload;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::cluster::{ClusterConfig, ReplicationConfig};
use crate::error::{Error, Result};
use crate::pgwire::admission::Rates;
use crate::planner::StatementLimits;
use crate::planner::settings::DEFAULT_QUERY_MEMORY;
use crate::storage::Durability;
use crate::units;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where RocksDB keeps the node's data.
    pub data_dir: PathBuf,
    /// SQL (PostgreSQL wire protocol) address.
    pub listen: String,
    /// Admin HTTP address (`/health`).
    pub http_listen: String,
    /// A file holding the admin HTTP bearer token: every path but
    /// `/health` and `/ready` needs it. Required off loopback.
    pub http_token_file: Option<PathBuf>,
    /// Password of user `stemedb`; without one, only loopback trust logins.
    pub password: Option<String>,
    /// This node's id; generated on first start when unset.
    pub node_id: Option<String>,
    /// `fsync` (default): acknowledge after the WAL fsync; `buffered`: before.
    pub durability: Durability,
    /// PEM certificate chain and key for TLS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The CA that signs node certificates (checked on `[cluster] tls`)
    /// and client certificates (a client presenting one logs in as its CN).
    pub tls_ca: Option<PathBuf>,
    /// Connections beyond this are refused with 53300.
    pub max_connections: usize,
    /// Threads client connections are served on; 0 (default): two per
    /// core. Statements that run a DataFusion plan use every core whatever
    /// this is.
    pub connection_threads: usize,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `stemedb=debug`.
    pub log: String,
    /// `text` (default) or `json` (one object per line).
    pub log_format: LogFormat,
    /// Statements that run at least this long are logged with their text
    /// (never their parameters): `'250ms'`; `0` logs every statement,
    /// `-1` (default) none.
    #[serde(deserialize_with = "text_or_number")]
    pub log_min_duration_statement: String,
    /// On SIGTERM/SIGINT, how long running statements may take to finish
    /// before they are cancelled (`'10s'`; bare numbers are seconds).
    #[serde(deserialize_with = "text_or_number")]
    pub shutdown_timeout: String,
    /// Record Prometheus metrics (`/metrics`); `false` records nothing
    /// (to measure what recording costs).
    pub metrics: bool,
    /// What one client or statement may take (`[limits]`).
    pub limits: Limits,
    /// Membership of a cluster (`[cluster]`, docs/cluster.md).
    pub cluster: ClusterConfig,
    /// How claims are replicated (`[replication]`).
    pub replication: ReplicationConfig,
    /// Archival of new writes between backups (`[backup]`).
    pub backup: crate::backup::archive::BackupConfig,
    /// The file this was read from (a reload reads it again).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[limits]`: the defaults of every session's statement limits (each
/// session may change its own with `SET`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// PostgreSQL's `statement_timeout` (`'100ms'`, `'30s'`; 0 = none).
    #[serde(deserialize_with = "text_or_number")]
    pub statement_timeout: String,
    /// `stemedb.query_memory_limit`: memory one statement may hold for
    /// sorts, aggregates and joins (`'256MB'`; 0 = none).
    #[serde(deserialize_with = "text_or_number")]
    pub query_memory_limit: String,
    /// New connections per second from one client address (0 = no limit).
    pub connections_per_second: u32,
    /// Statements per second from one client address as one user (0 = no
    /// limit); beyond it, `53400`.
    pub statements_per_second: u32,
    /// Failed logins per minute from one address before it is locked out
    /// (0 = no limit) …
    pub failed_logins_per_minute: u32,
    /// … for this long (`'5min'`).
    #[serde(deserialize_with = "text_or_number")]
    pub failed_login_lockout: String,
    /// Statements one user may run at once over all its connections (0 =
    /// no limit); beyond it, `53400`.
    pub concurrent_statements_per_user: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            statement_timeout: "0".into(),
            query_memory_limit: units::format_size(Some(DEFAULT_QUERY_MEMORY)),
            connections_per_second: 0,
            statements_per_second: 0,
            failed_logins_per_minute: 0,
            failed_login_lockout: "5min".into(),
            concurrent_statements_per_user: 0,
        }
    }
}

impl Limits {
    /// The admission rates.
    pub fn rates(&self) -> Result<Rates> {
        let lockout =
            units::parse_duration("failed_login_lockout", &self.failed_login_lockout, "s")
                .map_err(|e| {
                    Error::internal(format!("[limits] failed_login_lockout: {}", e.message))
                })?;
        Ok(Rates {
            connections_per_second: self.connections_per_second,
            statements_per_second: self.statements_per_second,
            failed_logins_per_minute: self.failed_logins_per_minute,
            failed_login_lockout: lockout.unwrap_or_default(),
        })
    }

    /// The limits as sessions start with them; an unreadable value is an
    /// error naming the key.
    pub fn statement(&self) -> Result<StatementLimits> {
        let key = |e: Error, name: &str| Error::internal(format!("[limits] {name}: {}", e.message));
        Ok(StatementLimits {
            statement_timeout: units::parse_duration(
                "statement_timeout",
                &self.statement_timeout,
                "ms",
            )
            .map_err(|e| key(e, "statement_timeout"))?,
            query_memory_limit: units::parse_size("query_memory_limit", &self.query_memory_limit)
                .map_err(|e| key(e, "query_memory_limit"))?,
            log_min_duration_statement: None,
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./stemedb-data"),
            listen: "127.0.0.1:18180".into(),
            http_listen: "127.0.0.1:18181".into(),
            http_token_file: None,
            password: None,
            node_id: None,
            durability: Durability::Fsync,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            max_connections: 200,
            connection_threads: 0,
            log: "info".into(),
            log_format: LogFormat::Text,
            log_min_duration_statement: "-1".into(),
            shutdown_timeout: "10s".into(),
            metrics: true,
            limits: Limits::default(),
            cluster: ClusterConfig::default(),
            replication: ReplicationConfig::default(),
            backup: Default::default(),
            file: None,
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
            // The protocol test switch (crate::cluster::protocol) is no key.
            if key.as_str().eq_ignore_ascii_case("test_protocol") {
                return false;
            }
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
        let mut config: Config = figment
            .extract()
            .map_err(|e| Error::internal(format!("invalid configuration: {e}")))?;
        config.file = file.map(Path::to_path_buf);
        Ok(config)
    }

    pub fn listen_addr(&self) -> Result<SocketAddr> {
        units::parse_addr(&self.listen, "listen")
    }

    /// The admin HTTP address: `[cluster] bind_addr` when set (docs/cluster.md),
    /// else `http_listen`.
    pub fn http_addr(&self) -> Result<SocketAddr> {
        match &self.cluster.bind_addr {
            Some(addr) => units::parse_addr(addr, "[cluster] bind_addr"),
            None => units::parse_addr(&self.http_listen, "http_listen"),
        }
    }

    /// The node id: `[cluster] node_id` or `node_id` (one setting under
    /// two names; set both and they must agree).
    pub fn node_id(&self) -> Result<Option<&str>> {
        match (self.node_id.as_deref(), self.cluster.node_id.as_deref()) {
            (Some(a), Some(b)) if a != b => Err(Error::internal(format!(
                "node_id = \"{a}\" and [cluster] node_id = \"{b}\" disagree: set one"
            ))),
            (a, b) => Ok(b.or(a)),
        }
    }

    /// The limits every session starts with (`[limits]` and the slow
    /// statement log).
    pub fn statement_limits(&self) -> Result<StatementLimits> {
        let mut limits = self.limits.statement()?;
        limits.log_min_duration_statement =
            units::parse_log_min_duration(&self.log_min_duration_statement)
                .map_err(|e| Error::internal(e.message))?;
        Ok(limits)
    }

    /// Checks every setting that is parsed later (addresses, durations,
    /// sizes, TLS files), so a bad one stops the node before it starts.
    pub fn check(&self) -> Result<()> {
        self.check_exposure()?;
        self.http_addr()?;
        self.node_id()?;
        if self.cluster.enabled {
            self.cluster.check()?;
        }
        if self.replication.factor == 0 {
            return Err(Error::internal("[replication] factor must be at least 1"));
        }
        self.statement_limits()?;
        self.limits.rates()?;
        self.shutdown_timeout()?;
        self.backup.archive_every()?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(Error::internal("TLS needs both tls_cert and tls_key"));
        }
        if self.cluster.enabled && self.cluster.tls {
            self.node_tls()?;
        }
        Ok(())
    }

    /// The files of node-to-node TLS (`[cluster] tls = true`): this node's
    /// certificate and key, and the cluster's CA — all three required.
    pub fn node_tls(&self) -> Result<crate::cluster::tls::TlsPaths> {
        match (&self.tls_cert, &self.tls_key, &self.tls_ca) {
            (Some(cert), Some(key), Some(ca)) => Ok(crate::cluster::tls::TlsPaths {
                cert: cert.clone(),
                key: key.clone(),
                ca: ca.clone(),
            }),
            _ => Err(Error::internal(
                "[cluster] tls = true needs tls_cert, tls_key (this node's certificate, from \
                 `stemedb cert create-node`) and tls_ca (the cluster's CA)",
            )),
        }
    }

    /// The one rule that keeps an unconfigured server safe: trust logins
    /// only on loopback.
    fn check_exposure(&self) -> Result<()> {
        let http = self.http_addr()?;
        match &self.http_token_file {
            None if !http.ip().is_loopback() => {
                return Err(Error::internal(format!(
                    "refusing to serve the admin port on {http} without a token: anyone who can \
                     reach it could read metrics and cluster members. Set http_token_file \
                     (a file holding the bearer token), or bind it to a loopback address"
                )));
            }
            // Read when the node starts (`config check` may run where the
            // file is not).
            _ => {}
        }
        let addr = self.listen_addr()?;
        if self.password.is_none() && !addr.ip().is_loopback() {
            return Err(Error::internal(format!(
                "refusing to listen on {addr} without a password: anyone who can reach it could log in. \
                 Set a password (STEMEDB_PASSWORD or password = \"…\" in the config file), \
                 or listen on a loopback address such as 127.0.0.1"
            )));
        }
        Ok(())
    }

    /// The effective settings as TOML, the password hidden.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.password.is_some() {
            shown.password = Some("(set)".into());
        }
        for secret in &mut shown.cluster.secrets {
            *secret = "(set)".into();
        }
        if shown.cluster.secret.is_some() {
            shown.cluster.secret = Some("(set)".into());
        }
        toml::to_string(&shown)
            .unwrap_or_else(|e| format!("# cannot show the configuration: {e}\n"))
    }

    pub fn shutdown_timeout(&self) -> Result<Duration> {
        units::parse_duration("shutdown_timeout", &self.shutdown_timeout, "s")
            .map(Option::unwrap_or_default)
            .map_err(|e| Error::internal(e.message))
    }
}

/// A duration or size: `'250ms'`, or a bare number (`0`, `-1`) as TOML
/// and the environment spell one.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Int(i64),
        Float(f64),
    }
    Ok(match TextOrNumber::deserialize(d)? {
        TextOrNumber::Text(t) => t,
        TextOrNumber::Int(i) => i.to_string(),
        TextOrNumber::Float(f) => f.to_string(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of the configuration, as its `STEMEDB_*` variable.
    fn variables(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        if let serde_json::Value::Object(fields) = value {
            for (name, v) in fields {
                let name = format!("{prefix}{}", name.to_uppercase());
                match v {
                    serde_json::Value::Object(_) => variables(&format!("{name}__"), v, out),
                    _ => out.push(name),
                }
            }
        }
    }

    #[test]
    fn env_example_lists_every_key_with_its_default() {
        let example = include_str!("../../.env.example");
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let mut names = Vec::new();
        variables("STEMEDB_", &defaults, &mut names);
        for name in &names {
            assert!(
                example
                    .lines()
                    .any(|l| l.starts_with(&format!("# {name}="))),
                ".env.example does not list {name}"
            );
        }
        let listed = example
            .lines()
            .filter(|l| l.starts_with("# STEMEDB_"))
            .count();
        assert_eq!(
            listed,
            names.len(),
            "a key in .env.example that the configuration lacks?"
        );
    }

    #[test]
    fn durations_may_be_bare_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stemedb.toml");
        std::fs::write(
            &file,
            "log_min_duration_statement = 0\nshutdown_timeout = 30\n[limits]\nstatement_timeout = 250\n",
        )
        .unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.shutdown_timeout().unwrap(), Duration::from_secs(30));
        let limits = config.statement_limits().unwrap();
        assert_eq!(limits.statement_timeout, Some(Duration::from_millis(250)));
        assert_eq!(limits.log_min_duration_statement, Some(Duration::ZERO));
    }

    #[test]
    fn limits_are_checked_when_the_configuration_is_read() {
        let mut config = Config::default();
        assert_eq!(
            config.limits.statement().unwrap(),
            StatementLimits::default()
        );
        config.limits.statement_timeout = "a while".into();
        let error = config.limits.statement().unwrap_err();
        assert!(
            error.message.contains("[limits] statement_timeout"),
            "{}",
            error.message
        );
    }
}
