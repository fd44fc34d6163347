//! The cluster's sockets: gossip's UDP socket, the RPC listener, and the
//! channels RPC calls go out on. Normally tokio's and tonic's own TCP; in
//! the simulation build turmoil's simulated UDP and TCP, which mirror
//! tokio's (the same `bind`, `send_to`, `recv_from`, `accept`), so the
//! cluster's code does not know which it runs on.

#[cfg(not(feature = "sim"))]
pub use tokio::net::{TcpListener, UdpSocket};
#[cfg(feature = "sim")]
pub use turmoil::net::{TcpListener, UdpSocket};

#[cfg(not(feature = "sim"))]
use tonic::transport::{Channel, Endpoint};

/// The address a socket for `addr` binds. In the simulation every host
/// has one address and turmoil's sockets bind only the unspecified one,
/// so the port is bound on it.
pub fn bindable(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    #[cfg(feature = "sim")]
    return std::net::SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addr.port());
    #[cfg(not(feature = "sim"))]
    addr
}

/// The connections `listener` accepts, as tonic's server takes them (with
/// TCP_NODELAY: without it a small reply waits for the peer's delayed
/// ACK, 40 ms per replicated write or remote lookup).
#[cfg(not(feature = "sim"))]
pub fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// A channel to `endpoint`, connected at its first call (and again after
/// the peer restarts).
#[cfg(not(feature = "sim"))]
pub fn channel(endpoint: Endpoint) -> Channel {
    endpoint.connect_lazy()
}

#[cfg(feature = "sim")]
pub use simulated::{channel, incoming};

/// A connection a server accepted (a simulated TCP stream, a node-to-node
/// TLS stream), read and written as the stream itself; each kind says
/// where it comes from by implementing tonic's `Connected` for it.
pub struct Accepted<S>(pub S);

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Accepted<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Accepted<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(feature = "sim")]
mod simulated {
    use std::io;

    use futures::Stream;
    use hyper_util::rt::TokioIo;
    use tonic::transport::server::{Connected, TcpConnectInfo};

    use super::Accepted;
    use tonic::transport::{Channel, Endpoint, Uri};
    use turmoil::net::{TcpListener, TcpStream};

    /// A simulated connection as tonic's server takes it.
    impl Connected for Accepted<TcpStream> {
        type ConnectInfo = TcpConnectInfo;

        fn connect_info(&self) -> TcpConnectInfo {
            TcpConnectInfo {
                local_addr: self.0.local_addr().ok(),
                remote_addr: self.0.peer_addr().ok(),
            }
        }
    }

    pub fn incoming(listener: TcpListener) -> impl Stream<Item = io::Result<Accepted<TcpStream>>> {
        futures::stream::unfold(listener, |listener| async move {
            let accepted = listener.accept().await.map(|(s, _)| Accepted(s));
            Some((accepted, listener))
        })
    }

    pub fn channel(endpoint: Endpoint) -> Channel {
        let connect = tower::service_fn(|uri: Uri| async move {
            let authority = uri
                .authority()
                .ok_or_else(|| io::Error::other(format!("no address in {uri}")))?
                .to_string();
            Ok::<_, io::Error>(TokioIo::new(TcpStream::connect(authority).await?))
        });
        endpoint.connect_with_connector_lazy(connect)
    }
}
