//! Hostile clients of a TLS-enabled node: garbage where a TLS handshake
//! should be, a ClientHello cut short, plain text on a port that offers
//! TLS, and the protocol fuzzer's cases sent inside a TLS session.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::Client;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::assert_healthy;
use crate::support::{Rng, TestServer};

/// The SSLRequest packet.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

fn connector(ca: &Path) -> TlsConnector {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(ca).unwrap();
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Reads until the peer closes or stays quiet.
async fn drain<S: AsyncReadExt + Unpin>(stream: &mut S) {
    let mut buf = vec![0u8; 64 << 10];
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends an SSLRequest and returns the socket once the server said 'S'.
async fn ssl_requested(port: u16) -> Option<TcpStream> {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    socket.write_all(&SSL_REQUEST).await.ok()?;
    let mut answer = [0u8; 1];
    socket.read_exact(&mut answer).await.ok()?;
    assert_eq!(answer[0], b'S', "a TLS-enabled node accepts SSLRequest");
    Some(socket)
}

pub async fn run(server: &mut TestServer, bystander: &Client, start_rss: u64, ca: &Path) {
    let port = server.port;
    let mut rng = Rng(0x7153_5eed);
    // Garbage instead of a handshake.
    for n in [1u64, 5, 300, 20_000] {
        if let Some(mut s) = ssl_requested(port).await {
            let _ = s.write_all(&rng.bytes(n)).await;
            drain(&mut s).await;
        }
    }
    assert_healthy(server, bystander, start_rss, "TLS handshake garbage").await;
    // A ClientHello cut short: a record header promising more than comes.
    for cut in [3usize, 5, 40, 150] {
        if let Some(mut s) = ssl_requested(port).await {
            let mut hello = vec![
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ];
            hello.extend(rng.bytes(200));
            hello.truncate(cut);
            let _ = s.write_all(&hello).await;
            // Then silence: the server must not wait forever on it
            // (the connection is dropped by the test after the drain).
            drain(&mut s).await;
        }
    }
    assert_healthy(server, bystander, start_rss, "a truncated ClientHello").await;
    // Plain text where TLS was offered: a startup after 'S', and the
    // protocol without asking for TLS at all.
    if let Some(mut s) = ssl_requested(port).await {
        let _ = s
            .write_all(b"\0\0\0\x21\0\x03\0\0user\0stemedb\0database\0stemedb\0\0")
            .await;
        drain(&mut s).await;
    }
    assert_healthy(
        server,
        bystander,
        start_rss,
        "plain text after the TLS answer",
    )
    .await;
    // The fuzzer's cases inside real TLS sessions.
    let tls = connector(ca);
    let end = Instant::now() + Duration::from_secs(5);
    let mut cases = 0;
    while Instant::now() < end {
        let (started, bytes) = super::protocol::case(&mut rng);
        let Some(socket) = ssl_requested(port).await else {
            continue;
        };
        let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
        let Ok(mut stream) = tls.connect(name, socket).await else {
            panic!("a TLS handshake with the node failed");
        };
        if started {
            let _ = stream.write_all(&super::protocol::startup()).await;
        }
        let _ = stream.write_all(&bytes).await;
        drain(&mut stream).await;
        cases += 1;
    }
    assert!(cases > 10, "only {cases} TLS cases ran");
    assert_healthy(server, bystander, start_rss, "fuzz cases over TLS").await;
    println!("TLS hostile: {cases} fuzz cases over TLS, server healthy");
}
