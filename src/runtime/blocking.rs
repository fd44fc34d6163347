//! Work that must not hold up an async runtime's thread: RocksDB reads of
//! many keys, building digests, writing hints. Normally it runs on tokio's
//! blocking pool. In the simulation build it runs in place: a thread of the
//! pool would finish at a moment of real time, not of the simulation's, and
//! the seed would no longer decide the order of events.

use std::future::Future;

/// Why blocking work gave no answer (its thread panicked or the runtime is
/// shutting down).
#[derive(Debug)]
pub struct Lost(String);

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs `work` off the async threads and returns its result.
pub async fn run<R, F>(work: F) -> Result<R, Lost>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    #[cfg(feature = "sim")]
    {
        Ok(work())
    }
    #[cfg(not(feature = "sim"))]
    {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Lost(e.to_string()))
    }
}

/// Waits for `reply`, which a thread of the process (the commit or fsync
/// thread) completes. In the simulation build the simulation's thread
/// blocks until it does, so the reply arrives at the same simulated moment
/// in every replay.
pub async fn reply<T>(reply: impl Future<Output = T>) -> T {
    #[cfg(feature = "sim")]
    {
        futures::executor::block_on(reply)
    }
    #[cfg(not(feature = "sim"))]
    {
        reply.await
    }
}
