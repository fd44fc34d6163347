//! StemeDB as one of several nodes (DESIGN §6). This part is membership:
//! SWIM gossip ([`swim`]) keeps each node's view of who is in the cluster
//! and who is alive ([`members`]); placement ([`placement`]) maps a
//! subject to its owners; [`rpc`] serves node-to-node gRPC (today only
//! `Hello`; replication comes next). With `[cluster] enabled = false` nothing here
//! runs and the node is the whole database.

pub mod config;
pub mod members;
pub mod placement;
pub mod rpc;
mod swim;

use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{ClusterConfig, ReplicationConfig};
pub use members::{Member, Membership, NodeIdentity, Status};

use crate::error::{Error, Result};

/// A running membership: the shared member list and the gossip task.
pub struct Cluster {
    membership: Arc<Membership>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    rpc_task: JoinHandle<Result<()>>,
}

impl Cluster {
    /// Binds `swim_addr` and starts gossiping with the seeds. `node_id` is
    /// the store's; `sql` the address clients reach this node on.
    pub async fn start(config: &ClusterConfig, node_id: &str, sql: String) -> Result<Cluster> {
        let addrs = config.check()?;
        let socket = UdpSocket::bind(addrs.swim).await.map_err(|e| {
            Error::internal(format!(
                "cannot bind [cluster] swim_addr {}: {e}",
                addrs.swim
            ))
        })?;
        let rpc_listener = TcpListener::bind(addrs.rpc).await.map_err(|e| {
            Error::internal(format!(
                "cannot listen on [cluster] rpc_addr {}: {e}",
                addrs.rpc
            ))
        })?;
        // Each start is a newer generation than the last (milliseconds),
        // so the cluster takes a restarted node for its new self.
        let generation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64)
            .max(1);
        let me = NodeIdentity {
            id: node_id.to_string(),
            sql,
            rpc: addrs.rpc.to_string(),
            swim: addrs.swim,
            generation,
        };
        let seeds: Vec<_> = addrs
            .seeds
            .into_iter()
            .filter(|s| *s != addrs.swim)
            .collect();
        let membership = Arc::new(Membership::new(me, seeds.len()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(swim::run(
            socket,
            membership.clone(),
            seeds.clone(),
            config.secret.clone(),
            stopped.clone(),
        ));
        let token = rpc::rpc_token(config.secret.as_deref());
        let rpc_task = tokio::spawn(rpc::serve(rpc_listener, membership.clone(), token, stopped));
        tracing::info!(
            node = node_id,
            swim = %addrs.swim,
            rpc = %addrs.rpc,
            seeds = ?seeds,
            authenticated = config.secret.is_some(),
            "cluster: gossiping"
        );
        Ok(Cluster {
            membership,
            stop,
            task,
            rpc_task,
        })
    }

    pub fn membership(&self) -> &Arc<Membership> {
        &self.membership
    }

    /// Leaves the cluster (the others hear it at once), stops gossip and
    /// the RPC server.
    pub async fn leave(self) {
        let _ = self.stop.send(true);
        let limit = std::time::Duration::from_secs(2);
        let _ = tokio::time::timeout(limit, self.task).await;
        if let Ok(Ok(Err(e))) = tokio::time::timeout(limit, self.rpc_task).await {
            tracing::warn!("cluster: {e}");
        }
    }
}
