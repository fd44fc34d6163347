//! The PostgreSQL wire protocol server (pgwire). One task per connection;
//! each connection keeps its own planner [`Session`] in pgwire's
//! per-connection extensions, so settings and transactions never leak
//! between clients.
//!
//! A connection follows the files in this order: `threads.rs` (the few
//! single-threaded runtimes connections share), `connection.rs` (accept,
//! shutdown, the registry in `crate::connections`), `message_loop.rs`
//! (pgwire's loop, also sending `LISTEN` notifications while idle), `admission.rs` (rate
//! limits, lock-outs), `auth.rs` (startup, trust/SCRAM, connection limit,
//! cancel keys), `tls.rs`, then per statement `simple.rs` / `extended.rs`
//! (the two query protocols; `corked.rs` batches replies) with
//! `params.rs` and `array_params.rs` (bind values → DataFusion scalars),
//! and out again through `encode.rs` (rows; `plain_rows.rs` for plain
//! columns, `arrays.rs` for arrays in binary, `text.rs` for PostgreSQL's
//! text forms, `field_sink.rs` for where a value goes) or `copy.rs` (COPY
//! in both directions). `errors.rs` turns an error into its ErrorResponse
//! and `audit.rs` logs logins and refusals. Types on the wire come from the
//! one map in `crate::planner::pg_types`; the layer calls the planner, the
//! connection registry and storage (the RocksDB thread setting), nothing
//! above.

pub mod admission;
mod array_params;
mod arrays;
mod audit;
mod auth;
mod connection;
mod copy;
mod corked;
mod encode;
mod errors;
mod extended;
mod field_sink;
mod message_loop;
mod params;
mod plain_rows;
mod simple;
mod text;
mod threads;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{
    ClientInfo, ConnectionHandle, ConnectionManager, METADATA_DATABASE, METADATA_USER,
    PgWireServerHandlers,
};
use tokio::net::TcpListener;
use tokio::sync::watch;

use admission::Admission;
pub use auth::DEFAULT_USER;
use auth::Startup;
use connection::OpenConnection;
use extended::Parser;

use crate::connections::{Cancel, Login};
use crate::planner::{Engine, Session};

/// Query handler shared by all connections.
pub struct Backend {
    engine: Engine,
    parser: Arc<Parser>,
    admission: Arc<Admission>,
}

/// The connection's session, created on its first statement.
pub(crate) fn session_of<C: ClientInfo>(engine: &Engine, client: &C) -> Arc<Session> {
    client.session_extensions().get_or_insert_with(|| {
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_else(|| DEFAULT_USER.to_string());
        engine.session(&user)
    })
}

/// A client has logged in: its session is created and the connection
/// registered for `pg_stat_activity` and `pg_cancel_backend`.
pub(crate) fn logged_in<C: ClientInfo>(engine: &Engine, client: &C) {
    let session = session_of(engine, client);
    let handle = client.session_extensions().get::<Arc<ConnectionHandle>>();
    // A CancelRequest's effect, for pg_cancel_backend.
    let cancel: Cancel = Arc::new(move || {
        if let (Some(handle), Ok(runtime)) = (handle.clone(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move { handle.cancel().await });
        }
    });
    let metadata = client.metadata();
    let backend = engine.activity().register(Login {
        pid: client.pid_and_secret_key().0,
        user: session.shared().user().to_string(),
        database: metadata
            .get(METADATA_DATABASE)
            .cloned()
            .unwrap_or_else(|| DEFAULT_USER.to_string()),
        application_name: metadata
            .get("application_name")
            .cloned()
            .unwrap_or_default(),
        client: client.socket_addr(),
        cancel,
    });
    session.shared().attach(backend);
}

impl Backend {
    fn session<C: ClientInfo>(&self, client: &C) -> Arc<Session> {
        session_of(&self.engine, client)
    }

    /// Whether the client may run a statement now: one sent while the
    /// server shuts down ends the connection with FATAL `57P01`, as in
    /// PostgreSQL; one over the client's rate gets `53400`.
    async fn admit<C: ClientInfo>(&self, client: &C) -> pgwire::error::PgWireResult<()> {
        if self.engine.activity().is_draining() {
            if !client.is_secure() {
                // The connection's task ends it with the FATAL itself once
                // running statements are done ([`connection`]), reading
                // what the client still sends, so the FATAL arrives whole
                // (pgwire's own close after a FATAL resets a socket with
                // unread input, and a proxy in between may drop the FATAL
                // with the reset). So this statement waits for it.
                std::future::pending::<()>().await;
            }
            return Err(errors::fatal(
                connection::ADMIN_SHUTDOWN,
                connection::ADMIN_SHUTDOWN_MESSAGE,
            ));
        }
        if self.admission.limits_statements() {
            let user = client
                .metadata()
                .get(METADATA_USER)
                .map_or("", String::as_str);
            let admitted = self
                .admission
                .admit_statement(client.socket_addr().ip(), user);
            if let Err((error, wait)) = admitted {
                tokio::time::sleep(wait).await;
                return Err(errors::to_pg(error));
            }
        }
        Ok(())
    }
}

/// Everything pgwire needs to serve a connection.
pub struct Handlers {
    backend: Arc<Backend>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Handlers {
    /// What a connection's loop waits on for `LISTEN` ([`message_loop`]).
    fn changes_feed(&self) -> watch::Receiver<crate::cluster::frontier::Resolved> {
        self.backend.engine.changes_feed()
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.backend.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.backend.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.backend.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// Wire server settings.
pub struct WireConfig {
    pub password: Option<String>,
    /// The server's TLS (reloadable), and whether it checks client
    /// certificates (`tls_ca`).
    pub tls: Option<(Arc<tls::ServerTls>, bool)>,
    pub max_connections: usize,
    /// Threads connections are served on (0: two per core; [`threads`]).
    pub connection_threads: usize,
    /// How long running statements may take to finish on shutdown.
    pub shutdown_timeout: std::time::Duration,
    /// The `[limits]` rates.
    pub rates: admission::Rates,
}

/// TCP keepalive on every client connection: probes after a minute of
/// silence, every 10 s, 6 unanswered end it. An idle connection — a
/// `LISTEN`er waiting for hours, a pooled one — so keeps the NAT and
/// firewall state along its path alive, and a client that vanished
/// (power lost, cable pulled) is noticed within two minutes instead of the
/// kernel's two hours; nothing in the server closes idle connections.
fn keep_alive(socket: &tokio::net::TcpStream) {
    let probes = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(6);
    if let Err(e) = socket2::SockRef::from(socket).set_tcp_keepalive(&probes) {
        tracing::debug!("cannot set TCP keepalive: {e}");
    }
}

/// Serves connections on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    engine: Engine,
    config: WireConfig,
    mut shutdown: watch::Receiver<bool>,
) -> crate::error::Result<()> {
    // Every session (the login handler makes them too) runs its plans on
    // this, the server's multi-threaded runtime.
    let engine = engine.with_query_runtime(tokio::runtime::Handle::current());
    let manager = Arc::new(ConnectionManager::new());
    let open = Arc::new(crate::connections::InFlight::default());
    let password = match &config.password {
        Some(p) => Some((p.as_str(), engine.store().scram_salt(auth::DEFAULT_USER)?)),
        None => None,
    };
    let admission = Arc::new(Admission::new(config.rates.clone()));
    let forgetting = tokio::spawn({
        let admission = admission.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                admission.forget_quiet();
            }
        }
    });
    let startup = Startup::new(
        engine.clone(),
        password,
        config.tls.clone(),
        manager.clone(),
        open.clone(),
        config.max_connections,
        admission.clone(),
    )
    .map_err(|e| crate::error::Error::internal(format!("auth setup: {e}")))?;
    let activity = engine.activity().clone();
    let threads = threads::pool(config.connection_threads);
    let handlers = Arc::new(Handlers {
        backend: Arc::new(Backend {
            engine: engine.clone(),
            parser: Arc::new(Parser { engine }),
            admission,
        }),
        startup: Arc::new(startup),
        cancel: Arc::new(DefaultCancelHandler::new(manager)),
    });
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        continue;
                    }
                };
                let _ = socket.set_nodelay(true);
                keep_alive(&socket);
                let counted = OpenConnection::count(&open);
                let local = socket.local_addr().unwrap_or(peer);
                let accepted = activity.accepted(peer, local);
                let acceptor = config.tls.as_ref().map(|(tls, _)| tls.current().acceptor);
                let (handlers, activity) = (handlers.clone(), activity.clone());
                let shutdown_timeout = config.shutdown_timeout;
                threads.serve(socket, move |socket| {
                    connection::serve(
                        socket,
                        peer,
                        handlers,
                        acceptor,
                        accepted,
                        activity,
                        shutdown_timeout,
                    )
                    .map(move |()| drop(counted))
                });
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    // Stop accepting; let every connection finish its statement and close.
    drop(listener);
    forgetting.abort();
    activity.drain();
    let closing = tokio::time::timeout(
        config.shutdown_timeout + Duration::from_secs(5),
        open.none(),
    );
    if closing.await.is_err() {
        tracing::warn!("connections still open after shutdown_timeout: closing them");
    }
    Ok(())
}
