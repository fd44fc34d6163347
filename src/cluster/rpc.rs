//! Serving node-to-node gRPC (tonic) on `[cluster] rpc_addr`. Every call
//! carries the cluster's token ([`super::keyring`], in the
//! `x-stemedb-cluster` metadata) and a call without one of the keyring's
//! is refused (`UNAUTHENTICATED`) before any service sees it; so is one from
//! a peer whose protocol version is outside this node's window
//! (`FAILED_PRECONDITION`, [`super::protocol`]). Outgoing calls
//! leave from the node's own IP (`Endpoint::local_address`), so firewall
//! rules by node address hold ([`super::peers`]). The service itself is
//! [`super::service`].

use std::sync::Arc;

use tokio::sync::watch;
use tonic::transport::Server;
use tonic::{Request, Status};

use super::keyring::Keyring;
use super::protocol;
use super::service::Service;
use super::tls::NodeTls;
use crate::error::{Error, Result};
use crate::runtime::net::{TcpListener, incoming};

use super::wire::proto::node_server::NodeServer;
use super::wire::{MAX_MESSAGE_BYTES, TOKEN_HEADER};

/// Whether `request` carries a token of `keyring`.
fn authentic<T>(request: &Request<T>, keyring: &Keyring) -> bool {
    request
        .metadata()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| keyring.accepts(given))
}

/// The protocol version a call says it speaks (none: the first version,
/// which had no header).
fn peer_protocol<T>(request: &Request<T>) -> u32 {
    request
        .metadata()
        .get(protocol::HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Serves the node's RPC on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    service: Service,
    (keyring, tls): (Arc<Keyring>, Option<Arc<NodeTls>>),
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let check = move |request: Request<()>| {
        if !authentic(&request, &keyring) {
            tracing::warn!(
                from = ?request.remote_addr(),
                "cluster: refused an RPC not signed with this cluster's secret"
            );
            return Err(Status::unauthenticated(
                "not signed with this cluster's secret",
            ));
        }
        let version = peer_protocol(&request);
        if !protocol::accepts(version) {
            let from = request.remote_addr().map(|a| a.ip().to_string());
            protocol::log_refused(from.as_deref().unwrap_or("?"), version);
            return Err(Status::failed_precondition(format!(
                "the caller {}",
                protocol::refusal(version)
            )));
        }
        Ok(request)
    };
    let service = NodeServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let service = tonic::service::interceptor::InterceptedService::new(service, check);
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let router = Server::builder().add_service(service);
    let served = match tls {
        // The simulated network carries no TLS.
        #[cfg(not(feature = "sim"))]
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(tls.incoming(listener), stopped)
                .await
        }
        _ => {
            router
                .serve_with_incoming_shutdown(incoming(listener), stopped)
                .await
        }
    };
    served.map_err(|e| Error::internal(format!("cluster RPC server: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Membership;
    use crate::cluster::peers::Peers;
    use crate::storage::{Durability, Store};

    #[tokio::test]
    async fn calls_need_the_cluster_token_and_leave_from_the_callers_ip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some("node1"), Durability::Fsync).unwrap();
        let membership = Arc::new(Membership::single("node1", String::new()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = watch::channel(false);
        let keyring = Arc::new(Keyring::new(&["s3cret".to_string()]));
        let me = "127.0.0.1".parse().unwrap();
        let layouts = crate::cluster::resize::Layouts {
            store: store.clone(),
            membership: membership.clone(),
            peers: Arc::new(Peers::new("node1", me, keyring.clone())),
            factor: 2,
            moving: tokio::sync::Mutex::new(()),
        };
        let service = Service {
            membership,
            store,
            reads: Arc::default(),
            digests: Arc::default(),
            layouts: Arc::new(layouts),
        };
        let server = tokio::spawn(serve(listener, service, (keyring.clone(), None), stopped));

        let from = "127.0.0.2".parse().unwrap();
        let peers = Peers::new("node2", from, keyring.clone());
        let reply = peers.hello(&addr).await.unwrap();
        assert_eq!(reply.node_id, "node1");
        assert!(
            reply.seen_from.starts_with("127.0.0.2:"),
            "{}",
            reply.seen_from
        );

        let wrong = Arc::new(Keyring::new(&["other".to_string()]));
        let stranger = Peers::new("node3", from, wrong);
        let error = stranger.hello(&addr).await.unwrap_err();
        assert!(
            error.message.contains("cluster's secret"),
            "{}",
            error.message
        );

        stop.send(true).unwrap();
        server.await.unwrap().unwrap();
    }
}
