//! Startup and authentication. With a password configured, every login is
//! SCRAM-SHA-256 (channel binding offered under TLS); without one, logins
//! are trusted — which the server only allows while it listens on loopback
//! (checked in `server.rs`). Every connection also gets a cancel key and is
//! counted against `max_connections` (`53300` beyond it), and is admitted
//! by the `[limits]` rates ([`super::admission`]).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
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

/// The configured password, salted once at startup (PBKDF2 is slow by
/// design; there is no reason to pay for it on every login).
#[derive(Debug)]
struct Credentials {
    salt: Vec<u8>,
    salted_password: Vec<u8>,
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
}

type Sasl = SASLAuthStartupHandler<DefaultServerParameterProvider>;

/// How logins are checked.
pub enum Login {
    Trust,
    /// SCRAM-SHA-256; `tls` also offers SCRAM-SHA-256-PLUS (channel
    /// binding to the server's certificate) and serves TLS connections
    /// only: offered on a plain connection, libpq refuses to log in.
    Scram { plain: Sasl, tls: Option<Sasl> },
}

/// The startup handler of every connection.
pub struct Startup {
    engine: Engine,
    login: Login,
    manager: Arc<ConnectionManager>,
    keys: RandomPidSecretKeyGenerator,
    active: Arc<InFlight>,
    max_connections: usize,
    admission: Arc<Admission>,
}

impl Startup {
    pub fn new(
        engine: Engine,
        password: Option<(&str, Vec<u8>)>,
        tls_cert_pem: Option<&[u8]>,
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
                });
                let handler = |certificate: Option<&[u8]>| -> PgWireResult<Sasl> {
                    let mut scram = ScramAuth::new(credentials.clone());
                    scram.set_iterations(SCRAM_ITERATIONS);
                    if let Some(cert) = certificate {
                        scram.configure_certificate(cert)?;
                    }
                    Ok(SASLAuthStartupHandler::new(Arc::new(server_parameters()))
                        .with_scram(scram)
                        .with_connection_manager(manager.clone()))
                };
                Login::Scram {
                    plain: handler(None)?,
                    tls: tls_cert_pem.map(|cert| handler(Some(cert))).transpose()?,
                }
            }
        };
        Ok(Startup {
            engine,
            login,
            manager,
            keys: RandomPidSecretKeyGenerator::default(),
            active,
            max_connections,
            admission,
        })
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
        match &self.login {
            Login::Scram { plain, tls } => {
                let sasl = match tls {
                    Some(tls) if client.is_secure() => tls,
                    _ => plain,
                };
                if let Err(e) = sasl.on_startup(client, message).await {
                    if e.code() != sqlstate::INVALID_PASSWORD {
                        return Err(e);
                    }
                    monitor::auth_failure();
                    self.admission.login_failed(client.socket_addr().ip());
                    let user = user_of(client);
                    audit::failed_login(client.socket_addr(), user, "wrong password");
                    // Named after the user of the startup message: SCRAM's
                    // own user name is empty from libpq.
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
            Login::Trust => {
                let PgWireFrontendMessage::Startup(startup) = &message else {
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
                audit::login(client.socket_addr(), user_of(client), "trust");
                super::logged_in(&self.engine, client);
                Ok(())
            }
        }
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
