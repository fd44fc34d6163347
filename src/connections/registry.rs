//! Who is connected and what each connection runs: the registry behind
//! `pg_stat_activity`, `pg_cancel_backend`, `pg_terminate_backend`,
//! `pg_backend_pid()` and `inet_server_addr()`.
//!
//! The wire server records each accepted socket ([`Activity::accepted`]);
//! once the client has logged in its session registers as a [`Backend`]
//! under the process id sent to the client in BackendKeyData, and updates
//! its state around every statement ([`Backend::running`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};

use super::InFlight;
use crate::error::{Error, Result, sqlstate};
use crate::model::{Micros, wall_clock_micros};

/// Asks a connection to stop its running statement (as a CancelRequest
/// does).
pub type Cancel = Arc<dyn Fn() + Send + Sync>;

/// Every open connection of one server.
pub struct Activity {
    inner: Mutex<Inner>,
    /// `[limits] concurrent_statements_per_user` (0: no limit).
    max_running_per_user: AtomicUsize,
    /// True once the server shuts down: connections finish what they run
    /// and close ([`Activity::drain`]).
    draining: watch::Sender<bool>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            inner: Mutex::default(),
            max_running_per_user: AtomicUsize::new(0),
            draining: watch::Sender::new(false),
        }
    }
}

impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Activity({} backends)", self.lock().backends.len())
    }
}

#[derive(Default)]
struct Inner {
    /// Accepted sockets by client address: the server address and the
    /// signal that closes the connection.
    sockets: HashMap<SocketAddr, (SocketAddr, Arc<Notify>)>,
    backends: BTreeMap<i32, Arc<Backend>>,
    /// Statements running (or streaming) per user, shared by the user's
    /// backends; forgotten when the user's last connection closes.
    running: HashMap<String, Arc<AtomicUsize>>,
}

/// An accepted socket; dropping it (the connection ended) forgets it.
pub struct Accepted {
    activity: Arc<Activity>,
    client: SocketAddr,
    terminate: Arc<Notify>,
}

impl Accepted {
    /// Resolves when `pg_terminate_backend` asks this connection to close.
    pub async fn terminated(&self) {
        self.terminate.notified().await
    }

    /// This connection's backend, once its client has logged in.
    pub fn backend(&self) -> Option<Arc<Backend>> {
        let inner = self.activity.lock();
        inner
            .backends
            .values()
            .find(|b| b.client == self.client)
            .cloned()
    }
}

impl Drop for Accepted {
    fn drop(&mut self) {
        let mut inner = self.activity.lock();
        inner.sockets.remove(&self.client);
        inner.backends.retain(|_, b| b.client != self.client);
        inner.running.retain(|_, n| Arc::strong_count(n) > 1);
    }
}

/// What a backend is doing, as `pg_stat_activity.state` names it.
#[derive(Debug, Clone)]
pub struct State {
    pub application_name: String,
    pub state: &'static str,
    pub query: String,
    pub query_start: Option<Micros>,
    pub xact_start: Option<Micros>,
    pub state_change: Micros,
}

/// One logged-in connection.
pub struct Backend {
    pub pid: i32,
    pub user: String,
    pub database: String,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub started: Micros,
    state: Mutex<State>,
    cancel: Cancel,
    terminate: Arc<Notify>,
    /// Statements running or still streaming their rows.
    busy: InFlight,
    /// The same count for all of this user's connections, and its limit.
    user_running: Arc<AtomicUsize>,
    max_user_running: usize,
    /// The channels it `LISTEN`s to.
    pub listening: super::Listening,
}

/// A statement of a backend that runs or streams rows; dropping it ends it.
pub struct Busy(Arc<Backend>);

impl Busy {
    pub fn backend(&self) -> &Backend {
        &self.0
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.user_running.fetch_sub(1, Ordering::AcqRel);
        self.0.busy.leave();
    }
}

impl Backend {
    /// Marks a statement as running until the guard (kept by its rows,
    /// if it returns any) is dropped.
    /// `53400` if the user already runs `[limits]
    /// concurrent_statements_per_user` statements (on all its connections).
    pub fn busy(self: &Arc<Self>) -> Result<Busy> {
        self.busy.enter();
        let running = self.user_running.fetch_add(1, Ordering::AcqRel) + 1;
        let busy = Busy(self.clone());
        if self.max_user_running > 0 && running > self.max_user_running {
            crate::monitor::rate_limited("concurrent_statements");
            return Err(Error::new(
                sqlstate::CONFIGURATION_LIMIT_EXCEEDED,
                format!(
                    "too many statements running at once for user \"{}\": {} \
                     ([limits] concurrent_statements_per_user); retry when one ends",
                    self.user, self.max_user_running
                ),
            ));
        }
        Ok(busy)
    }

    /// Resolves once no statement runs or streams on this connection:
    /// it then waits for its client's next message.
    pub async fn quiet(&self) {
        self.busy.none().await
    }

    pub fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Marks `sql` as running until the returned guard is dropped (the
    /// statement ended, failed or was cancelled).
    pub fn running<'a>(&'a self, sql: &str, in_block: bool) -> Running<'a> {
        let now = wall_clock_micros();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.state = "active";
        state.query.clear();
        state.query.push_str(sql);
        state.query_start = Some(now);
        state.state_change = now;
        if !in_block || state.xact_start.is_none() {
            state.xact_start = Some(now);
        }
        Running { backend: self }
    }

    /// The statement finished; the connection is idle, maybe inside a
    /// transaction block.
    fn idle(&self, in_block: Option<bool>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.state = match in_block {
            None => "idle in transaction (aborted)",
            Some(true) => "idle in transaction",
            Some(false) => "idle",
        };
        if in_block == Some(false) {
            state.xact_start = None;
        }
        state.state_change = wall_clock_micros();
    }

    /// `SET application_name`.
    pub fn set_application_name(&self, name: &str) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .application_name = name.to_string();
    }

    pub fn cancel(&self) {
        (self.cancel)()
    }

    pub fn terminate(&self) {
        self.terminate.notify_one()
    }
}

/// A statement in progress; see [`Backend::running`].
pub struct Running<'a> {
    backend: &'a Backend,
}

impl Running<'_> {
    /// Ends the statement: `in_block` says whether a transaction block is
    /// open after it, `None` if that block has failed.
    pub fn finish(self, in_block: Option<bool>) {
        self.backend.idle(in_block);
        std::mem::forget(self);
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        // Dropped without finish(): the statement was cancelled.
        self.backend.idle(Some(false));
    }
}

/// Who logs in: what [`Activity::register`] records.
pub struct Login {
    pub pid: i32,
    pub user: String,
    pub database: String,
    pub application_name: String,
    pub client: SocketAddr,
    pub cancel: Cancel,
}

impl Activity {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a socket accepted from `client` on `server`.
    pub fn accepted(self: &Arc<Self>, client: SocketAddr, server: SocketAddr) -> Accepted {
        let terminate = Arc::new(Notify::new());
        self.lock()
            .sockets
            .insert(client, (server, terminate.clone()));
        Accepted {
            activity: self.clone(),
            client,
            terminate,
        }
    }

    /// Registers a connection that has logged in.
    pub fn register(&self, login: Login) -> Arc<Backend> {
        let mut inner = self.lock();
        let (server, terminate) = inner
            .sockets
            .get(&login.client)
            .cloned()
            .unwrap_or_else(|| (login.client, Arc::new(Notify::new())));
        let now = wall_clock_micros();
        let user_running = inner.running.entry(login.user.clone()).or_default().clone();
        let backend = Arc::new(Backend {
            pid: login.pid,
            user: login.user,
            database: login.database,
            client: login.client,
            server,
            started: now,
            state: Mutex::new(State {
                application_name: login.application_name,
                state: "idle",
                query: String::new(),
                query_start: None,
                xact_start: None,
                state_change: now,
            }),
            cancel: login.cancel,
            listening: super::Listening::default(),
            terminate,
            busy: InFlight::default(),
            user_running,
            max_user_running: self.max_running_per_user.load(Ordering::Relaxed),
        });
        inner.backends.insert(login.pid, backend.clone());
        backend
    }

    /// Sets `[limits] concurrent_statements_per_user` for connections
    /// that log in from now on (0: no limit).
    pub fn limit_running_per_user(&self, n: usize) {
        self.max_running_per_user.store(n, Ordering::Relaxed);
    }

    /// The server shuts down: new statements get `57P01` and every
    /// connection closes once its running statement ends.
    pub fn drain(&self) {
        self.draining.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Resolves when the server starts to shut down.
    pub async fn until_draining(&self) {
        let mut draining = self.draining.subscribe();
        let _ = draining.wait_for(|d| *d).await;
    }

    /// Every logged-in connection, by process id.
    pub fn backends(&self) -> Vec<Arc<Backend>> {
        self.lock().backends.values().cloned().collect()
    }

    pub fn backend(&self, pid: i32) -> Option<Arc<Backend>> {
        self.lock().backends.get(&pid).cloned()
    }
}
