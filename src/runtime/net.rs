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

#[cfg(feature = "sim")]
mod simulated {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::Stream;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tonic::transport::server::{Connected, TcpConnectInfo};
    use tonic::transport::{Channel, Endpoint, Uri};
    use turmoil::net::{TcpListener, TcpStream};

    /// A simulated connection as tonic's server takes it.
    pub struct Accepted(TcpStream);

    impl Connected for Accepted {
        type ConnectInfo = TcpConnectInfo;

        fn connect_info(&self) -> TcpConnectInfo {
            TcpConnectInfo {
                local_addr: self.0.local_addr().ok(),
                remote_addr: self.0.peer_addr().ok(),
            }
        }
    }

    impl AsyncRead for Accepted {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Accepted {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    pub fn incoming(listener: TcpListener) -> impl Stream<Item = io::Result<Accepted>> {
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
