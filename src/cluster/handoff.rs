//! Hinted handoff: a background task that gives each member the writes
//! held for it while it was away, as soon as gossip shows it alive again,
//! oldest first; a hint is deleted only once its member holds it durably.
//! The same task keeps the ids of every member seen (placement is
//! computed over them, across restarts).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::members::Membership;
use super::peers::Peers;
use crate::error::{Error, Result};
use crate::storage::Store;

/// How often the task looks for work.
const EVERY: Duration = Duration::from_millis(250);

/// Hints sent per call.
const HINTS_PER_CALL: usize = 2000;

pub async fn run(
    store: Arc<Store>,
    membership: Arc<Membership>,
    peers: Arc<Peers>,
    mut stop: watch::Receiver<bool>,
) {
    let mut remembered = membership.placement_ids();
    let mut every = tokio::time::interval(EVERY);
    loop {
        // `biased`: branches are polled in order, not at random, so a
        // seed of the simulation replays the same choices.
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            _ = every.tick() => {}
        }
        let ids = membership.placement_ids();
        if ids != remembered {
            match store.remember_members(&ids) {
                Ok(()) => remembered = ids,
                Err(e) => tracing::warn!("cluster: cannot keep the member list: {}", e.message),
            }
        }
        if store.hints_pending() == 0 {
            continue;
        }
        for m in membership.members() {
            if m.is_self || !m.status.is_alive() {
                continue;
            }
            if let Err(e) = hand_off(&store, &peers, &m.identity.id, &m.identity.rpc).await {
                tracing::debug!(
                    peer = m.identity.id,
                    "cluster: handoff paused: {}",
                    e.message
                );
            }
        }
    }
}

/// Sends every hint held for `target` (at `addr`), a call at a time.
async fn hand_off(store: &Arc<Store>, peers: &Peers, target: &str, addr: &str) -> Result<()> {
    let mut sent = 0;
    loop {
        let (s, t) = (store.clone(), target.to_string());
        let batch = crate::runtime::blocking::run(move || s.hints_for(&t, HINTS_PER_CALL))
            .await
            .map_err(|e| Error::internal(format!("reading hints: {e}")))??;
        if batch.writes.is_empty() {
            if sent > 0 {
                tracing::info!(peer = target, writes = sent, "cluster: hints handed off");
            }
            return Ok(());
        }
        peers.replicate(addr, &batch.writes).await?;
        sent += batch.writes.len();
        let s = store.clone();
        crate::runtime::blocking::run(move || s.handed_off(batch))
            .await
            .map_err(|e| Error::internal(format!("deleting hints: {e}")))??;
    }
}
