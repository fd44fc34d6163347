//! StemeDB: a SQL database for claims that disagree.
//!
//! Layers, each depending only on those above it in this list:
//! - [`model`]: assertions, retractions, objects, HLC, content ids (no I/O)
//! - [`storage`]: RocksDB column families, group commit, scans, verify
//! - [`lens`]: recency, authority and the conflict score (pure functions)
//! - [`planner`]: DataFusion sessions, TableProviders, INSERT sinks
//! - [`pgwire`]: the PostgreSQL wire protocol server
//! - [`http`]: the admin HTTP endpoint
//!
//! `main.rs` only parses the command line and wires these together.

pub mod backup;
pub mod cluster;
pub mod config;
pub mod error;
pub mod http;
pub mod import;
pub mod lens;
pub mod model;
pub mod monitor;
pub mod pgwire;
pub mod planner;
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
