//! The WAL's fsync, off the commit thread. With `durability = "fsync"` the
//! commit thread writes each batch to the WAL and memtables without
//! syncing and hands it here; this thread syncs the WAL once for every
//! batch written since its last sync and only then acknowledges their
//! requests. So the commit thread builds and writes the next batch while
//! the disk syncs the last one, instead of the two taking turns (INSERT's
//! commit thread spent about half of each batch waiting on the fsync).
//!
//! Readers never see a write before it is durable: while a batch is
//! written but not synced, read points use the snapshot taken before it
//! ([`super::visibility::Applying::writing`]); once a sync covers the
//! batches, readers move on to the snapshot taken after the last of them —
//! before any request is acknowledged, so a client reads its own writes.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use rocksdb::DB;
use tokio::sync::oneshot;

use super::Write;
use super::visibility::{Applying, SharedSnapshot};
use crate::error::{Error, Result};

/// A request's acknowledgement, sent once its batch is durable.
pub(super) type Ack = (oneshot::Sender<Result<Vec<Write>>>, Result<Vec<Write>>);

/// One batch the commit thread has written.
pub(super) struct Written {
    /// Its number (the commit thread counts its batches).
    pub batch: u64,
    /// The database as of just after it.
    pub view: SharedSnapshot,
    pub acks: Vec<Ack>,
}

/// Handle to the sync thread; dropping it lets the thread finish the
/// batches handed to it and waits for it.
pub(super) struct Syncer {
    queue: Option<mpsc::Sender<Written>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    pub fn start(db: Arc<DB>, applying: Arc<Applying>) -> Syncer {
        let (queue, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("stemedb-fsync".into())
            .spawn(move || run(&db, &applying, rx))
            .expect("spawn fsync thread");
        Syncer {
            queue: Some(queue),
            thread: Some(thread),
        }
    }

    pub fn send(&self, written: Written) {
        if let Some(Err(mpsc::SendError(lost))) = self.queue.as_ref().map(|q| q.send(written)) {
            for (done, _) in lost.acks {
                let _ = done.send(Err(Error::internal("the fsync thread has stopped")));
            }
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(db: &DB, applying: &Applying, rx: mpsc::Receiver<Written>) {
    while let Ok(first) = rx.recv() {
        let mut batches = vec![first];
        batches.extend(rx.try_iter());
        let started = Instant::now();
        // Syncs every WAL write made before the call: all of `batches`.
        let synced = db.flush_wal(true).map_err(Error::from);
        crate::monitor::wal_fsync(started.elapsed());
        if synced.is_ok()
            && let Some(last) = batches.last()
        {
            applying.synced(last.batch, last.view.clone());
        }
        for (done, result) in batches.into_iter().flat_map(|b| b.acks) {
            let result = match &synced {
                Ok(()) => result,
                Err(e) => Err(e.clone()),
            };
            let _ = done.send(result);
        }
    }
}
