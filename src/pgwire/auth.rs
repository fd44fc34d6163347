//! Startup and authentication. With a password configured, every login is
//! SCRAM-SHA-256 (channel binding offered under TLS); without one, logins
//! are trusted — which the server only allows while it listens on loopback
//! (checked in `server.rs`). Every connection also gets a cancel key and is
//! counted against `max_connections` (`53300` beyond it), and is admitted
//! by the `[limits]` rates ([`super::admission`]).

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager, METADATA_USER,
    PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::admission::Admission;
use super::audit;
use super::errors::fatal;
use super::tls::ServerTls;
use crate::connections::InFlight;
use crate::error::sqlstate;
use crate::monitor;
use crate::planner::Engine;

/// The only user that has a password (docs/sql.md).
pub const DEFAULT_USER: &str = "stemedb";

const SCRAM_ITERATIONS: usize = 4096;

/// The parameters drivers expect in the startup reply.
pub fn server_parameters() -> DefaultServerParameterProvider {
    let mut p = DefaultServerParameterProvider::default();
    p.server_version = crate::PG_SERVER_VERSION.to_string();
    p.time_zone = "UTC".to_string();
    p.date_style = "ISO, MDY".to_string();
    p.scram_iterations = SCRAM_ITERATIONS;
    p
}

/// The bootstrap user's password, salted once at startup (PBKDF2 is slow
/// by design; there is no reason to pay for it on every login), and the
/// store whose catalog holds the other roles' SCRAM verifiers.
struct Credentials {
    salt: Vec<u8>,
    salted_password: Vec<u8>,
    store: Arc<crate::storage::Store>,
}

impl Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials")
    }
}

#[async_trait]
impl AuthSource for Credentials {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        match login.user() {
            Some(DEFAULT_USER) => Ok(Password::new(
                Some(self.salt.clone()),
                self.salted_password.clone(),
            )),
            other => Err(PgWireError::InvalidPassword(
                other.unwrap_or_default().to_string(),
            )),
        }
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        if user == DEFAULT_USER {
            let secret = ScramSecret::SaltedPassword {
                salt: self.salt.clone(),
                salted_password: self.salted_password.clone(),
            };
            return Ok((secret, None));
        }
        let verifier = crate::planner::roles::login_verifier(&self.store, user)
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        match verifier {
            Some(v) => Ok((
                ScramSecret::Verifier {
                    salt: v.salt,
                    iterations: v.iterations,
                    stored_key: v.stored_key,
                    server_key: v.server_key,
                },
                None,
            )),
            // No such role, no LOGIN or no password: refused as a wrong
            // password (which does not tell a prober which it was).
            None => Err(PgWireError::InvalidPassword(user.to_string())),
        }
    }
}

type Sasl = SASLAuthStartupHandler<DefaultServerParameterProvider>;

/// The SCRAM handler of TLS connections: it also offers
/// SCRAM-SHA-256-PLUS, bound to the server's certificate — made again
/// when a reload changed the certificate.
struct TlsSasl {
    tls: Arc<ServerTls>,
    made: Mutex<(u64, Arc<Sasl>)>,
}

/// How logins are checked.
enum Login {
    Trust,
    /// SCRAM-SHA-256 on plain connections; `tls` serves TLS connections
    /// (offered on a plain one, SCRAM-SHA-256-PLUS makes libpq refuse).
    Scram {
        credentials: Arc<Credentials>,
        plain: Arc<Sasl>,
        tls: Option<TlsSasl>,
    },
}

fn sasl(
    credentials: &Arc<Credentials>,
    certificate: Option<&[u8]>,
    manager: &Arc<ConnectionManager>,
) -> PgWireResult<Arc<Sasl>> {
    let mut scram = ScramAuth::new(credentials.clone());
    scram.set_iterations(SCRAM_ITERATIONS);
    if let Some(cert) = certificate {
        scram.configure_certificate(cert)?;
    }
    Ok(Arc::new(
        SASLAuthStartupHandler::new(Arc::new(server_parameters()))
            .with_scram(scram)
            .with_connection_manager(manager.clone()),
    ))
}

/// The startup handler of every connection.
pub struct Startup {
    engine: Engine,
    login: Login,
    /// Client certificates are checked (against `tls_ca`): one whose CN
    /// is the user logs in without a password.
    certificates: bool,
    manager: Arc<ConnectionManager>,
    keys: RandomPidSecretKeyGenerator,
    active: Arc<InFlight>,
    max_connections: usize,
    admission: Arc<Admission>,
}

impl Startup {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: Engine,
        password: Option<(&str, Vec<u8>)>,
        tls: Option<(Arc<ServerTls>, bool)>,
        manager: Arc<ConnectionManager>,
        active: Arc<InFlight>,
        max_connections: usize,
        admission: Arc<Admission>,
    ) -> PgWireResult<Startup> {
        let login = match password {
            None => Login::Trust,
            Some((password, salt)) => {
                let credentials = Arc::new(Credentials {
                    salted_password: gen_salted_password(password, &salt, SCRAM_ITERATIONS),
                    salt,
                    store: engine.store().clone(),
                });
                let plain = sasl(&credentials, None, &manager)?;
                let tls = match &tls {
                    Some((tls, _)) => {
                        let loaded = tls.current();
                        let made = sasl(&credentials, Some(&loaded.pem), &manager)?;
                        Some(TlsSasl {
                            tls: tls.clone(),
                            made: Mutex::new((loaded.version, made)),
                        })
                    }
                    None => None,
                };
                Login::Scram {
                    credentials,
                    plain,
                    tls,
                }
            }
        };
        Ok(Startup {
            engine,
            login,
            certificates: tls.is_some_and(|(_, ca)| ca),
            manager,
            keys: RandomPidSecretKeyGenerator::default(),
            active,
            max_connections,
            admission,
        })
    }

    /// The SCRAM handler for `client`'s connection.
    fn scram_for<C: ClientInfo>(&self, client: &C) -> PgWireResult<Option<Arc<Sasl>>> {
        let Login::Scram {
            credentials,
            plain,
            tls,
        } = &self.login
        else {
            return Ok(None);
        };
        let Some(tls) = tls.as_ref().filter(|_| client.is_secure()) else {
            return Ok(Some(plain.clone()));
        };
        let mut made = tls.made.lock().unwrap_or_else(|e| e.into_inner());
        let loaded = tls.tls.current();
        if made.0 != loaded.version {
            *made = (
                loaded.version,
                sasl(credentials, Some(&loaded.pem), &self.manager)?,
            );
        }
        Ok(Some(made.1.clone()))
    }

    /// The user a verified client certificate logs in: its CN, when it is
    /// the user the client asks for.
    fn certified<C: ClientInfo>(&self, client: &C, message: &PgWireFrontendMessage) -> bool {
        if !self.certificates || !client.is_secure() {
            return false;
        }
        let user = startup_user(message);
        let cn = client
            .client_certificates()
            .and_then(|certs| certs.first())
            .and_then(super::tls::client_name);
        cn.is_some_and(|cn| {
            !user.is_empty()
                && cn == user
                && crate::planner::roles::may_log_in(self.engine.store(), user)
        })
    }

    /// Logs `client` in without a password (`method` says why).
    async fn trusted<C>(
        &self,
        client: &mut C,
        message: &PgWireFrontendMessage,
        method: &'static str,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        let (pid, key) = self.keys.generate(client);
        client.set_pid_and_secret_key(pid, key.clone());
        let (handle, guard) = self.manager.register(pid, key);
        client
            .session_extensions()
            .insert::<Arc<ConnectionHandle>>(handle);
        client.session_extensions().insert::<ConnectionGuard>(guard);
        finish_authentication(client, &server_parameters()).await?;
        audit::login(client.socket_addr(), user_of(client), method);
        super::logged_in(&self.engine, client);
        Ok(())
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(_) = &message {
            let client_addr = client.socket_addr();
            if let Err((reason, why)) = self.admission.admit_connection(client_addr.ip()) {
                audit::refused(client_addr, startup_user(&message), reason);
                return Err(fatal(sqlstate::TOO_MANY_CONNECTIONS, why));
            }
            if self.active.count() > self.max_connections {
                monitor::connection_refused("max_connections");
                audit::refused(
                    client.socket_addr(),
                    startup_user(&message),
                    "max_connections",
                );
                return Err(fatal(
                    sqlstate::TOO_MANY_CONNECTIONS,
                    format!(
                        "sorry, too many clients already (max_connections = {})",
                        self.max_connections
                    ),
                ));
            }
        }
        if matches!(message, PgWireFrontendMessage::Startup(_)) && self.certified(client, &message)
        {
            return self.trusted(client, &message, "certificate").await;
        }
        let Some(sasl) = self.scram_for(client)? else {
            return self.trusted(client, &message, "trust").await;
        };
        if let Err(e) = sasl.on_startup(client, message).await {
            if e.code() != sqlstate::INVALID_PASSWORD {
                return Err(e);
            }
            monitor::auth_failure();
            self.admission.login_failed(client.socket_addr().ip());
            let user = user_of(client);
            audit::failed_login(client.socket_addr(), user, "wrong password");
            // Named after the user of the startup message: SCRAM's own
            // user name is empty from libpq.
            return Err(fatal(
                sqlstate::INVALID_PASSWORD,
                format!("password authentication failed for user \"{user}\""),
            ));
        }
        if matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            audit::login(client.socket_addr(), user_of(client), "scram-sha-256");
            super::logged_in(&self.engine, client);
        }
        Ok(())
    }
}

/// The user a client logs in as (from its startup message).
fn user_of<C: ClientInfo>(client: &C) -> &str {
    client
        .metadata()
        .get(METADATA_USER)
        .map(String::as_str)
        .unwrap_or("")
}

/// The user named in a startup message.
fn startup_user(message: &PgWireFrontendMessage) -> &str {
    match message {
        PgWireFrontendMessage::Startup(s) => {
            s.parameters.get("user").map(String::as_str).unwrap_or("")
        }
        _ => "",
    }
}
