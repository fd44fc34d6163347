//! The paths that skip DataFusion's execution for the statements a claims
//! workload sends most, each recognised once when the statement is
//! prepared: a lens point lookup read straight from the heads
//! ([`point_query`]), a retraction of a pair's current winner
//! (`INSERT … SELECT` over a point lookup, [`point_write`]) and a plain
//! `INSERT … VALUES` ([`plain_insert`]). A statement not recognised takes
//! the general path; both answer the same.
//!
//! It may call `read` (schemas, filters, tables) and `write` (ingest and
//! sinks).

pub(super) mod plain_insert;
pub(super) mod point_query;
pub(super) mod point_write;
