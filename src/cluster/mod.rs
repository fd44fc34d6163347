//! StemeDB as one of several nodes (docs/cluster.md). SWIM gossip ([`swim`])
//! keeps each node's view of who is in the cluster and who is alive
//! ([`members`]); the member set with its epoch and the phase of a change
//! is a [`layout`], settled and changed by [`resize`] and moved by
//! [`rebalance`]; placement ([`placement`]) maps a subject to its owners.
//! The [`replicator`] sends each write to its owners over gRPC ([`peers`]
//! calls, [`service`] answers, [`rpc`] serves and authenticates, [`wire`]
//! holds the messages; [`keyring`] seals gossip and signs calls with the
//! cluster's secrets; [`protocol`] versions both, so a rolling upgrade
//! knows whom it may talk to; [`outbox`] batches calls per peer),
//! holding hints for owners that are away, which [`handoff`] delivers when
//! they return. Anti-entropy ([`anti_entropy`]) compares Merkle trees
//! ([`merkle`], kept current by [`digests`]) and repairs what differs;
//! [`state`] is what `stemedb.replication` and the lag metric show;
//! [`catalog`] spreads the definitions every node holds (roles) to all;
//! [`frontier`] works out the change feed's resolved frontier from every
//! member's closed timestamp.
//!
//! The SQL layer reaches the cluster only through two traits
//! ([`replicas`]): it sends writes and remote reads through [`Replicas`],
//! and answers other nodes' reads as the [`ReadService`] the server hands
//! over with [`Cluster::serve_reads`]. The read requests and who reads
//! which subject are [`readers`]; [`scan_wire`] puts them and their rows
//! on the wire; [`config`] reads `[cluster]` and `[replication]`. So this
//! layer imports nothing above storage. With
//! `[cluster] enabled = false` nothing of the network runs: the node is a
//! cluster of one ([`solo`]), behind the same [`Replicas`] trait.

mod anti_entropy;
mod catalog;
pub mod config;
mod digests;
pub mod frontier;
mod handoff;
pub mod keyring;
pub mod layout;
pub mod members;
mod merkle;
mod outbox;
mod peers;
pub mod placement;
pub mod protocol;
pub mod readers;
mod rebalance;
mod replicas;
mod replicator;
mod resize;
pub mod rpc;
mod scan_wire;
mod service;
mod solo;
pub mod state;
mod swim;
pub mod tls;
pub mod wire;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{ClusterConfig, ReplicationConfig};
pub use members::{Member, Membership, NodeIdentity, Status};
pub use peers::Peers;
pub use readers::{PointRequest, Readers, ScanRequest, Share, Weighed};
pub use replicas::{ReadService, Replicas};
pub use replicator::Replicator;
pub use solo::Solo;

use crate::error::{Error, Result};
use crate::runtime::net::{TcpListener, UdpSocket, bindable};
use crate::storage::Store;

/// A running membership: the shared member list and the gossip task.
pub struct Cluster {
    membership: Arc<Membership>,
    replicator: Arc<Replicator>,
    reads: Arc<std::sync::OnceLock<Arc<dyn ReadService>>>,
    keyring: Arc<keyring::Keyring>,
    tls: Option<Arc<tls::NodeTls>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    rpc_task: JoinHandle<Result<()>>,
}

impl Cluster {
    /// Binds `swim_addr` and `rpc_addr`, starts gossiping with the seeds,
    /// serving RPC and handing off hints. `sql` is the address clients
    /// reach this node on.
    pub async fn start(
        config: &ClusterConfig,
        replication: &ReplicationConfig,
        store: Arc<Store>,
        sql: String,
    ) -> Result<Cluster> {
        Self::start_secured(config, replication, store, sql, None).await
    }

    /// [`Cluster::start`], with node-to-node calls over mutual TLS when
    /// `tls` is given ([`tls`]).
    pub async fn start_secured(
        config: &ClusterConfig,
        replication: &ReplicationConfig,
        store: Arc<Store>,
        sql: String,
        tls: Option<Arc<tls::NodeTls>>,
    ) -> Result<Cluster> {
        let node_id = store.node_id().to_string();
        let node_id = node_id.as_str();
        let addrs = config.check()?;
        let socket = UdpSocket::bind(bindable(addrs.swim)).await.map_err(|e| {
            Error::internal(format!(
                "cannot bind [cluster] swim_addr {}: {e}",
                addrs.swim
            ))
        })?;
        let rpc_listener = TcpListener::bind(bindable(addrs.rpc)).await.map_err(|e| {
            Error::internal(format!(
                "cannot listen on [cluster] rpc_addr {}: {e}",
                addrs.rpc
            ))
        })?;
        // Each start is a newer generation than the last (milliseconds),
        // so the cluster takes a restarted node for its new self.
        let generation = (crate::runtime::clock::since_epoch().as_millis() as u64).max(1);
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
        membership.remember(store.remembered_members()?);
        let keyring = Arc::new(keyring::Keyring::new(&config.keyring()?));
        let peers =
            Arc::new(Peers::new(node_id, addrs.rpc.ip(), keyring.clone()).with_tls(tls.clone()));
        let layouts = Arc::new(resize::Layouts {
            store: store.clone(),
            membership: membership.clone(),
            peers: peers.clone(),
            factor: replication.factor,
            moving: tokio::sync::Mutex::new(()),
        });
        layouts.load()?;
        crate::monitor::hints_pending(store.hints_pending());
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(swim::run(
            socket,
            membership.clone(),
            seeds.clone(),
            keyring.clone(),
            stopped.clone(),
        ));
        let reads = Arc::new(std::sync::OnceLock::new());
        let digests = Arc::new(digests::Current::default());
        let service = service::Service {
            membership: membership.clone(),
            store: store.clone(),
            reads: reads.clone(),
            digests: digests.clone(),
            layouts: layouts.clone(),
        };
        let anti_entropy = Arc::new(anti_entropy::AntiEntropy {
            store: store.clone(),
            membership: membership.clone(),
            peers: peers.clone(),
            digests,
            layouts: layouts.clone(),
        });
        tokio::spawn(anti_entropy.clone().run(
            replication.sync_every()?,
            replication.factor,
            stopped.clone(),
        ));
        tokio::spawn(handoff::run(
            store.clone(),
            membership.clone(),
            peers.clone(),
            stopped.clone(),
        ));
        let (resolved_tx, resolved) = watch::channel(frontier::Resolved::default());
        tokio::spawn(frontier::run(
            store.clone(),
            membership.clone(),
            peers.clone(),
            resolved_tx,
            stopped.clone(),
        ));
        let rpc_task = tokio::spawn(rpc::serve(
            rpc_listener,
            service,
            (keyring.clone(), tls.clone()),
            stopped,
        ));
        let replicator = Arc::new(Replicator::new(
            store,
            membership.clone(),
            peers,
            (anti_entropy, layouts),
            replication.factor,
            resolved,
        ));
        tracing::info!(
            node = node_id,
            swim = %addrs.swim,
            rpc = %addrs.rpc,
            seeds = ?seeds,
            secrets = config.keyring()?.len(),
            tls = tls.is_some(),
            "cluster: gossiping"
        );
        Ok(Cluster {
            membership,
            replicator,
            reads,
            keyring,
            tls,
            stop,
            task,
            rpc_task,
        })
    }

    pub fn membership(&self) -> &Arc<Membership> {
        &self.membership
    }

    /// Answers other nodes' scans and point lookups through `reads` (the
    /// SQL layer) from now on; until then they are refused as unavailable.
    pub fn serve_reads(&self, reads: Arc<dyn ReadService>) {
        let _ = self.reads.set(reads);
    }

    /// The keys gossip and calls use now (a reload replaces them).
    pub fn keyring(&self) -> &Arc<keyring::Keyring> {
        &self.keyring
    }

    /// Node-to-node TLS, when on (a reload reads its files again).
    pub fn tls(&self) -> Option<&Arc<tls::NodeTls>> {
        self.tls.as_ref()
    }

    /// The write path to the subjects' owners.
    pub fn replicator(&self) -> Arc<Replicator> {
        self.replicator.clone()
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
