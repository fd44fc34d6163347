//! StemeDB's integration tests, one binary: real servers on real sockets,
//! real clients, real cluster processes. One module per subject; the
//! shared harness is [`support`] (servers, clusters, rows, SQLSTATEs,
//! metrics). `cargo test --test it -- faults::` runs one subject. The
//! sqllogictest runner (`tests/sqllogictest.rs`, its own harness) and the
//! layering check (`tests/layering.rs`, which reads the source only) are
//! the other two test binaries.

mod support;

mod activity;
mod admission;
mod anti_entropy;
mod archive;
mod auth;
mod backup;
mod backup_progress;
mod backup_s3;
mod balancer;
mod changes;
mod clients;
mod cluster;
mod cluster_backup;
mod copy;
mod crash;
mod dbt;
mod deploy;
mod dr_drill;
mod extended;
mod faults;
mod heads;
mod hlc;
mod hostile;
mod import;
mod large_copy;
mod lens_model;
mod limits;
mod logs;
mod membership;
mod metrics;
mod pilot;
mod plan_cache;
mod psql;
mod pushdown;
mod replication;
mod security;
mod shutdown;
mod snapshot;
mod threads;
mod verify;
mod views;
