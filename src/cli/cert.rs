//! `stemedb cert create-ca | create-node | create-client`: the certificates
//! a cluster on separate hosts needs, made in-process (rcgen) so an
//! operator needs no openssl incantations. The names follow
//! `cockroach cert`:
//!
//! - `create-ca`: `ca.crt` and `ca.key` — the authority every node and
//!   client certificate is signed by (`tls_ca` on every node);
//! - `create-node NAME HOST…`: `NAME.crt`/`NAME.key`, valid for serving and
//!   for connecting (gRPC between nodes is mutual TLS), with every host
//!   name and address the node is reached by;
//! - `create-client USER`: `client.USER.crt`/`.key` with `CN = USER`, to
//!   log in as USER without a password (`sslmode=verify-full sslcert=…`).
//!
//! Keys are written readable by their owner only; nothing is overwritten.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::error::{Error, Result};

#[derive(Subcommand)]
pub enum CertCommand {
    /// Make the certificate authority: DIR/ca.crt and DIR/ca.key.
    CreateCa {
        #[arg(long)]
        certs_dir: PathBuf,
    },
    /// Make node NAME's certificate, signed by DIR/ca.key, for every HOST
    /// (names and IP addresses) it is reached by.
    CreateNode {
        #[arg(long)]
        certs_dir: PathBuf,
        name: String,
        #[arg(required = true)]
        hosts: Vec<String>,
    },
    /// Make a client certificate for USER (its CN), signed by DIR/ca.key.
    CreateClient {
        #[arg(long)]
        certs_dir: PathBuf,
        user: String,
    },
}

/// Years a certificate authority, and a node or client certificate, stay
/// valid.
const CA_YEARS: i32 = 10;
const LEAF_YEARS: i32 = 5;

pub fn main(command: CertCommand) -> ExitCode {
    let made = match command {
        CertCommand::CreateCa { certs_dir } => create_ca(&certs_dir),
        CertCommand::CreateNode {
            certs_dir,
            name,
            hosts,
        } => create_node(&certs_dir, &name, &hosts),
        CertCommand::CreateClient { certs_dir, user } => create_client(&certs_dir, &user),
    };
    match made {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stemedb cert: {e}");
            ExitCode::FAILURE
        }
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("{what}: {e}"))
}

/// Valid from yesterday (clocks differ) for `years`.
fn validity(params: &mut CertificateParams, years: i32) {
    use chrono::Datelike;
    let from = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    let (m, d) = (from.month() as u8, from.day().min(28) as u8);
    params.not_before = rcgen::date_time_ymd(from.year(), m, d);
    params.not_after = rcgen::date_time_ymd(from.year() + years, m, d);
}

pub fn create_ca(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut params = CertificateParams::new(Vec::new()).map_err(|e| failed("CA", e))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "StemeDB");
    params
        .distinguished_name
        .push(DnType::CommonName, "StemeDB CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, CA_YEARS);
    let key = KeyPair::generate().map_err(|e| failed("CA key", e))?;
    let cert = params.self_signed(&key).map_err(|e| failed("CA", e))?;
    write_pair(dir, "ca", &cert.pem(), &key.serialize_pem())
}

/// The CA of `dir`, to sign with.
fn issuer(dir: &Path) -> Result<Issuer<'static, KeyPair>> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| {
            failed(
                &format!("{} (run `stemedb cert create-ca` first?)", path.display()),
                e,
            )
        })
    };
    let key = KeyPair::from_pem(&read("ca.key")?).map_err(|e| failed("ca.key", e))?;
    Issuer::from_ca_cert_pem(&read("ca.crt")?, key).map_err(|e| failed("ca.crt", e))
}

pub fn create_node(dir: &Path, name: &str, hosts: &[String]) -> Result<Vec<PathBuf>> {
    let mut params = CertificateParams::new(Vec::new()).map_err(|e| failed("node", e))?;
    for host in hosts {
        params.subject_alt_names.push(match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                host.clone()
                    .try_into()
                    .map_err(|e| failed(&format!("host name {host}"), e))?,
            ),
        });
    }
    params
        .distinguished_name
        .push(DnType::OrganizationName, "StemeDB");
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // A node serves (SQL, admin HTTP, gRPC) and connects to its peers.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    sign(dir, name, params)
}

pub fn create_client(dir: &Path, user: &str) -> Result<Vec<PathBuf>> {
    let mut params = CertificateParams::new(Vec::new()).map_err(|e| failed("client", e))?;
    params.distinguished_name.push(DnType::CommonName, user);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    sign(dir, &format!("client.{user}"), params)
}

/// Signs a leaf certificate of `params` with a fresh key by the CA of
/// `dir`, valid [`LEAF_YEARS`], and writes `stem.crt` and `stem.key`.
fn sign(dir: &Path, stem: &str, mut params: CertificateParams) -> Result<Vec<PathBuf>> {
    let issuer = issuer(dir)?;
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, LEAF_YEARS);
    let key = KeyPair::generate().map_err(|e| failed(&format!("{stem} key"), e))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| failed(stem, e))?;
    write_pair(dir, stem, &cert.pem(), &key.serialize_pem())
}

/// Writes `stem.crt` and `stem.key` (mode 0600) into `dir`, refusing to
/// replace either.
fn write_pair(dir: &Path, stem: &str, cert: &str, key: &str) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| failed(&dir.display().to_string(), e))?;
    let (crt, pem) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    for path in [&crt, &pem] {
        if path.exists() {
            return Err(Error::internal(format!(
                "{} exists: not replacing it (move it away first)",
                path.display()
            )));
        }
    }
    write_private(&pem, key)?;
    std::fs::write(&crt, cert).map_err(|e| failed(&crt.display().to_string(), e))?;
    Ok(vec![crt, pem])
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .map_err(|e| failed(&path.display().to_string(), e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| failed(&path.display().to_string(), e))
}
