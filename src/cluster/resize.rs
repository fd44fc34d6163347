//! Settling and changing the cluster's layout ([`super::layout`]): the
//! first layout when every configured member is known, catching up with a
//! newer one a peer holds, and the operator's `stemedb_add_member(id)` /
//! `stemedb_remove_member(id)`, which this node drives through every phase
//! on every member of the change.

use std::sync::Arc;

use super::layout::{Layout, Phase};
use super::members::Membership;
use super::peers::Peers;
use super::rebalance;
use crate::error::{Error, Result, sqlstate};
use crate::storage::Store;

pub struct Layouts {
    pub store: Arc<Store>,
    pub membership: Arc<Membership>,
    pub peers: Arc<Peers>,
    pub factor: usize,
    /// One move at a time on this node: a subject forgotten twice at once
    /// would be deleted twice (and RocksDB's key estimate, which
    /// `stemedb_assertions_stored` reports, counts each delete).
    pub moving: tokio::sync::Mutex<()>,
}

/// What a change of members did.
#[derive(Debug, Default)]
struct Moved {
    copied: u64,
    forgotten: u64,
}

fn refused(message: String) -> Error {
    Error::new(sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE, message)
}

impl Layouts {
    /// Takes up the layout this node kept, if any.
    pub fn load(&self) -> Result<()> {
        if let Some(json) = self.store.layout()? {
            let layout: Layout = serde_json::from_slice(&json)
                .map_err(|e| Error::internal(format!("the kept cluster layout: {e}")))?;
            self.membership.set_layout(layout);
        }
        Ok(())
    }

    /// Adopts `layout` if it is newer than the one held — once the writes
    /// placed under the old one are stored — and keeps it; the layout
    /// held after.
    pub async fn adopt(&self, layout: Layout) -> Result<Layout> {
        let _writes_done = self.membership.gate().write().await;
        if let Some(held) = self.membership.layout()
            && held.epoch >= layout.epoch
        {
            return Ok(held);
        }
        let json = serde_json::to_vec(&layout).map_err(|e| Error::internal(e.to_string()))?;
        let store = self.store.clone();
        crate::runtime::blocking::run(move || store.set_layout(&json))
            .await
            .map_err(|e| Error::internal(format!("keeping the layout: {e}")))??;
        tracing::info!(
            epoch = layout.epoch,
            phase = ?layout.phase,
            members = ?layout.target,
            "cluster: layout adopted"
        );
        self.membership.set_layout(layout.clone());
        Ok(layout)
    }

    /// Adopts the newest layout a live peer holds; with none anywhere
    /// (a new cluster), settles the first one over the members known —
    /// only when every configured member is known, alive and answered.
    pub async fn refresh(&self) -> Result<()> {
        let mut newest: Option<Layout> = None;
        let mut all_answered = true;
        for m in self.membership.members() {
            if m.is_self {
                continue;
            }
            if !m.status.is_alive() {
                all_answered = false;
                continue;
            }
            match self.peers.layout(&m.identity.rpc).await {
                Ok(Some(l)) if newest.as_ref().is_none_or(|n| l.epoch > n.epoch) => {
                    newest = Some(l)
                }
                Ok(_) => {}
                Err(e) => {
                    all_answered = false;
                    tracing::debug!(peer = m.identity.id, "cluster: layout: {}", e.message);
                }
            }
        }
        match newest {
            Some(l) => drop(self.adopt(l).await?),
            None if self.membership.layout().is_none()
                && all_answered
                && self.membership.knows_configured() =>
            {
                let first = Layout::first(self.membership.placement_ids());
                drop(self.adopt(first).await?);
            }
            None => {}
        }
        Ok(())
    }

    /// Sends this node's subjects where the layout of `epoch` (which it
    /// must hold) says: to their new owners while copying, everything it
    /// no longer owns once stable; the claims sent.
    pub async fn move_subjects(&self, epoch: u64) -> Result<u64> {
        let layout = self.membership.layout().filter(|l| l.epoch == epoch);
        let layout = layout.ok_or_else(|| {
            refused(format!(
                "this node does not hold the layout of epoch {epoch}"
            ))
        })?;
        let _one = self.moving.lock().await;
        let (store, members, peers) = (&self.store, &self.membership, &self.peers);
        match layout.phase {
            Phase::Copying => {
                let sets = (layout.settled, layout.target);
                rebalance::copy(store, members, peers, sets, self.factor).await
            }
            Phase::Stable => {
                rebalance::rebalance(store, members, peers, layout.target, self.factor).await
            }
            Phase::Switched => Ok(0),
        }
    }

    /// Adds (`add`) or removes a member: drives the change through its
    /// phases on every member involved and reports what moved. A change
    /// that stopped half way (a member went down) is finished by running
    /// the same command again.
    pub async fn change(&self, add: Option<String>, remove: Option<String>) -> Result<String> {
        // A change that stopped half way may have reached a later phase
        // on another member than on this one: continue from the newest
        // (simulation seed 179: a coordinator restarted on `copying` while
        // a member held `switched`, and retried the copy forever).
        self.refresh().await?;
        let current = self
            .membership
            .layout()
            .ok_or_else(|| refused("this node has not settled the cluster's members yet".into()))?;
        let mut target = current.target.clone();
        if let Some(id) = &add {
            let alive = self.membership.find(id).filter(|m| m.status.is_alive());
            if alive.is_none() {
                return Err(refused(format!(
                    "cannot add {id}: no live member has that id (start it with this cluster's \
                     seeds and secret first)"
                )));
            }
            target.push(id.clone());
        }
        // A change under way that already removes `id` is finished by
        // running it again (as the refusal below tells the operator); so
        // is one that reached `stable` but stopped while old owners were
        // still forgetting what they no longer own.
        let done = |id: &String| !target.contains(id);
        let finishing = remove.as_ref().filter(|id| done(id) && self.was_member(id));
        if let Some(id) = remove.as_ref().filter(|id| !done(id)) {
            target.retain(|m| m != id);
            if target.len() < self.factor {
                return Err(refused(format!(
                    "cannot remove {id}: {} members could not hold {} copies of each subject",
                    target.len(),
                    self.factor
                )));
            }
        } else if let Some(id) = remove.as_ref().filter(|_| finishing.is_none()) {
            return Err(refused(format!("cannot remove {id}: it is not a member")));
        }
        target.sort();
        target.dedup();
        let mut layout = match current.phase {
            Phase::Stable if target == current.target => {
                return self.finish(&current, finishing).await;
            }
            Phase::Stable => current.change_to(target),
            _ if target == current.target => current,
            _ => {
                return Err(refused(format!(
                    "a change to members {} is under way; run that change again to finish it",
                    current.target.join(", ")
                )));
            }
        };
        // Every member before or after the change, through every phase: a
        // removed node adopts the stable layout too, and forgets its share.
        let involved = layout.all();
        self.check_alive(&involved)?;
        let mut moved = Moved::default();
        loop {
            self.announce(&involved, &layout).await?;
            let sent = self.move_everywhere(&involved, &layout).await?;
            match layout.phase {
                Phase::Copying => moved.copied += sent,
                _ => moved.forgotten += sent,
            }
            match layout.next() {
                Some(next) => layout = next,
                None => break,
            }
        }
        Ok(format!(
            "members now {}: {} claims copied to new owners, {} moved off old owners",
            layout.target.join(", "),
            moved.copied,
            moved.forgotten
        ))
    }

    /// Whether gossip knows `id` as a node of this cluster (a removed
    /// member is still listed, up or down).
    fn was_member(&self, id: &str) -> bool {
        self.membership.find(id).is_some()
    }

    /// Has every member — and `gone`, a member already removed, while it
    /// is alive — adopt the stable layout and run its move again, so a
    /// change that stopped after the layout became stable leaves no copy
    /// where it no longer belongs. Nothing moves when none is left over.
    async fn finish(&self, layout: &Layout, gone: Option<&String>) -> Result<String> {
        let mut involved = layout.all();
        let alive = |id: &&String| {
            self.membership
                .find(id)
                .is_some_and(|m| m.status.is_alive())
        };
        involved.extend(gone.filter(alive).cloned());
        self.check_alive(&involved)?;
        // A member that missed the last phase adopts it first (simulation
        // seed 191: one still held `switched`, so its move was refused).
        self.announce(&involved, layout).await?;
        let moved = self.move_everywhere(&involved, layout).await?;
        Ok(format!(
            "members unchanged: {}; {moved} claims moved off old owners",
            layout.target.join(", ")
        ))
    }

    /// Every member of the change must be alive to take part.
    fn check_alive(&self, involved: &[String]) -> Result<()> {
        let down: Vec<&str> = involved
            .iter()
            .filter(|id| {
                let m = self.membership.find(id);
                !m.is_some_and(|m| m.is_self || m.status.is_alive())
            })
            .map(String::as_str)
            .collect();
        match down.is_empty() {
            true => Ok(()),
            false => Err(refused(format!(
                "cannot change members while {} {} not alive: bring {} back first",
                down.join(", "),
                if down.len() == 1 { "is" } else { "are" },
                if down.len() == 1 { "it" } else { "them" },
            ))),
        }
    }

    /// Has every member of the change adopt `layout` (this node last).
    async fn announce(&self, involved: &[String], layout: &Layout) -> Result<()> {
        for id in involved {
            if *id == self.membership.me().id {
                continue;
            }
            let addr = self.rpc_of(id)?;
            let held = self.peers.set_layout(&addr, layout).await?;
            match held {
                Some(h) if h.epoch > layout.epoch => {
                    let epoch = h.epoch;
                    self.adopt(h).await?;
                    return Err(refused(format!(
                        "{id} holds a newer layout (epoch {epoch}); run the change again to \
                         continue from it"
                    )));
                }
                Some(h) if h.epoch == layout.epoch => {}
                _ => {
                    return Err(Error::internal(format!(
                        "{id} did not adopt the new layout"
                    )));
                }
            }
        }
        self.adopt(layout.clone()).await.map(drop)
    }

    /// Runs [`Layouts::move_subjects`] on every member of the change.
    async fn move_everywhere(&self, involved: &[String], layout: &Layout) -> Result<u64> {
        if layout.phase == Phase::Switched {
            return Ok(0);
        }
        let mut sent = 0;
        for id in involved {
            sent += match *id == self.membership.me().id {
                true => self.move_subjects(layout.epoch).await?,
                false => {
                    let addr = self.rpc_of(id)?;
                    self.peers.move_subjects(&addr, layout.epoch).await?
                }
            };
        }
        Ok(sent)
    }

    fn rpc_of(&self, id: &str) -> Result<String> {
        let m = self.membership.find(id).filter(|m| m.status.is_alive());
        m.map(|m| m.identity.rpc).ok_or_else(|| {
            refused(format!(
                "{id} is not alive; run the same change again once it is"
            ))
        })
    }
}
