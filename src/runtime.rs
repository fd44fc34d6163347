//! The shape of the process's threads, shared by every layer that starts
//! one (the server's runtime, the connection threads, the query threads). A
//! leaf: it imports nothing of the crate.

/// Stack of every runtime thread. Planning and evaluating a statement
/// recurses over its expression tree (an ORM's 3 000-term OR list is 3 000
/// levels deep); the planner rejects deeper trees than it can walk in this
/// much stack (its depth limit, `54001`, in `planner/frontend/limits.rs`). Only the
/// pages a thread touches are committed, so the size costs address space,
/// not RAM.
pub const THREAD_STACK_BYTES: usize = 64 << 20;
