//! Statements prepared once and run many times. [`prepared`] is a
//! statement parsed, classified and — for queries and INSERTs — planned
//! once, with the route it runs by; [`prepared_plan`] binds parameter
//! values into an optimised plan per Execute; [`plan_cache`] keeps a
//! session's plans by statement text (extended protocol) and by normalised
//! text (simple protocol); [`offload`] is where a DataFusion plan runs —
//! on the query runtime, not the connection's single thread.
//!
//! It may call `fast` (a prepared statement recognised as a point lookup or
//! a plain insert), `frontend` and `read`.

pub(super) mod offload;
pub(super) mod plan_cache;
pub(super) mod prepared;
pub(super) mod prepared_plan;
