//! Roles and what they may do (docs/operations.md, Security). A role is a
//! catalog entry `role/<name>` ([`crate::storage::CatalogEntry`]), held by
//! every node and changed cluster-wide through
//! [`crate::cluster::Replicas::publish_catalog`]: its LOGIN flag, its
//! password as a SCRAM-SHA-256 verifier only (salt, iterations, StoredKey,
//! ServerKey — never the password), and the predefined roles granted to it.
//!
//! | role | may |
//! |---|---|
//! | `pg_read_all_data` | read every table (SELECT, COPY TO) |
//! | `pg_write_all_data` | INSERT into assertions and retractions, COPY FROM |
//! | `stemedb_admin` | backup, archive, sync, membership changes, reload, terminate others' backends, manage roles |
//!
//! The user of `password` in the configuration (`stemedb`) is the
//! bootstrap superuser and may do everything; a user that logs in by trust
//! (no password configured: loopback only) without a role reads and
//! writes, as before roles existed, but administers nothing.
//! What a role may not do is refused with `42501`.
//!
//! - [`statements`]: CREATE / ALTER / DROP ROLE, GRANT / REVOKE a role.

pub mod statements;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, sqlstate};
use crate::storage::Store;

/// The bootstrap superuser (the configuration's `password` is its).
pub const BOOTSTRAP_USER: &str = "stemedb";

pub const READ_ALL: &str = "pg_read_all_data";
pub const WRITE_ALL: &str = "pg_write_all_data";
pub const ADMIN: &str = "stemedb_admin";
/// The roles that may be granted.
pub const PREDEFINED: [&str; 3] = [READ_ALL, WRITE_ALL, ADMIN];

/// What a statement needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    Read,
    Write,
    Admin,
}

impl Privilege {
    fn role(self) -> &'static str {
        match self {
            Privilege::Read => READ_ALL,
            Privilege::Write => WRITE_ALL,
            Privilege::Admin => ADMIN,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Privilege::Read => "read data",
            Privilege::Write => "write data",
            Privilege::Admin => "run administrative functions",
        }
    }
}

/// A SCRAM-SHA-256 verifier, as PostgreSQL keeps one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifier {
    pub salt: Vec<u8>,
    pub iterations: usize,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

/// One role, as its catalog entry holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub login: bool,
    pub verifier: Option<Verifier>,
    /// Predefined roles granted to it.
    pub member_of: BTreeSet<String>,
}

pub fn key(name: &str) -> String {
    format!("role/{name}")
}

impl Role {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether it may do what `privilege` covers.
    pub fn may(&self, privilege: Privilege) -> bool {
        self.member_of.contains(privilege.role())
    }
}

/// The role `name`, if it exists.
pub fn find(store: &Store, name: &str) -> Result<Option<Role>> {
    let Some(entry) = store.catalog_entry(&key(name))? else {
        return Ok(None);
    };
    match entry.value {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::internal(format!("role {name} is damaged: {e}"))),
        None => Ok(None),
    }
}

/// Every role, by name.
pub fn all(store: &Store) -> Result<Vec<Role>> {
    let mut roles = Vec::new();
    for entry in store.catalog()? {
        if let (Some(_), Some(bytes)) = (entry.key.strip_prefix("role/"), entry.value) {
            roles.extend(serde_json::from_slice::<Role>(&bytes).ok());
        }
    }
    Ok(roles)
}

/// A session's copy of its role, kept while the catalog does not change
/// (a statement's check then reads no catalog entry).
#[derive(Default)]
pub struct Cached(std::sync::Mutex<Option<(u64, Option<Role>)>>);

impl Cached {
    fn role(&self, store: &Store, user: &str) -> Result<Option<Role>> {
        let version = store.catalog_version();
        let mut cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some((v, role)) if *v == version => Ok(role.clone()),
            _ => {
                let role = find(store, user)?;
                *cached = Some((version, role.clone()));
                Ok(role)
            }
        }
    }
}

/// Refuses (`42501`) unless `user` may do what `privilege` covers.
pub fn check(store: &Store, user: &str, privilege: Privilege) -> Result<()> {
    check_cached(store, user, privilege, &Cached::default())
}

/// [`check`], with the role read through `cache`.
pub fn check_cached(store: &Store, user: &str, privilege: Privilege, cache: &Cached) -> Result<()> {
    if user == BOOTSTRAP_USER {
        return Ok(());
    }
    match cache.role(store, user)? {
        // No role: a trust login (loopback, no password) reads and writes
        // as before roles; administration is the bootstrap user's.
        None if privilege != Privilege::Admin => Ok(()),
        Some(role) if role.may(privilege) => Ok(()),
        _ => Err(Error::new(
            sqlstate::INSUFFICIENT_PRIVILEGE,
            format!(
                "permission denied: role \"{user}\" may not {} (GRANT {} TO {user})",
                privilege.what(),
                privilege.role()
            ),
        )),
    }
}

/// The verifier of a role that may log in with a password.
pub fn login_verifier(store: &Store, user: &str) -> Result<Option<Verifier>> {
    Ok(find(store, user)?
        .filter(|r| r.login)
        .and_then(|r| r.verifier))
}

/// Whether `user` may log in by a client certificate (its CN).
pub fn may_log_in(store: &Store, user: &str) -> bool {
    user == BOOTSTRAP_USER || find(store, user).ok().flatten().is_some_and(|r| r.login)
}

/// The verifier of `password` with a fresh salt (RFC 5802, as libpq
/// derives it: the password SASLprep-normalised, PBKDF2-HMAC-SHA-256).
pub fn verifier(password: &str) -> Result<Verifier> {
    use ring::{digest, hmac, pbkdf2};
    const ITERATIONS: u32 = 4096;
    let mut salt = vec![0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| Error::internal("no randomness for a salt"))?;
    let normalised = stringprep::saslprep(password).unwrap_or(std::borrow::Cow::Borrowed(password));
    let mut salted = [0u8; 32];
    let rounds = std::num::NonZeroU32::new(ITERATIONS).unwrap_or(std::num::NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        &salt,
        normalised.as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let server_key = hmac::sign(&key, b"Server Key");
    Ok(Verifier {
        salt,
        iterations: ITERATIONS as usize,
        stored_key: digest::digest(&digest::SHA256, client_key.as_ref())
            .as_ref()
            .to_vec(),
        server_key: server_key.as_ref().to_vec(),
    })
}
