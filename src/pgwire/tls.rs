//! TLS for the wire server (rustls, ring provider).

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use crate::error::{Error, Result};

/// Paths of a PEM certificate chain and private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Builds the acceptor; also returns the certificate PEM (SCRAM channel
/// binding hashes it).
pub fn acceptor(files: &TlsFiles) -> Result<(TlsAcceptor, Vec<u8>)> {
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| Error::internal(format!("cannot read {}: {e}", p.display())))
    };
    let pem = read(&files.cert)?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(pem.as_slice()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal(format!("bad certificate {}: {e}", files.cert.display())))?;
    let key = rustls_pemfile::private_key(&mut BufReader::new(
        File::open(&files.key)
            .map_err(|e| Error::internal(format!("cannot read {}: {e}", files.key.display())))?,
    ))
    .map_err(|e| Error::internal(format!("bad key {}: {e}", files.key.display())))?
    .ok_or_else(|| Error::internal(format!("no private key in {}", files.key.display())))?;
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::internal(format!("TLS setup: {e}")))?;
    Ok((TlsAcceptor::from(Arc::new(config)), pem))
}
