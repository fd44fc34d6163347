//! `[cluster]` and `[replication]` (docs/cluster.md). `enabled = false` (the
//! default) is a single node: nothing here is started.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Run as a member of a cluster.
    pub enabled: bool,
    /// This node's id (the top-level `node_id` is the same setting; if
    /// both are set they must agree).
    pub node_id: Option<String>,
    /// Admin HTTP address; when set it wins over `http_listen`.
    pub bind_addr: Option<String>,
    /// gRPC: replication and remote scans, node to node.
    pub rpc_addr: String,
    /// SWIM gossip (UDP), node to node.
    pub swim_addr: String,
    /// Other members' `swim_addr`, announced to at boot.
    pub seeds: Vec<String>,
    /// Shared by the cluster: gossip and gRPC are authenticated with it.
    /// Required unless every cluster address is a loopback address. A
    /// keyring of one: `secrets` is the same setting with room to rotate.
    pub secret: Option<String>,
    /// The keyring: the first secret seals gossip and signs calls, every
    /// one is accepted (`secrets = ["new", "old"]` while rotating).
    pub secrets: Vec<String>,
    /// Node-to-node gRPC over mutual TLS with the node's `tls_cert` and
    /// `tls_key`, peers checked against `tls_ca` ([`super::tls`]).
    pub tls: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationConfig {
    /// Nodes holding each subject's claims.
    pub factor: usize,
    /// How often replicas compare their Merkle roots (`'10s'`).
    pub sync_interval: String,
}

impl ReplicationConfig {
    /// `sync_interval` as a duration (`0` is refused: it would never rest).
    pub fn sync_every(&self) -> crate::error::Result<std::time::Duration> {
        let every =
            crate::units::parse_duration("replication.sync_interval", &self.sync_interval, "s")?;
        every.filter(|d| !d.is_zero()).ok_or_else(|| {
            crate::error::Error::internal(format!(
                "[replication] sync_interval must be above 0, not '{}'",
                self.sync_interval
            ))
        })
    }
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            factor: 2,
            sync_interval: "10s".into(),
        }
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            node_id: None,
            bind_addr: None,
            rpc_addr: "127.0.0.1:18182".into(),
            swim_addr: "127.0.0.1:18183".into(),
            seeds: Vec::new(),
            secret: None,
            secrets: Vec::new(),
            tls: false,
        }
    }
}

/// The parsed addresses of an enabled cluster configuration.
#[derive(Debug, Clone)]
pub struct ClusterAddrs {
    pub rpc: SocketAddr,
    pub swim: SocketAddr,
    pub seeds: Vec<SocketAddr>,
}

impl ClusterConfig {
    /// The keyring's secrets: `secrets`, or the one `secret` (empty: none).
    pub fn keyring(&self) -> Result<Vec<String>> {
        match (&self.secret, self.secrets.is_empty()) {
            (Some(_), false) => Err(Error::internal(
                "[cluster] secret and secrets are both set: keep one (secrets = [\"…\"] holds \
                 the secret of `secret` too)",
            )),
            (Some(one), true) if !one.is_empty() => Ok(vec![one.clone()]),
            (_, false) if self.secrets.iter().any(String::is_empty) => Err(Error::internal(
                "[cluster] secrets must not hold an empty secret",
            )),
            _ => Ok(self.secrets.clone()),
        }
    }

    /// Checks an enabled configuration: addresses parse, and a node that
    /// can be reached from off this machine has a secret.
    pub fn check(&self) -> Result<ClusterAddrs> {
        let addr = |key: &str, s: &str| crate::units::parse_addr(s, &format!("[cluster] {key}"));
        let rpc = addr("rpc_addr", &self.rpc_addr)?;
        let swim = addr("swim_addr", &self.swim_addr)?;
        let seeds = self
            .seeds
            .iter()
            .map(|s| addr("seeds", s))
            .collect::<Result<Vec<_>>>()?;
        if self.keyring()?.is_empty()
            && let Some(open) = [rpc, swim].into_iter().find(|a| !a.ip().is_loopback())
        {
            return Err(Error::internal(format!(
                "refusing to run a cluster node on {open} without a cluster secret: anyone \
                     who can reach it could join the cluster or replicate into it. Set \
                     [cluster] secret (STEMEDB_CLUSTER__SECRET) or secrets, the same on every \
                     node, or use \
                     loopback addresses"
            )));
        }
        if self.node_id.as_deref().is_some_and(str::is_empty) {
            return Err(Error::internal("[cluster] node_id must not be empty"));
        }
        Ok(ClusterAddrs { rpc, swim, seeds })
    }
}
