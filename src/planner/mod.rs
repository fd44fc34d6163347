//! SQL: DataFusion over StemeDB's own TableProviders.
//!
//! A statement follows the rooms of this folder in order. Its text enters
//! a connection's [`Session`] (`session/`), is parsed and classified
//! (`frontend/`), prepared — planned once, with the route it runs by —
//! (`prepare/`), and runs either on a fast path recognised when it was
//! prepared (`fast/`: lens point lookups, retractions of a pair's winner,
//! plain INSERTs) or as a DataFusion plan over StemeDB's tables (`read/`),
//! whose INSERTs land in sinks that stamp and store claims (`write/`). In a
//! cluster, point lookups and scans reach other nodes (`distributed/`).
//! What drivers read about the database is in `catalog/`, StemeDB's own
//! schema and operator functions in `system/`, roles and what each may do
//! in `roles/`. A statement leaves as an
//! [`Output`] the wire layer encodes.
//!
//! Rooms call each other in one direction (tests/layering.rs checks it):
//! `session` → `prepare` → `fast` → `read` → `write`, with `frontend`,
//! `distributed`, `catalog` and `system` beside them. The files at this
//! level are the vocabulary every room shares: the [`Engine`] and the state
//! a session's tables share ([`SessionShared`], here), table schemas
//! ([`schema`]), settings ([`settings`]), the result of a statement
//! ([`Output`]), the Arrow ⇄ PostgreSQL type map ([`pg_types`]), error
//! mapping (`errors`) and UDF arguments (`udf_args`).

mod catalog;
mod distributed;
mod errors;
mod fast;
mod frontend;
mod output;
pub mod pg_types;
mod prepare;
mod read;
pub mod roles;
mod schema;
mod session;
pub mod settings;
mod system;
mod udf_args;
mod views;
mod write;

use std::sync::{Arc, Mutex, OnceLock, RwLock};

pub use errors::from_datafusion;
pub use frontend::array_literal::parse_array;
pub use frontend::column_names::display_name;
pub use output::{Output, TxnChange};
pub use prepare::prepared::Prepared;
pub use read::tables::TABLE_NAMES;
pub use schema::{ASSERTIONS, LENS, RETRACTIONS, timestamptz};
pub use session::Session;
pub use settings::{Settings, StatementLimits};
pub use write::copy::{COPY_COLUMNS, CopyFormat, CopyOptions};
pub use write::write_path::WritePath;

use crate::cluster::{Membership, Replicas, Solo};
use crate::connections::{Activity, Backend};
use crate::error::{Error, Result, sqlstate};
use crate::storage::{ReadPoint, ScanRange, Store, View};
use write::sinks::LastInserted;
use write::txn::Transaction;

/// The DataFusion settings every context StemeDB plans in shares — a
/// connection's session and the context that answers other nodes' scans —
/// so both read types, time and names alike: PostgreSQL's dialect, text as
/// `Utf8` (not `Utf8View`), timestamps in UTC (`now()` and `::timestamptz`
/// are timestamptz, as in PostgreSQL), two partitions (the machine's cores
/// are shared by every connection).
fn datafusion_config() -> datafusion::prelude::SessionConfig {
    let mut config = datafusion::prelude::SessionConfig::new().with_target_partitions(2);
    config.options_mut().execution.time_zone = Some("+00:00".to_string());
    let sql = &mut config.options_mut().sql_parser;
    sql.dialect = datafusion::config::Dialect::PostgreSQL;
    sql.map_string_types_to_utf8view = false;
    config
}

/// Builds sessions for connections to one store.
#[derive(Clone)]
pub struct Engine {
    store: Arc<Store>,
    activity: Arc<Activity>,
    /// Every session's limits until it changes them with `SET`.
    limits: StatementLimits,
    /// The cluster's members as this node sees them.
    members: Arc<Membership>,
    /// Where writes go (the store, or the cluster's owners).
    writes: WritePath,
    /// The cluster, for tables read over it (a single node is a cluster of
    /// one).
    cluster: Arc<dyn Replicas>,
    /// Where DataFusion plans run ([`prepare::offload`]; `None`: where they are
    /// asked for).
    query_runtime: Option<tokio::runtime::Handle>,
    /// Reads the configuration's secrets, certificates and token again
    /// (`stemedb_reload_config()`); set by the server.
    reload: Option<Reload>,
}

/// What `stemedb_reload_config()` runs: the server's reload, reporting
/// what it read.
pub type Reload = Arc<dyn Fn() -> crate::error::Result<String> + Send + Sync>;

impl Engine {
    pub fn new(store: Arc<Store>) -> Engine {
        let members = Arc::new(Membership::single(store.node_id(), String::new()));
        let alone: Arc<dyn Replicas> = Arc::new(Solo::new(store.clone()));
        Engine {
            activity: Arc::default(),
            limits: StatementLimits::default(),
            members,
            writes: WritePath::new(store.clone(), alone.clone()),
            cluster: alone,
            query_runtime: None,
            reload: None,
            store,
        }
    }

    /// The same engine, reloading the configuration with `reload`.
    pub fn with_reload(self, reload: Reload) -> Engine {
        Engine {
            reload: Some(reload),
            ..self
        }
    }

    /// The same engine, running DataFusion plans on `runtime`.
    pub fn with_query_runtime(self, runtime: tokio::runtime::Handle) -> Engine {
        Engine {
            query_runtime: Some(runtime),
            ..self
        }
    }

    /// The same engine, giving new sessions `limits` (the `[limits]` of
    /// the configuration).
    pub fn with_limits(self, limits: StatementLimits) -> Engine {
        Engine { limits, ..self }
    }

    /// The same engine in a cluster with these members.
    pub fn with_members(self, members: Arc<Membership>) -> Engine {
        Engine { members, ..self }
    }

    /// The same engine writing through the cluster's `replicas`.
    pub fn with_replicas(self, replicas: Arc<dyn Replicas>) -> Engine {
        let writes = WritePath::new(self.store.clone(), replicas.clone());
        Engine {
            writes,
            cluster: replicas,
            ..self
        }
    }

    /// Follows the change feed's resolved frontier and newest change (what
    /// `LISTEN stemedb_changes` is told).
    pub fn changes_feed(&self) -> tokio::sync::watch::Receiver<crate::cluster::frontier::Resolved> {
        self.cluster.resolved()
    }

    /// The server's open connections.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A new session for a connection authenticated as `user`.
    pub fn session(&self, user: &str) -> Session {
        self.new_session(user, self.cluster.clone())
    }

    fn new_session(&self, user: &str, cluster: Arc<dyn Replicas>) -> Session {
        Session::new(self.shared(user, cluster))
    }

    /// The state of a session reading this node's store alone, as a
    /// cluster of one (what a scan or point lookup another node asked for
    /// reads).
    fn shared_alone(&self, user: &str) -> Arc<SessionShared> {
        self.shared(user, Arc::new(Solo::new(self.store.clone())))
    }

    /// The state a session's tables share, without a SQL context (a scan
    /// another node asked for needs only its tables).
    fn shared(&self, user: &str, cluster: Arc<dyn Replicas>) -> Arc<SessionShared> {
        Arc::new(SessionShared {
            store: self.store.clone(),
            settings: RwLock::new(Settings::new(self.limits)),
            txn: Transaction::default(),
            last_inserted: LastInserted::default(),
            copy: Mutex::new(None),
            reading: Mutex::new(None),
            user: user.to_string(),
            activity: self.activity.clone(),
            members: self.members.clone(),
            writes: self.writes.clone(),
            cluster,
            backend: OnceLock::new(),
            query_runtime: self.query_runtime.clone(),
            reload: self.reload.clone(),
            role: roles::Cached::default(),
        })
    }
}

/// The state of one session that its tables and sinks share.
pub struct SessionShared {
    pub store: Arc<Store>,
    settings: RwLock<Settings>,
    txn: Transaction,
    last_inserted: LastInserted,
    /// The COPY FROM STDIN in progress, if any.
    copy: Mutex<Option<write::copy::CopyIn>>,
    /// The running statement's read point, once it has read.
    reading: Mutex<Option<ReadPoint>>,
    user: String,
    /// The server's connections (pg_stat_activity, pg_cancel_backend).
    activity: Arc<Activity>,
    /// The cluster's members (`stemedb.cluster_members`).
    members: Arc<Membership>,
    /// Where the session's writes go.
    writes: WritePath,
    /// The cluster its tables read over (a single node: a cluster of one).
    cluster: Arc<dyn Replicas>,
    /// This connection in `activity`, once it has logged in.
    backend: OnceLock<Arc<Backend>>,
    /// Where DataFusion plans run ([`prepare::offload`]).
    query_runtime: Option<tokio::runtime::Handle>,
    reload: Option<Reload>,
    /// The session user's role, while the catalog is unchanged.
    role: roles::Cached,
}

impl SessionShared {
    /// A snapshot of the session's settings.
    pub fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The session's current statement limits.
    pub fn limits(&self) -> StatementLimits {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .limits
    }

    /// The user the session logged in as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Records the connection this session serves (once, after login).
    pub fn attach(&self, backend: Arc<Backend>) {
        let _ = self.backend.set(backend);
    }

    /// What the running statement reads: its block's read point, or one
    /// taken at its first read and shared by all its scans.
    fn view(&self) -> View {
        let read = self.txn.read_point(&self.store).unwrap_or_else(|| {
            let mut reading = self.reading.lock().unwrap_or_else(|e| e.into_inner());
            reading
                .get_or_insert_with(|| self.store.read_point())
                .clone()
        });
        let settings = self.settings();
        View::new(self.store.clone(), read, settings.as_of)
            .weighed(settings.half_life, settings.read_at)
    }

    /// What another node needs to weigh claims as this statement does.
    fn weighed(&self) -> crate::cluster::Weighed {
        let settings = self.settings();
        crate::cluster::Weighed {
            half_life: settings.half_life,
            read_at: crate::storage::read_time(settings.as_of, settings.read_at),
        }
    }

    /// Reads as the coordinator of a scan or lookup does: at its `as_of`,
    /// with its decay, ageing claims from its read time.
    fn read_for_coordinator(
        &self,
        as_of: Option<crate::model::Micros>,
        weighed: crate::cluster::Weighed,
    ) {
        let mut settings = self.settings.write().unwrap_or_else(|e| e.into_inner());
        settings.as_of = as_of;
        settings.half_life = weighed.half_life;
        settings.read_at = Some(weighed.read_at);
    }

    /// Refuses a write (`25006`) while this node sees no majority of its
    /// cluster: the other side of a partition may be writing. Reads go on.
    fn writable(&self) -> Result<()> {
        if !self.members.knows_all() {
            return Err(Error::new(
                sqlstate::READ_ONLY_SQL_TRANSACTION,
                "cannot write yet: this node is still settling the cluster's members with its \
                 peers (its /ready answers 503 JOINING until then); retry in a moment",
            ));
        }
        if self.members.has_majority() {
            return Ok(());
        }
        Err(Error::new(
            sqlstate::READ_ONLY_SQL_TRANSACTION,
            format!(
                "cannot write: this node sees only {} alive of its cluster ({}), not a \
                 majority; reads still work, writes resume when a majority is back",
                self.members.alive_ids().join(", "),
                self.members
                    .members()
                    .iter()
                    .map(|m| format!("{} {}", m.identity.id, m.status.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }

    /// Whether a point lookup of `range` can read this node's store
    /// alone: always on a single node; in a cluster when this node reads
    /// every subject of it (else the lookup takes the cluster's tables).
    fn reads_alone(&self, range: &ScanRange) -> bool {
        self.cluster.alone() || read::tables::reads_alone(range, &self.cluster.readers())
    }

    /// Forgets the last statement's read point (a statement starts or ends).
    fn next_statement(&self) {
        *self.reading.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
