//! `stemedb serve`: opens the store, refuses unsafe listening, and runs the
//! SQL and HTTP servers until SIGTERM or Ctrl-C.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cluster::{Cluster, Membership};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::pgwire::tls::{ServerTls, TlsFiles};
use crate::pgwire::{self, WireConfig};
use crate::planner::Engine;
use crate::runtime::THREAD_STACK_BYTES;
use crate::storage::Store;

/// The multi-threaded runtime the server runs on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .on_thread_start(crate::storage::quiet_perf_counters)
        .build()
}

pub async fn run(config: Config) -> Result<()> {
    config.check()?;
    let limits = config.statement_limits()?;
    if config.metrics && crate::monitor::install().is_some() {
        tokio::spawn(async {
            let mut every = tokio::time::interval(crate::monitor::UPKEEP_EVERY);
            loop {
                every.tick().await;
                crate::monitor::upkeep();
            }
        });
    }
    let shutdown_timeout = config.shutdown_timeout()?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let files = TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: config.tls_ca.clone(),
            };
            Some((ServerTls::load(files)?, config.tls_ca.is_some()))
        }
        (None, None) => None,
        _ => return Err(Error::internal("TLS needs both tls_cert and tls_key")),
    };
    let http_token = crate::http::token::Token::from_file(config.http_token_file.as_deref())?;
    let store = Store::open(&config.data_dir, config.node_id()?, config.durability)?;
    let sql = TcpListener::bind(config.listen_addr()?)
        .await
        .map_err(|e| Error::internal(format!("cannot listen on {}: {e}", config.listen)))?;
    let http = TcpListener::bind(config.http_addr()?)
        .await
        .map_err(|e| Error::internal(format!("cannot listen on {}: {e}", config.http_listen)))?;
    let sql_addr = sql.local_addr()?.to_string();
    let cluster = match config.cluster.enabled {
        true => {
            let tls = match config.cluster.tls {
                true => Some(crate::cluster::tls::NodeTls::load(config.node_tls()?)?),
                false => None,
            };
            Some(
                Cluster::start_secured(
                    &config.cluster,
                    &config.replication,
                    store.clone(),
                    sql_addr.clone(),
                    tls,
                )
                .await?,
            )
        }
        false => None,
    };
    let membership = match &cluster {
        Some(c) => c.membership().clone(),
        None => Arc::new(Membership::single(store.node_id(), sql_addr)),
    };
    tracing::info!(
        node = store.node_id(),
        data_dir = %config.data_dir.display(),
        sql = %sql.local_addr()?,
        http = %http.local_addr()?,
        tls = tls.is_some(),
        auth = if config.password.is_some() { "scram-sha-256" } else { "trust (loopback only)" },
        "StemeDB is ready"
    );
    let reloader = Arc::new(crate::config::reload::Reloader {
        file: config.file.clone(),
        keyring: cluster.as_ref().map(|c| c.keyring().clone()),
        node_tls: cluster.as_ref().and_then(|c| c.tls().cloned()),
        server_tls: tls.as_ref().map(|(t, _)| t.clone()),
        http_token: http_token.clone(),
    });
    // Signals are taken before any port answers: a SIGHUP or SIGTERM that
    // arrives once a client could see the node must never meet the default
    // action (which ends the process).
    reload_on_sighup(reloader.clone());
    let stop_requested = shutdown_signal();
    let wire = WireConfig {
        password: config.password.clone(),
        tls,
        max_connections: config.max_connections,
        connection_threads: config.connection_threads,
        shutdown_timeout,
        rates: config.limits.rates()?,
    };
    let mut engine = Engine::new(store.clone())
        .with_limits(limits)
        .with_members(membership.clone())
        .with_reload(Arc::new(move || reloader.reload()));
    if let Some(cluster) = &cluster {
        engine = engine.with_replicas(cluster.replicator());
        cluster.serve_reads(Arc::new(engine.clone()));
    }
    let archiving = match &config.backup.archive_url {
        Some(url) => {
            let every = config.backup.archive_every()?;
            crate::backup::open(url)?;
            tracing::info!("archiving new writes to {url} every {every:?}");
            Some(tokio::spawn(crate::backup::archive::run(
                store.clone(),
                url.clone(),
                every,
            )))
        }
        None => None,
    };
    let activity = engine.activity().clone();
    activity.limit_running_per_user(config.limits.concurrent_statements_per_user as usize);
    let (stop_sql, sql_stopped) = watch::channel(false);
    let (stop_http, http_stopped) = watch::channel(false);
    let sql_task = tokio::spawn(pgwire::serve(sql, engine, wire, sql_stopped));
    let http_task = tokio::spawn(crate::http::serve(
        http,
        Arc::clone(&store),
        activity,
        membership,
        http_token,
        http_stopped,
    ));
    stop_requested.await;
    // /ready turns 503 at once (the SQL server drains as it stops), so a
    // load balancer stops sending clients while statements finish.
    tracing::info!(
        timeout = ?shutdown_timeout,
        "shutting down: no new connections; running statements may finish"
    );
    let _ = stop_sql.send(true);
    let _ = sql_task.await;
    if let (Some(task), Some(url)) = (archiving, &config.backup.archive_url) {
        // The last writes go to the archive too (bounded: a slow store
        // must not hold the shutdown).
        task.abort();
        let last = crate::backup::archive::archive(&store, url);
        match tokio::time::timeout(shutdown_timeout, last).await {
            Ok(Ok(a)) => tracing::info!(records = a.records, "archive: last writes shipped"),
            Ok(Err(e)) => tracing::warn!("archive to {url} at shutdown: {}", e.message),
            Err(_) => tracing::warn!("archive to {url} at shutdown: timed out"),
        }
    }
    if let Some(cluster) = cluster {
        cluster.leave().await;
    }
    let _ = stop_http.send(true);
    let _ = http_task.await;
    // Anything still holding the store (a connection past the timeout)
    // would close RocksDB on its own thread while the process exits: say so.
    let others = Arc::strong_count(&store) - 1;
    if others > 0 {
        tracing::warn!(others, "the store is still in use at shutdown");
    }
    // Every acknowledged write is already fsynced (or buffered by choice);
    // dropping the store flushes RocksDB's memtables.
    drop(store);
    tracing::info!("stopped");
    Ok(())
}

/// Reads the configuration's secrets, certificates and token again on
/// every SIGHUP (what it did, or why not, is logged). The handler is in
/// place when this returns.
fn reload_on_sighup(reloader: Arc<crate::config::reload::Reloader>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be handled: reload with stemedb_reload_config()");
            return;
        };
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let reloader = reloader.clone();
                let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
            }
        });
    }
    #[cfg(not(unix))]
    drop(reloader);
}

/// Resolves on SIGTERM or Ctrl-C; both handlers are in place when this
/// returns (not when the future is first polled).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {}
                _ = wait(interrupt) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
