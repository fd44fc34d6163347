//! Node-to-node gRPC (tonic) on `[cluster] rpc_addr`. Every call carries
//! the cluster's token — a key derived from the secret, in the
//! `x-stemedb-cluster` metadata — and a call without the right one is
//! refused (`UNAUTHENTICATED`) before any service sees it. Outgoing calls
//! leave from the node's own IP (`Endpoint::local_address`), so firewall
//! rules by node address hold. Replication will be served here; today the
//! service answers `Hello`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tonic::{Request, Response, Status};

use super::members::Membership;
use crate::error::{Error, Result};

#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("stemedb.cluster.v1");
}

use proto::node_client::NodeClient;
use proto::node_server::{Node, NodeServer};
use proto::{HelloReply, HelloRequest};

const TOKEN_HEADER: &str = "x-stemedb-cluster";

/// The token calls carry: a key derived from the cluster secret, in hex.
pub fn rpc_token(secret: Option<&str>) -> String {
    let key = blake3::derive_key(
        "stemedb 2026 cluster rpc v1",
        secret.unwrap_or("").as_bytes(),
    );
    blake3::Hash::from(key).to_hex().to_string()
}

/// Whether `request` carries `token` (compared in constant time).
fn authentic<T>(request: &Request<T>, token: &blake3::Hash) -> bool {
    request
        .metadata()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| blake3::Hash::from_hex(v).ok())
        .is_some_and(|given| given == *token)
}

struct Service {
    membership: Arc<Membership>,
}

#[tonic::async_trait]
impl Node for Service {
    async fn hello(
        &self,
        request: Request<HelloRequest>,
    ) -> std::result::Result<Response<HelloReply>, Status> {
        let me = self.membership.me();
        let seen_from = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        Ok(Response::new(HelloReply {
            node_id: me.id.clone(),
            generation: me.generation,
            seen_from,
        }))
    }
}

/// Serves the node's RPC on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    membership: Arc<Membership>,
    token: String,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let token = blake3::Hash::from_hex(&token).map_err(|e| Error::internal(e.to_string()))?;
    let check = move |request: Request<()>| {
        if authentic(&request, &token) {
            Ok(request)
        } else {
            tracing::warn!(
                from = ?request.remote_addr(),
                "cluster: refused an RPC not signed with this cluster's secret"
            );
            Err(Status::unauthenticated(
                "not signed with this cluster's secret",
            ))
        }
    };
    let service = NodeServer::with_interceptor(Service { membership }, check);
    Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
        .map_err(|e| Error::internal(format!("cluster RPC server: {e}")))
}

/// Calls `Hello` on the node at `peer`, from local address `from_ip`.
pub async fn hello(peer: SocketAddr, from_ip: IpAddr, token: &str, me: &str) -> Result<HelloReply> {
    let failed = |e: &dyn std::fmt::Display| Error::internal(format!("RPC to {peer}: {e}"));
    let channel = Endpoint::from_shared(format!("http://{peer}"))
        .map_err(|e| failed(&e))?
        .local_address(Some(from_ip))
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| failed(&e))?;
    let token: MetadataValue<_> = token.parse().map_err(|e| failed(&e))?;
    let mut client = NodeClient::with_interceptor(channel, move |mut request: Request<()>| {
        request.metadata_mut().insert(TOKEN_HEADER, token.clone());
        Ok(request)
    });
    let reply = client
        .hello(HelloRequest {
            from: me.to_string(),
        })
        .await
        .map_err(|status| failed(&status.message()))?;
    Ok(reply.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_need_the_cluster_token_and_leave_from_the_callers_ip() {
        let membership = Arc::new(Membership::single("node1", String::new()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let token = rpc_token(Some("s3cret"));
        let server = tokio::spawn(serve(listener, membership, token.clone(), stopped));

        let from: IpAddr = "127.0.0.2".parse().unwrap();
        let reply = hello(addr, from, &token, "node2").await.unwrap();
        assert_eq!(reply.node_id, "node1");
        assert!(
            reply.seen_from.starts_with("127.0.0.2:"),
            "{}",
            reply.seen_from
        );

        let wrong = rpc_token(Some("other"));
        let error = hello(addr, from, &wrong, "node3").await.unwrap_err();
        assert!(
            error.message.contains("cluster's secret"),
            "{}",
            error.message
        );

        stop.send(true).unwrap();
        server.await.unwrap().unwrap();
    }
}
