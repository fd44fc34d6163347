//! StemeDB's tables as DataFusion sees them. [`tables`] holds one
//! TableProvider per table (`assertions`, `retractions`, the lens tables,
//! and in a cluster the same tables read over every node); [`filters`]
//! turns pushed-down filters on `subject` / `predicate` into index ranges;
//! [`stream`] runs a blocking RocksDB scan as a bounded stream of batches;
//! [`live_table`] is a table whose rows are computed when it is scanned
//! (server state that must not be frozen into a prepared plan).
//!
//! It may call `write` (a table's INSERT sink) and the planner's shared
//! vocabulary.

pub(super) mod filters;
pub(super) mod live_table;
pub(super) mod stream;
pub(super) mod tables;
