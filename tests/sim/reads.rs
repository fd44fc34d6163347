//! A client's read while the schedule runs: the node it is on decides, as
//! a SQL statement's scan or point lookup would ([`Replicas::readers`]),
//! which node reads a subject, and that node's store is read. Every claim
//! of the subject acknowledged before the read must be there — or be held
//! somewhere as a hint for that node, the one gap docs/cluster.md admits
//! (a write acknowledged while an owner was down reaches it by hand-off).
//! This is what catches reads placed over new owners before their copies
//! arrive.

use std::collections::BTreeSet;

use stemedb::cluster::Replicas;
use stemedb::model::Id;
use stemedb::storage::ScanRange;

use crate::world::{Op, Outcome, World};

/// Reads `subject` through `replicas` (node `node`'s), checking it.
pub fn read_one(world: &World, replicas: &dyn Replicas, node: &str, subject: &str) {
    // Once a disk was wiped, an owner may lack claims until anti-entropy
    // brings them back: reads are not checked from then on.
    if world.wiped.get() {
        return;
    }
    let readers = replicas.readers();
    let Some(reader) = readers.reader_of(subject) else {
        return;
    };
    let Some(store) = world
        .names
        .iter()
        .position(|n| n == reader)
        .and_then(|i| world.store(i))
    else {
        // Crashed, and not yet known to be: a real read would fail over.
        return;
    };
    let mut held = BTreeSet::new();
    let range = ScanRange::Subject(subject.to_string());
    let read = store.read_point().for_each_assertion(&range, |a| {
        held.insert(a.id);
        Ok(true)
    });
    if let Err(e) = read {
        tracing::info!(node, reader, error = %e.message, "read failed");
        return;
    }
    let missing: Vec<(u64, Id)> = world
        .history
        .borrow()
        .iter()
        .filter_map(|(number, (op, outcome))| match (op, outcome) {
            (Op::Claim { subject: s, .. }, Outcome::Acked(Some(id)))
                if s == subject && !held.contains(id) =>
            {
                Some((*number, *id))
            }
            _ => None,
        })
        .collect();
    let missing: Vec<(u64, Id)> = match missing.is_empty() {
        true => missing,
        false => {
            let hinted = crate::oracle::hints_for(world, reader);
            missing
                .into_iter()
                .filter(|(_, id)| !hinted.contains(id))
                .collect()
        }
    };
    tracing::info!(
        node,
        subject,
        reader,
        claims = held.len(),
        missing = missing.len(),
        "read"
    );
    if let Some((number, id)) = missing.first() {
        world.read_problems.borrow_mut().push(format!(
            "a read of {subject} through {node} was placed on {reader} (members {:?}), which \
             lacks acknowledged claim #{number} {id:?} ({} missing in all) and no hint for it \
             is held",
            readers.members,
            missing.len()
        ));
    }
}
