//! StemeDB: a SQL database for claims that disagree.
//!
//! Layers, each using only those listed before it (tests/layering.rs
//! enforces the direction; docs/architecture.md draws it):
//! - [`error`], [`units`], [`monitor`], [`runtime`]: leaves — the error type
//!   and SQLSTATEs, setting units, metric handles, the threads' shape and
//!   the seam (sockets, clock, blocking work) the cluster's simulation
//!   switches to turmoil
//! - [`model`]: assertions, retractions, objects, HLC, content ids (no I/O)
//! - [`lens`]: recency, authority and the conflict score (pure functions);
//!   [`connections`]: the registry of connections and their statements
//! - [`storage`]: RocksDB column families, group commit, lens heads, scans,
//!   verify
//! - [`backup`]: online backups, the archive, restore
//! - [`cluster`]: membership, placement, replication, hints, anti-entropy;
//!   reached by the SQL layer through traits, importing nothing above
//!   storage
//! - [`planner`]: DataFusion sessions over StemeDB's TableProviders
//! - [`pgwire`]: the PostgreSQL wire protocol server; [`http`]: admin HTTP
//! - [`config`]: the configuration file
//! - [`cli`]: client-side commands (import, backup, cluster operations)
//! - [`server`] and `main.rs`: wiring

pub mod backup;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod connections;
pub mod error;
pub mod http;
pub mod lens;
pub mod model;
pub mod monitor;
pub mod pgwire;
pub mod planner;
pub mod runtime;
pub mod server;
pub mod storage;
pub mod units;

/// The PostgreSQL version StemeDB reports, so drivers pick modern code paths.
pub const PG_SERVER_VERSION: &str = "16.6";
pub const PG_SERVER_VERSION_NUM: &str = "160006";

/// `version()` and startup banner text.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {PG_SERVER_VERSION} (StemeDB {}) on x86_64-linux, compiled by rustc",
        env!("CARGO_PKG_VERSION")
    )
}
