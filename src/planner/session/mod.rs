//! A connection's session: the room a statement enters and leaves by.
//!
//! [`run`] holds the [`Session`]: one DataFusion `SessionContext` per
//! connection, with StemeDB's tables registered against the session's
//! settings and transaction. A statement comes in as text, is parsed and
//! classified by `frontend`, prepared by `prepare` (or answered by a
//! `fast` path), run, and leaves as an [`crate::planner::Output`]. Around
//! each statement the session keeps its lifetime ([`lifetime`]:
//! `statement_timeout`, cancellation, the registry entry) and its memory
//! budget ([`memory`]); COPY FROM STDIN arrives between statements and
//! ends in one write ([`copy_in`]); SQL-level `PREPARE` / `EXECUTE` ([`prepared_sql`])
//! is a session's named store of the same prepared statements the
//! extended protocol uses; [`definitions`] runs the statements that
//! define schemas and views and keeps the session's catalog in step with
//! the cluster's definitions.
//!
//! It may call every other room of the planner; no room calls it.

pub(super) mod copy_in;
pub(super) mod definitions;
pub(super) mod lifetime;
pub(super) mod memory;
pub(super) mod prepared_sql;
pub(super) mod run;

pub use run::Session;
