//! TLS for the wire server (rustls, ring provider): the server's
//! certificate and key (`tls_cert`, `tls_key`) and, with `tls_ca`, client
//! certificates — optional, but one a client presents must be signed by
//! that CA, and logs its CN in without a password ([`client_name`]). The
//! files are read again on a reload: new connections use the new ones.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::RootCertStore;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::server::WebPkiClientVerifier;

use crate::error::{Error, Result};

/// Paths of a PEM certificate chain and private key, and the CA client
/// certificates are checked against.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: Option<PathBuf>,
}

/// What one reading of the files gives.
#[derive(Clone)]
pub struct Loaded {
    pub acceptor: TlsAcceptor,
    /// The certificate's PEM (SCRAM channel binding hashes it).
    pub pem: Arc<Vec<u8>>,
    /// Grows with every reload.
    pub version: u64,
}

/// The server's TLS, as read last.
pub struct ServerTls {
    files: TlsFiles,
    current: RwLock<Loaded>,
}

fn read(p: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| Error::internal(format!("cannot read {}: {e}", p.display())))
}

fn certificates(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(path)?;
    rustls_pemfile::certs(&mut BufReader::new(pem.as_slice()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal(format!("bad certificate {}: {e}", path.display())))
}

fn load(files: &TlsFiles, version: u64) -> Result<Loaded> {
    let pem = read(&files.cert)?;
    let certs = certificates(&files.cert)?;
    let key = rustls_pemfile::private_key(&mut BufReader::new(
        File::open(&files.key)
            .map_err(|e| Error::internal(format!("cannot read {}: {e}", files.key.display())))?,
    ))
    .map_err(|e| Error::internal(format!("bad key {}: {e}", files.key.display())))?
    .ok_or_else(|| Error::internal(format!("no private key in {}", files.key.display())))?;
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let builder = ServerConfig::builder();
    let builder = match &files.ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| Error::internal(format!("bad CA {}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|e| Error::internal(format!("bad CA {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| Error::internal(format!("TLS setup: {e}")))?;
    Ok(Loaded {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        pem: Arc::new(pem),
        version,
    })
}

impl ServerTls {
    pub fn load(files: TlsFiles) -> Result<Arc<ServerTls>> {
        let current = RwLock::new(load(&files, 0)?);
        Ok(Arc::new(ServerTls { files, current }))
    }

    /// Reads the files again; a bad one leaves the ones in use in place.
    pub fn reload(&self) -> Result<()> {
        let version = self.current().version + 1;
        let fresh = load(&self.files, version)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    pub fn current(&self) -> Loaded {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The common name of a client certificate (rustls has checked it chains
/// to `tls_ca` before the client got this far).
pub fn client_name(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    let name = parsed.subject().iter_common_name().next()?;
    name.as_str().ok().map(str::to_string)
}
