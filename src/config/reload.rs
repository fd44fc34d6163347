//! Reading the configuration again while the node runs (SIGHUP, or
//! `SELECT stemedb_reload_config()`): the cluster's keyring, the
//! certificates of the SQL port and of node-to-node TLS, and the admin
//! port's token. The file and the `STEMEDB_*` variables are read as at
//! start; the files named at start are read again (a changed path needs a
//! restart). What cannot be read leaves what is in use in place and is
//! reported; open connections go on with what they started with.

use std::path::PathBuf;
use std::sync::Arc;

use super::Config;
use crate::cluster::keyring::Keyring;
use crate::cluster::tls::NodeTls;
use crate::error::{Error, Result};
use crate::http::token::Token;
use crate::pgwire::tls::ServerTls;

/// What a reload refreshes.
pub struct Reloader {
    /// The configuration file the node started from, if any.
    pub file: Option<PathBuf>,
    pub keyring: Option<Arc<Keyring>>,
    pub node_tls: Option<Arc<NodeTls>>,
    pub server_tls: Option<Arc<ServerTls>>,
    pub http_token: Arc<Token>,
}

impl Reloader {
    /// Reads everything again; what was reloaded, one item per part.
    pub fn reload(&self) -> Result<String> {
        let config = Config::load(self.file.as_deref())?;
        let mut done = Vec::new();
        let mut failed = Vec::new();
        if let Some(keyring) = &self.keyring {
            match config.cluster.keyring() {
                Ok(secrets) => {
                    keyring.set(&secrets);
                    done.push(format!("cluster keyring ({} secrets)", secrets.len()));
                }
                Err(e) => failed.push(e.message),
            }
        }
        let mut step = |name: &str, result: Result<()>| match result {
            Ok(()) => done.push(name.to_string()),
            Err(e) => failed.push(format!("{name}: {}", e.message)),
        };
        if let Some(tls) = &self.server_tls {
            step("SQL certificates", tls.reload());
        }
        if let Some(tls) = &self.node_tls {
            step("node-to-node certificates", tls.reload());
        }
        step("admin token", self.http_token.reload());
        let report = format!("reloaded: {}", done.join(", "));
        if !failed.is_empty() {
            tracing::warn!("configuration reload: {}", failed.join("; "));
            return Err(Error::internal(format!(
                "{report}; not reloaded (the old ones stay in use): {}",
                failed.join("; ")
            )));
        }
        tracing::info!("configuration {report}");
        Ok(report)
    }
}
