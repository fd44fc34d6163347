//! StemeDB's own schema and operator functions: the `stemedb` schema with
//! its live views ([`stemedb_schema`]: `cluster_members`, and
//! [`replication_view`], [`backup_progress_view`]), `stemedb_owners`
//! ([`owners_function`]), `stemedb.resolved_frontier()`
//! ([`frontier_function`]) and the functions that do work on the node and
//! report it (`stemedb_sync`, `stemedb_backup`, membership changes:
//! [`admin_functions`]).
//!
//! It may call `read` (live tables) and the layers below the planner.

pub(super) mod admin_functions;
pub(super) mod backup_progress_view;
pub(super) mod frontier_function;
pub(super) mod owners_function;
pub(super) mod replication_view;
pub(super) mod source_trust;
pub(super) mod stemedb_schema;
