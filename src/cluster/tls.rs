//! Mutual TLS between nodes (`[cluster] tls = true`): every gRPC
//! connection is TLS 1.2/1.3 (rustls), each side presents its node
//! certificate (`tls_cert`/`tls_key`) and checks the other's against the
//! cluster's CA (`tls_ca`). A peer without a certificate of that CA is
//! refused at the handshake and logged with its address; a node reaches a
//! peer by the IP address of its `rpc_addr`, which the peer's certificate
//! must name (`stemedb cert create-node NAME HOST…` puts every HOST in).
//!
//! The handshakes are done here rather than by tonic, so the certificates
//! can be read again on a reload (SIGHUP, `stemedb_reload_config()`) —
//! new connections use the new ones, open ones go on — and so a refusal
//! names the address it came from. Not in the simulation build (the
//! simulated network carries no TLS).

use std::fs::File;
use std::io::BufReader;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::Stream;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::{Error, Result};

/// How long a peer may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The node's certificate, key and the cluster's CA.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// Both ends of node-to-node TLS, as read last.
pub struct NodeTls {
    paths: TlsPaths,
    configs: RwLock<(Arc<ServerConfig>, Arc<ClientConfig>)>,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::internal(format!("cannot read {}: {e}", path.display())))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(path)?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(pem.as_slice()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal(format!("bad certificate {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::internal(format!(
            "no certificate in {}",
            path.display()
        )));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let file = File::open(path)
        .map_err(|e| Error::internal(format!("cannot read {}: {e}", path.display())))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| Error::internal(format!("bad key {}: {e}", path.display())))?
        .ok_or_else(|| Error::internal(format!("no private key in {}", path.display())))
}

fn configs(paths: &TlsPaths) -> Result<(Arc<ServerConfig>, Arc<ClientConfig>)> {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let mut roots = RootCertStore::empty();
    for ca in certificates(&paths.ca)? {
        roots
            .add(ca)
            .map_err(|e| Error::internal(format!("bad CA {}: {e}", paths.ca.display())))?;
    }
    let roots = Arc::new(roots);
    let chain = certificates(&paths.cert)?;
    let setup = |e: tokio_rustls::rustls::Error| {
        Error::internal(format!("node TLS ({}): {e}", paths.cert.display()))
    };
    let verifier = WebPkiClientVerifier::builder(roots.clone())
        .build()
        .map_err(|e| Error::internal(format!("bad CA {}: {e}", paths.ca.display())))?;
    let server = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), private_key(&paths.key)?)
        .map_err(setup)?;
    let mut client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, private_key(&paths.key)?)
        .map_err(setup)?;
    // gRPC is HTTP/2.
    client.alpn_protocols = vec![b"h2".to_vec()];
    let mut server = server;
    server.alpn_protocols = vec![b"h2".to_vec()];
    Ok((Arc::new(server), Arc::new(client)))
}

impl NodeTls {
    pub fn load(paths: TlsPaths) -> Result<Arc<NodeTls>> {
        let configs = RwLock::new(configs(&paths)?);
        Ok(Arc::new(NodeTls { paths, configs }))
    }

    /// Reads the files again; a bad one leaves the ones in use in place.
    pub fn reload(&self) -> Result<()> {
        let fresh = configs(&self.paths)?;
        *self.configs.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    fn server(&self) -> Arc<ServerConfig> {
        self.configs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    fn client(&self) -> Arc<ClientConfig> {
        self.configs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// The TLS connections `listener` accepts from peers with a
    /// certificate of the cluster's CA (others are logged and dropped).
    pub fn incoming(
        self: &Arc<Self>,
        listener: TcpListener,
    ) -> impl Stream<Item = std::io::Result<Accepted>> + use<> {
        let (sender, receiver) = mpsc::channel(16);
        let tls = self.clone();
        tokio::spawn(async move {
            loop {
                // Stops with the server (which drops the receiver).
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = sender.closed() => return,
                };
                let (stream, from) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::debug!("cluster: accepting a connection: {e}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = TlsAcceptor::from(tls.server());
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            drop(sender.send(Ok(crate::runtime::net::Accepted(tls))).await)
                        }
                        Ok(Err(e)) => tracing::warn!(
                            %from,
                            "cluster: refused a connection without a certificate of this \
                             cluster's CA (tls_ca): {e}"
                        ),
                        Err(_) => tracing::warn!(%from, "cluster: a TLS handshake timed out"),
                    }
                });
            }
        });
        futures::stream::unfold(
            receiver,
            |mut r| async move { r.recv().await.map(|c| (c, r)) },
        )
    }

    /// A channel to `endpoint` (an `http://IP:port` address) over TLS,
    /// leaving from `from_ip`, connected at its first call.
    pub fn channel(self: &Arc<Self>, endpoint: Endpoint, from_ip: IpAddr) -> Channel {
        let tls = self.clone();
        let connector = tower::service_fn(move |uri: Uri| {
            let tls = tls.clone();
            async move { tls.connect(&uri, from_ip).await.map(TokioIo::new) }
        });
        endpoint.connect_with_connector_lazy(connector)
    }

    async fn connect(
        &self,
        uri: &Uri,
        from_ip: IpAddr,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string());
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let ip: IpAddr = host
            .trim_matches(['[', ']'])
            .parse()
            .map_err(|_| bad("a peer's rpc_addr must be an IP address"))?;
        let addr = SocketAddr::new(ip, uri.port_u16().ok_or_else(|| bad("no port"))?);
        let socket = match ip {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(from_ip, 0))?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        let connector = TlsConnector::from(self.client());
        connector
            .connect(ServerName::IpAddress(ip.into()), stream)
            .await
            .inspect_err(|e| {
                tracing::warn!(
                    peer = %addr,
                    "cluster: TLS to a peer failed (its certificate must be signed by tls_ca \
                     and name {ip}): {e}"
                )
            })
    }
}

/// A peer's TLS connection, as tonic's server takes it.
pub type Accepted = crate::runtime::net::Accepted<tokio_rustls::server::TlsStream<TcpStream>>;

impl Connected for Accepted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        let tcp = self.0.get_ref().0;
        TcpConnectInfo {
            local_addr: tcp.local_addr().ok(),
            remote_addr: tcp.peer_addr().ok(),
        }
    }
}
