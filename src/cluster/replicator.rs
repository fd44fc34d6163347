//! The write path of a cluster (docs/cluster.md): each stamped write goes to the
//! owners of its subject — a retraction to the owners of its claim's
//! subject — and the statement is acknowledged once every owner holds it
//! durably, or, for an owner that is down or does not answer, once a
//! durable hint for it is held by a live node that is not an owner. So an
//! acknowledged write is always on two nodes.
//!
//! Writes for one owner go in one call and one atomic batch there, so a
//! transaction block stays atomic on each owner; concurrent statements'
//! calls to one owner are merged ([`super::outbox`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use futures::future::join_all;
use futures::stream::BoxStream;

use tokio::sync::watch;

use super::anti_entropy::AntiEntropy;
use super::frontier::{self, Resolved};
use super::members::Membership;
use super::outbox::Outbox;
use super::peers::Peers;
use super::placement::owners;
use super::readers::{PointRequest, Readers, ScanRequest};
use super::replicas::Replicas;
use super::resize::Layouts;
use super::scan_wire::{point_to_proto, to_proto};
use crate::error::{Error, Result, sqlstate};
use crate::model::{Hlc, Id};
use crate::runtime::planted::{Bug, planted};
use crate::storage::{Store, Write};

pub struct Replicator {
    store: Arc<Store>,
    resolved: watch::Receiver<Resolved>,
    membership: Arc<Membership>,
    peers: Arc<Peers>,
    outbox: Outbox,
    anti_entropy: Arc<AntiEntropy>,
    layouts: Arc<Layouts>,
    factor: usize,
}

/// A write and the subject that places it.
type Placed = (Write, String);

/// A write of the statement (its index) on its way to one owner.
type Sending = (usize, Placed);

impl Replicator {
    pub fn new(
        store: Arc<Store>,
        membership: Arc<Membership>,
        peers: Arc<Peers>,
        (anti_entropy, layouts): (Arc<AntiEntropy>, Arc<Layouts>),
        factor: usize,
        resolved: watch::Receiver<Resolved>,
    ) -> Replicator {
        Replicator {
            store,
            resolved,
            membership,
            outbox: Outbox::new(peers.clone()),
            peers,
            anti_entropy,
            layouts,
            factor,
        }
    }

    fn me(&self) -> &str {
        &self.membership.me().id
    }

    /// The owners of `subject` under every member set a write goes to
    /// (two sets while the members change), each once.
    fn owners_of<'a>(&self, subject: &str, sets: &'a [Vec<String>]) -> Vec<&'a str> {
        let mut all = Vec::with_capacity(self.factor);
        for set in sets {
            for owner in owners(subject, set, self.factor) {
                if !all.contains(&owner) {
                    all.push(owner);
                }
            }
        }
        all
    }

    /// The subject of every write: a claim's own; a retraction's from its
    /// claim — in the same batch, stored here, or on a member.
    async fn place(&self, writes: Vec<Write>) -> Result<Vec<Placed>> {
        let mut subjects: HashMap<Id, String> = HashMap::new();
        let mut wanted = Vec::new();
        for w in &writes {
            match w {
                Write::Assertion(a) => {
                    subjects.insert(a.id, a.subject.clone());
                }
                Write::Retraction(r) => wanted.push(r.assertion_id),
                Write::Claim(_) | Write::Retract(_) => {
                    return Err(Error::internal("only stamped writes are replicated"));
                }
            }
        }
        wanted.retain(|id| !subjects.contains_key(id));
        if !wanted.is_empty() {
            subjects.extend(self.subjects(wanted).await?);
        }
        writes
            .into_iter()
            .map(|w| {
                let subject = match &w {
                    Write::Assertion(a) => a.subject.clone(),
                    Write::Retraction(r) => {
                        subjects.get(&r.assertion_id).cloned().ok_or_else(|| {
                            Error::new(
                                sqlstate::FOREIGN_KEY_VIOLATION,
                                format!("cannot retract \"{}\": no such assertion", r.assertion_id),
                            )
                        })?
                    }
                    Write::Claim(_) | Write::Retract(_) => unreachable!("checked above"),
                };
                Ok((w, subject))
            })
            .collect()
    }

    /// The subjects of the claims `ids`, from this node's store, then from
    /// the members that answer.
    async fn subjects(&self, ids: Vec<Id>) -> Result<HashMap<Id, String>> {
        let store = self.store.clone();
        let (mut found, missing) = crate::runtime::blocking::run(move || {
            let mut found = HashMap::new();
            let mut missing = Vec::new();
            for id in ids {
                match store.subject_of(&id)? {
                    Some(subject) => {
                        found.insert(id, subject);
                    }
                    None => missing.push(id),
                }
            }
            Ok::<_, Error>((found, missing))
        })
        .await
        .map_err(|e| Error::internal(format!("locating claims: {e}")))??;
        if !missing.is_empty() {
            found.extend(self.remote_subjects(missing).await);
        }
        Ok(found)
    }

    /// Asks the other live members for the subjects of `ids`.
    async fn remote_subjects(&self, mut ids: Vec<Id>) -> HashMap<Id, String> {
        let mut found = HashMap::new();
        for m in self.membership.members() {
            if ids.is_empty() {
                break;
            }
            if m.is_self || !m.status.is_alive() {
                continue;
            }
            match self.peers.locate(&m.identity.rpc, &ids).await {
                Ok(located) => found.extend(located),
                Err(e) => tracing::warn!(peer = m.identity.id, "cluster: locate: {}", e.message),
            }
            ids.retain(|id| !found.contains_key(id));
        }
        found
    }

    /// Stores `writes` on `owner`, or a hint for it.
    /// Returns, for each write, the node that now holds it durably.
    async fn deliver(&self, owner: &str, writes: Vec<Sending>) -> Result<Vec<(usize, String)>> {
        let records: Vec<Write> = writes.iter().map(|(_, (w, _))| w.clone()).collect();
        let held_by_owner = |writes: &[Sending]| {
            writes
                .iter()
                .map(|(i, _)| (*i, owner.to_string()))
                .collect()
        };
        if owner == self.me() {
            self.store.commit(records).await?;
            return Ok(held_by_owner(&writes));
        }
        match self.membership.find(owner) {
            Some(m) if m.status.is_alive() => {
                match self.outbox.replicate(&m.identity.rpc, &records).await {
                    Ok(()) => return Ok(held_by_owner(&writes)),
                    Err(e) => tracing::warn!(
                        peer = owner,
                        "cluster: replication failed, holding a hint instead: {}",
                        e.message
                    ),
                }
            }
            _ => {}
        }
        self.hint(owner, writes).await
    }

    /// Holds `writes` for `owner` on live nodes that are not owners of
    /// their subjects: this one when it is not, else another. Returns, for
    /// each write, the node holding its hint.
    async fn hint(&self, owner: &str, writes: Vec<Sending>) -> Result<Vec<(usize, String)>> {
        let sets = self.membership.writer_ids();
        let alive = self.membership.alive_ids();
        let mut holders: BTreeMap<String, Vec<Write>> = BTreeMap::new();
        let mut held = Vec::with_capacity(writes.len());
        for (i, (w, subject)) in writes {
            let owning = self.owners_of(&subject, &sets);
            let holder = std::iter::once(self.me().to_string())
                .chain(alive.iter().cloned())
                .find(|id| !owning.contains(&id.as_str()))
                .ok_or_else(|| too_few(owner, "no live node to hold a hint"))?;
            held.push((i, holder.clone()));
            holders.entry(holder).or_default().push(w);
        }
        for (holder, writes) in holders {
            if holder == self.me() {
                let (store, owner) = (self.store.clone(), owner.to_string());
                crate::runtime::blocking::run(move || store.hint(&owner, &writes))
                    .await
                    .map_err(|e| Error::internal(format!("holding a hint: {e}")))??;
                continue;
            }
            let addr = self.membership.find(&holder).map(|m| m.identity.rpc);
            let addr = addr.ok_or_else(|| too_few(owner, "no live node to hold a hint"))?;
            self.peers
                .hint(&addr, owner, &writes)
                .await
                .map_err(|e| too_few(owner, &e.message))?;
        }
        Ok(held)
    }
}

/// No second node could take a write: it is not acknowledged.
fn too_few(owner: &str, why: &str) -> Error {
    Error::new(
        sqlstate::READ_ONLY_SQL_TRANSACTION,
        format!(
            "cannot write: its owner {owner} is unreachable and no other live node could hold \
             it for {owner} ({why}); the write is not acknowledged, retry when a second node \
             is back"
        ),
    )
}

impl Replicator {
    /// Stores stamped writes on the owners of their subjects; returns once
    /// each is durable on two nodes. Writes to one owner go in one atomic
    /// batch there.
    pub async fn replicate(&self, writes: Vec<Write>) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        // Held until every owner stores the writes: a new layout is
        // adopted only after the writes placed under the old one.
        let _layout = self.membership.gate().read().await;
        let sets = self.membership.writer_ids();
        let placed = self.place(writes).await?;
        let count = placed.len();
        let mut by_owner: BTreeMap<String, Vec<Sending>> = BTreeMap::new();
        for (i, (w, subject)) in placed.into_iter().enumerate() {
            for owner in self.owners_of(&subject, &sets) {
                by_owner
                    .entry(owner.to_string())
                    .or_default()
                    .push((i, (w.clone(), subject.clone())));
            }
        }
        let sends = by_owner
            .into_iter()
            .map(|(owner, writes)| async move { self.deliver(&owner, writes).await });
        if planted(Bug::AckAfterOneCopy) {
            // The planted bug: acknowledged at the first owner's answer.
            let sends = sends.map(Box::pin);
            return futures::future::select_ok(sends).await.map(drop);
        }
        // Each write must now be durable on `factor` distinct nodes: two
        // hints on one node (both owners away) are one copy, not two.
        let mut holders: Vec<BTreeSet<String>> = vec![BTreeSet::new(); count];
        for delivered in join_all(sends).await {
            for (i, node) in delivered? {
                holders[i].insert(node);
            }
        }
        match holders.iter().find(|h| h.len() < self.factor) {
            None => Ok(()),
            Some(h) => Err(Error::new(
                sqlstate::READ_ONLY_SQL_TRANSACTION,
                format!(
                    "cannot write: only {} could hold it durably (both its owners are \
                     unreachable from here), not {} nodes; the write is not acknowledged, \
                     retry when an owner is back",
                    h.iter().cloned().collect::<Vec<_>>().join(", "),
                    self.factor
                ),
            )),
        }
    }
}

#[async_trait]
impl Replicas for Replicator {
    async fn commit(&self, writes: Vec<Write>) -> Result<Vec<Write>> {
        let stamped = self.store.stamp_reserved(writes);
        self.replicate(stamped.clone()).await?;
        Ok(stamped)
    }

    async fn apply_staged(&self, copy: u64, rows: usize) -> Result<()> {
        let result = async {
            let n = u32::try_from(rows)
                .map_err(|_| Error::internal(format!("a COPY of {rows} rows is too large")))?;
            let first = self.store.clock().reserve(n);
            let mut from = 0;
            loop {
                let (chunk, next) = self.store.staged_chunk(copy, from, first).await?;
                if chunk.is_empty() {
                    return Ok(());
                }
                self.replicate(chunk).await?;
                from = next;
            }
        }
        .await;
        self.store.discard_staged(copy)?;
        result
    }

    async fn locate(&self, ids: Vec<Id>) -> Result<HashSet<Id>> {
        Ok(self.remote_subjects(ids).await.into_keys().collect())
    }

    fn readers(&self) -> Readers {
        Readers {
            coordinator: self.me().to_string(),
            members: self.membership.placement_ids(),
            alive: self.membership.alive_ids(),
            factor: self.factor,
        }
    }

    async fn scan(
        &self,
        node: &str,
        request: ScanRequest,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let member = self
            .membership
            .find(node)
            .ok_or_else(|| Error::internal(format!("cannot scan on {node}: not a known member")))?;
        self.peers
            .scan(&member.identity.rpc, to_proto(&request))
            .await
    }

    async fn sync(&self) -> Result<String> {
        let mut lines = Vec::new();
        for (peer, result) in self.anti_entropy.sync_all(false).await {
            lines.push(match result {
                Ok(o) if o.in_sync => {
                    format!("{peer}: in sync ({} bytes compared)", o.compared_bytes)
                }
                Ok(o) => format!("{peer}: repaired {} records", o.repaired),
                Err(e) => format!("{peer}: failed: {}", e.message),
            });
        }
        if lines.is_empty() {
            return Err(Error::internal("no live peer to compare with"));
        }
        Ok(lines.join("\n"))
    }

    fn frontier(&self) -> Option<Hlc> {
        frontier::of(&self.resolved)
    }

    fn resolved(&self) -> watch::Receiver<Resolved> {
        self.resolved.clone()
    }

    async fn change_members(&self, add: Option<String>, remove: Option<String>) -> Result<String> {
        self.layouts.change(add, remove).await
    }

    async fn publish_catalog(&self, entries: Vec<crate::storage::CatalogEntry>) -> Result<()> {
        super::catalog::publish(&self.store, &self.membership, &self.peers, entries).await
    }

    async fn point(&self, node: &str, request: PointRequest) -> Result<RecordBatch> {
        let member = self
            .membership
            .find(node)
            .ok_or_else(|| Error::internal(format!("cannot read on {node}: not a known member")))?;
        self.peers
            .point(&member.identity.rpc, point_to_proto(&request)?)
            .await
    }
}
