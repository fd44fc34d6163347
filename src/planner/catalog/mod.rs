//! What drivers and tools read about the database. [`install`] sets up a
//! session's `pg_catalog` (from `datafusion-pg-catalog`), the `stemedb`
//! schema and the catalog functions; [`overlay`] answers the `pg_catalog`
//! relations StemeDB serves itself (with [`arrays`] for the crate's array
//! columns), [`information_schema`] describes columns in PostgreSQL's
//! terms, [`pg_stat_activity`] lists connections, [`pg_functions`] and
//! [`json_build_object`] are the PostgreSQL functions drivers call;
//! [`roles_provider`] lists the roles in `pg_roles`.
//!
//! It may call `system` (the `stemedb` schema it installs), `read`,
//! `roles` and `views` (the views `pg_views` lists).

pub(super) mod arrays;
pub(super) mod information_schema;
pub(super) mod install;
pub(super) mod json_build_object;
pub(super) mod overlay;
pub(super) mod pg_functions;
pub(super) mod pg_stat_activity;
pub(super) mod roles_provider;
