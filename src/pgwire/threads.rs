//! The threads connections are served on. Each is a single-threaded tokio
//! runtime; a connection stays on one of them for its life, and its socket
//! is registered with that thread's own reactor — so a client's message
//! wakes the thread that will answer it, with no hop between threads and
//! no work stealing. With a few connections per thread and two threads
//! per core, the operating system's scheduler shares the cores between
//! connections much as it does between PostgreSQL's backends: on a 2-core
//! machine, 8 clients' point lookups went from ~28 000 to ~40 000 a second
//! and their p99 from 1.4 ms to 0.5–0.7 ms (docs/benchmarks.md). More
//! threads cost writes: the group-commit writer wakes each thread whose
//! connections it acknowledges (16 writing clients on 8 threads: -10 %).
//!
//! What a statement does at length — a DataFusion plan, which may spread
//! over every core — runs on the server's multi-threaded runtime instead
//! ([`crate::planner::prepare::offload`]); a connection's thread keeps the protocol,
//! point lookups and writes.
//!
//! The pool lives as long as the process: tasks a connection spawns
//! (a replication queue, say) outlive it.

use std::future::Future;
use std::sync::OnceLock;

use tokio::net::TcpStream;
use tokio::runtime::Handle;

use crate::connections::InFlight;
use crate::runtime::THREAD_STACK_BYTES;

/// Threads per core when the configuration leaves it to us.
const THREADS_PER_CORE: usize = 2;

struct Thread {
    handle: Handle,
    /// Connections served on it now.
    connections: InFlight,
}

pub struct ConnectionThreads {
    threads: Vec<Thread>,
}

static POOL: OnceLock<ConnectionThreads> = OnceLock::new();

/// The process's connection threads; the first call starts `wanted` of
/// them (0: [`THREADS_PER_CORE`] per core), later calls get the same.
pub fn pool(wanted: usize) -> &'static ConnectionThreads {
    POOL.get_or_init(|| {
        let n = match wanted {
            0 => THREADS_PER_CORE * std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        ConnectionThreads {
            threads: (0..n).map(start).collect(),
        }
    })
}

fn start(i: usize) -> Thread {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .on_thread_start(crate::storage::quiet_perf_counters)
        .build()
        .expect("a connection thread's runtime");
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(format!("stemedb-conn-{i}"))
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || {
            crate::storage::quiet_perf_counters();
            runtime.block_on(std::future::pending::<()>())
        })
        .expect("a connection thread");
    Thread {
        handle,
        connections: InFlight::default(),
    }
}

impl ConnectionThreads {
    /// Serves `socket` with `serve` on the thread with the fewest
    /// connections.
    pub fn serve<F, Fut>(&'static self, socket: TcpStream, serve: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let thread = self
            .threads
            .iter()
            .min_by_key(|t| t.connections.count())
            .expect("at least one connection thread");
        thread.connections.enter();
        let counted = Counted(&thread.connections);
        let socket = socket.into_std();
        thread.handle.spawn(async move {
            let _counted = counted;
            // Registered with this thread's reactor, not the acceptor's.
            match socket.and_then(TcpStream::from_std) {
                Ok(socket) => serve(socket).await,
                Err(e) => tracing::warn!("cannot move a connection to its thread: {e}"),
            }
        });
    }
}

/// A connection on its thread, until it ends.
struct Counted(&'static InFlight);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.leave();
    }
}
