//! A statement's memory budget (`stemedb.query_memory_limit`).
//!
//! Each session's DataFusion runtime has its own pool, and a session runs
//! one statement at a time, so the pool's limit is the running statement's
//! budget. Operators that hold rows (sorts, hash aggregates and joins)
//! reserve from it; the reservation that would pass the limit fails with
//! `53200` and the statement ends, releasing what it held — the node and
//! its other sessions go on. Nothing spills to disk: a statement either
//! fits its budget or is refused (a 10 GiB sort would otherwise write
//! 10 GiB of temporary files before anyone noticed).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

use crate::planner::settings::QUERY_MEMORY_LIMIT;
use crate::units::format_size;

/// The pool of one session; its limit follows the session's setting.
#[derive(Debug)]
pub struct QueryMemory {
    /// Bytes a statement may reserve; 0 is no limit.
    limit: AtomicUsize,
    used: AtomicUsize,
}

impl QueryMemory {
    pub fn new(limit: Option<usize>) -> Arc<QueryMemory> {
        Arc::new(QueryMemory {
            limit: AtomicUsize::new(limit.unwrap_or(0)),
            used: AtomicUsize::new(0),
        })
    }

    pub fn set_limit(&self, limit: Option<usize>) {
        self.limit.store(limit.unwrap_or(0), Ordering::Relaxed);
    }

    fn limit(&self) -> Option<usize> {
        match self.limit.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// A runtime for a session's context that draws on this pool and
    /// never spills.
    pub fn runtime(self: &Arc<Self>) -> Arc<RuntimeEnv> {
        RuntimeEnvBuilder::new()
            .with_memory_pool(self.clone())
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .expect("a runtime without spilling always builds")
    }
}

impl MemoryPool for QueryMemory {
    fn name(&self) -> &str {
        "stemedb.query_memory"
    }

    fn grow(&self, _: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, _: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let Some(limit) = self.limit() else {
            self.grow(reservation, additional);
            return Ok(());
        };
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                let wanted = used.checked_add(additional)?;
                (wanted <= limit).then_some(wanted)
            })
            .map(|_| ())
            .map_err(|_| {
                DataFusionError::ResourcesExhausted(format!(
                    "out of memory: the statement needs more than {QUERY_MEMORY_LIMIT} = {} \
                     ({} wanted {} more bytes); SET {QUERY_MEMORY_LIMIT} to raise the budget",
                    format_size(Some(limit)),
                    reservation.consumer().name(),
                    additional,
                ))
            })
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        match self.limit() {
            Some(n) => MemoryLimit::Finite(n),
            None => MemoryLimit::Infinite,
        }
    }
}

impl fmt::Display for QueryMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "QueryMemory(used: {}, limit: {})",
            self.reserved(),
            format_size(self.limit())
        )
    }
}
