//! Replication calls, merged per peer. Under load many statements send
//! writes to the same owner at once; each paying its own gRPC call costs
//! more CPU than storing the writes. So each peer has one queue and a task
//! that sends everything queued in one `Replicate` call — one atomic batch
//! at the owner, so each statement's writes stay atomic there — with a
//! few calls in flight: while they are, new writes gather for the next.
//! A statement waits for its own call's answer, so a queue never holds
//! more than the statements in progress.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::peers::Peers;
use crate::error::{Error, Result};
use crate::storage::{Write, encode_write};

/// Calls in flight to one peer.
const CALLS_IN_FLIGHT: usize = 4;

/// Most encoded bytes merged into one call.
const BYTES_PER_CALL: usize = 4 << 20;

struct Pending {
    writes: Vec<Vec<u8>>,
    done: oneshot::Sender<Result<()>>,
}

pub struct Outbox {
    peers: Arc<Peers>,
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Pending>>>,
}

impl Outbox {
    pub fn new(peers: Arc<Peers>) -> Outbox {
        Outbox {
            peers,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Stores `writes` on the member at `addr`; returns once it holds them
    /// durably (with whatever else was sent to it in the same call).
    pub async fn replicate(&self, addr: &str, writes: &[Write]) -> Result<()> {
        let writes = writes.iter().map(encode_write).collect::<Result<_>>()?;
        let (done, answer) = oneshot::channel();
        self.queue(addr)
            .send(Pending { writes, done })
            .map_err(|_| Error::internal(format!("replication to {addr} has stopped")))?;
        answer
            .await
            .map_err(|_| Error::internal(format!("replication to {addr} dropped a call")))?
    }

    fn queue(&self, addr: &str) -> mpsc::UnboundedSender<Pending> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues
            .entry(addr.to_string())
            .or_insert_with(|| {
                let (queue, pending) = mpsc::unbounded_channel();
                tokio::spawn(send_all(self.peers.clone(), addr.to_string(), pending));
                queue
            })
            .clone()
    }
}

/// Sends what is queued for `addr`, merged, with at most
/// [`CALLS_IN_FLIGHT`] calls at once.
async fn send_all(peers: Arc<Peers>, addr: String, mut pending: mpsc::UnboundedReceiver<Pending>) {
    let calls = Arc::new(Semaphore::new(CALLS_IN_FLIGHT));
    while let Some(first) = pending.recv().await {
        let Ok(call) = calls.clone().acquire_owned().await else {
            return;
        };
        // What queued while waiting for a free call goes with it.
        let mut bytes: usize = first.writes.iter().map(Vec::len).sum();
        let mut merged = vec![first];
        while bytes < BYTES_PER_CALL {
            let Ok(next) = pending.try_recv() else {
                break;
            };
            bytes += next.writes.iter().map(Vec::len).sum::<usize>();
            merged.push(next);
        }
        let (peers, addr) = (peers.clone(), addr.clone());
        tokio::spawn(async move {
            let mut writes = Vec::new();
            let mut waiting = Vec::with_capacity(merged.len());
            for p in merged {
                writes.extend(p.writes);
                waiting.push(p.done);
            }
            let result = peers.replicate_encoded(&addr, writes).await;
            drop(call);
            for done in waiting {
                let _ = done.send(result.clone());
            }
        });
    }
}
