//! The checker, run once everything is healed and the nodes have compared
//! Merkle trees: what the clients were told against what the stores hold,
//! in the manner of Jepsen's set-full checker.
//!
//! - every acknowledged claim is stored on each of its owners (under the
//!   members the nodes agree on);
//! - nothing is stored that no client asked for, and nothing a client
//!   asked for is stored changed;
//! - every acknowledged retraction is stored wherever its claim is;
//! - each claim is stored exactly `factor` times (on its owners, nowhere
//!   else);
//! - the last anti-entropy round found every pair of nodes in sync
//!   (their Merkle roots agree);
//! - the owners of each pair agree on its lens answers as their stored
//!   heads give them: the recency and the authority winner, the number of
//!   live claims and of distinct objects (the conflict count).

use std::collections::{BTreeMap, BTreeSet};

use stemedb::cluster::placement::owners;
use stemedb::model::{Assertion, Id};
use stemedb::storage::{Inventory, ScanRange, View, inventory};

use crate::world::{Op, Outcome, World};

const FACTOR: usize = 2;

/// What one node stores.
struct Stored {
    claims: BTreeMap<Id, Assertion>,
    retracted: BTreeSet<Id>,
}

/// Checks the run; on success a one-line summary (part of the trace).
pub fn check(world: &World) -> Result<String, String> {
    let n = world.names.len();
    let mut stored = BTreeMap::new();
    for i in 0..n {
        let Some(store) = world.store(i) else {
            continue;
        };
        let mut claims = BTreeMap::new();
        let read = store.read_point();
        read.for_each_assertion(&ScanRange::All, |a| {
            claims.insert(a.id, a);
            Ok(true)
        })
        .map_err(|e| e.message)?;
        let mut retracted = BTreeSet::new();
        read.for_each_retraction(|r| {
            retracted.insert(r.assertion_id);
            Ok(true)
        })
        .map_err(|e| e.message)?;
        stored.insert(world.names[i].clone(), Stored { claims, retracted });
    }
    let members = agreed_members(world)?;
    let mut problems = Vec::new();
    let history = world.history.borrow();
    let asked: BTreeMap<&str, &str> = history
        .values()
        .filter_map(|(op, _)| match op {
            Op::Claim { subject, object } => Some((object.as_str(), subject.as_str())),
            Op::Retract { .. } => None,
        })
        .collect();
    // Every claim stored anywhere, and where.
    let mut copies: BTreeMap<Id, (Assertion, Vec<&str>)> = BTreeMap::new();
    for (node, s) in &stored {
        for (id, a) in &s.claims {
            // A node removed from the cluster may keep what it held; only
            // members' copies count.
            if members.contains(node) {
                copies
                    .entry(*id)
                    .or_insert_with(|| (a.clone(), Vec::new()))
                    .1
                    .push(node.as_str());
            }
            match asked.get(a.object.as_str()) {
                Some(subject) if *subject == a.subject => {}
                _ => problems.push(format!(
                    "{node} stores a claim no client wrote: {} {} {}",
                    a.subject, a.predicate, a.object
                )),
            }
        }
    }
    for (number, (op, outcome)) in history.iter() {
        match (op, outcome) {
            (Op::Claim { subject, object }, Outcome::Acked(Some(id))) => {
                for owner in owners(subject, &members, FACTOR) {
                    if !stored.get(owner).is_some_and(|s| s.claims.contains_key(id)) {
                        problems.push(format!(
                            "acknowledged claim #{number} ({subject} = {object}) is missing on \
                             its owner {owner}"
                        ));
                    }
                }
            }
            (Op::Retract { id }, Outcome::Acked(_)) => {
                for (node, s) in &stored {
                    if s.claims.contains_key(id) && !s.retracted.contains(id) {
                        problems.push(format!(
                            "acknowledged retraction #{number} of {id:?} is missing on {node}, \
                             which stores its claim"
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    for (id, (a, holders)) in &copies {
        let mut expected = owners(&a.subject, &members, FACTOR);
        expected.sort();
        let mut holders = holders.clone();
        holders.sort();
        if holders != expected {
            problems.push(format!(
                "claim {id:?} ({}) is stored on {holders:?}, its owners are {expected:?}",
                a.subject
            ));
        }
    }
    for (i, name) in world.names.iter().enumerate() {
        if members.contains(name) && !world.slots.borrow()[i].in_sync {
            problems.push(format!("{name}'s last comparison found a peer out of sync"));
        }
    }
    if !world.changes.borrow().is_empty() {
        problems.push(format!(
            "changes of members never finished: {:?}",
            world.changes.borrow()
        ));
    }
    problems.extend(lenses_disagree(world, &members)?);
    if !problems.is_empty() {
        problems.truncate(20);
        return Err(problems.join("\n"));
    }
    let acked = history
        .values()
        .filter(|(_, o)| matches!(o, Outcome::Acked(_)))
        .count();
    Ok(format!(
        "checked: {} operations, {acked} acknowledged, {} claims stored {} times on {members:?}",
        history.len(),
        copies.len(),
        copies.values().map(|(_, h)| h.len()).sum::<usize>()
    ))
}

/// The acknowledgement's promise, checked while faults happen: every
/// acknowledged claim and retraction is held durably by at least
/// `factor` nodes — as stored data or as a hint for an owner that was
/// away. Read from every node's data directory, running or not. (A wiped
/// disk breaks the promise by design: not checked after one.)
pub fn durable(world: &World) -> Result<(), String> {
    let mut held = Vec::new();
    for name in &world.names {
        let dir = world.dir.join(name);
        if dir.join("CURRENT").exists() {
            held.push(read_inventory(&dir)?);
        }
    }
    let copies = |claim: bool, id: &Id| {
        held.iter()
            .filter(|h| match claim {
                true => h.claims.contains(id) || h.hinted_claims.contains(id),
                false => h.retractions.contains(id) || h.hinted_retractions.contains(id),
            })
            .count()
    };
    let mut problems = Vec::new();
    for (number, (op, outcome)) in world.history.borrow().iter() {
        let (claim, id) = match (op, outcome) {
            (Op::Claim { .. }, Outcome::Acked(Some(id))) => (true, id),
            (Op::Retract { id }, Outcome::Acked(_)) => (false, id),
            _ => continue,
        };
        let n = copies(claim, id);
        if n < FACTOR {
            let what = if claim { "claim" } else { "retraction of" };
            problems.push(format!(
                "acknowledged {what} #{number} {id:?} is held by {n} node(s), not {FACTOR}"
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.truncate(10);
    Err(problems.join("\n"))
}

/// The claims held anywhere as hints for `node` (a crashed node's disk
/// counts: its hints wait there).
pub fn hints_for(world: &World, node: &str) -> BTreeSet<Id> {
    let mut ids = BTreeSet::new();
    for name in &world.names {
        let dir = world.dir.join(name);
        if !dir.join("CURRENT").exists() {
            continue;
        }
        if let Ok(held) = read_inventory(&dir) {
            let mine = held.hints_for.iter().filter(|(target, _)| target == node);
            ids.extend(mine.map(|(_, id)| *id));
        }
    }
    ids
}

/// A node's inventory, read again if a compaction of the running node
/// removed a file the read-only open was about to read (RocksDB's
/// background threads run in real time, beside the simulation).
fn read_inventory(dir: &std::path::Path) -> Result<Inventory, String> {
    let mut tries = 0;
    loop {
        match inventory(dir) {
            Ok(found) => return Ok(found),
            Err(e) if tries < 20 && e.message.contains("No such file") => tries += 1,
            Err(e) => return Err(e.message),
        }
    }
}

/// A pair's lens answers on one node: the recency and authority winners,
/// live claims, distinct objects.
type Answers = (Id, Id, u64, usize);

/// Pairs whose owners answer differently.
fn lenses_disagree(world: &World, members: &[String]) -> Result<Vec<String>, String> {
    let mut by_pair: BTreeMap<(String, String), BTreeMap<String, Answers>> = BTreeMap::new();
    for (i, name) in world.names.iter().enumerate() {
        let Some(store) = world.store(i).filter(|_| members.contains(name)) else {
            continue;
        };
        let view = View::new(store.clone(), store.read_point(), None);
        view.for_each_head(&ScanRange::All, |h| {
            let pair = (h.recency.subject.clone(), h.recency.predicate.clone());
            let answers = (h.recency.id, h.authority.id, h.claims, h.objects.len());
            by_pair
                .entry(pair)
                .or_default()
                .insert(name.clone(), answers);
            Ok(true)
        })
        .map_err(|e| e.message)?;
    }
    let mut problems = Vec::new();
    for ((subject, predicate), answers) in by_pair {
        let owning: Vec<&str> = owners(&subject, members, FACTOR);
        let on_owners: Vec<_> = owning.iter().map(|o| answers.get(*o)).collect();
        if on_owners.windows(2).any(|w| w[0] != w[1]) {
            problems.push(format!(
                "the owners of ({subject}, {predicate}) answer differently: {answers:?}"
            ));
        }
    }
    Ok(problems)
}

/// Whether every member's last comparison found its peers in sync.
pub fn members_in_sync(world: &World) -> bool {
    let Ok(members) = agreed_members(world) else {
        return false;
    };
    world
        .names
        .iter()
        .enumerate()
        .filter(|(_, name)| members.contains(name))
        .all(|(i, _)| world.slots.borrow()[i].in_sync)
}

/// The members every live node places subjects with; an error if they
/// differ.
fn agreed_members(world: &World) -> Result<Vec<String>, String> {
    let mut seen: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (i, name) in world.names.iter().enumerate() {
        if let Some(m) = world.membership(i) {
            seen.entry(m.placement_ids())
                .or_default()
                .push(name.clone());
        }
    }
    match seen.len() {
        1 => Ok(seen.into_keys().next().unwrap_or_default()),
        0 => Err("no node is running".into()),
        _ => Err(format!("the nodes place subjects differently: {seen:?}")),
    }
}
