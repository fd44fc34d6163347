//! What the process runs on: the shape of its threads, and the seam
//! between the cluster and the world — its sockets ([`net`]), its wall
//! clock ([`clock`]) and its blocking work ([`blocking`]). Built with the
//! `sim` feature, the seam switches to `turmoil`'s simulated network and
//! clock and runs blocking work in place, so the cluster's real code runs
//! inside a deterministic simulation (`tests/sim/`, docs/cluster.md); the
//! normal build is tokio's, unchanged. A leaf: it imports nothing of the
//! crate.

pub mod blocking;
pub mod clock;
pub mod net;
pub mod planted;

/// Stack of every runtime thread. Planning and evaluating a statement
/// recurses over its expression tree (an ORM's 3 000-term OR list is 3 000
/// levels deep); the planner rejects deeper trees than it can walk in this
/// much stack (its depth limit, `54001`, in `planner/frontend/limits.rs`). Only the
/// pages a thread touches are committed, so the size costs address space,
/// not RAM.
pub const THREAD_STACK_BYTES: usize = 64 << 20;
