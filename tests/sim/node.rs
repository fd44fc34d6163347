//! One simulated host: a real node's cluster layer — its RocksDB store,
//! SWIM membership on simulated UDP, replication, hints, anti-entropy and
//! layout changes over tonic on simulated TCP — and a client on it that
//! writes claims and retractions through this node's write path, and reads
//! subjects through its read placement ([`crate::reads`]), while the
//! schedule runs. Restarted after a crash, the software opens the same
//! data directory again (or a wiped one).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use stemedb::cluster::{Cluster, ClusterConfig, Replicas, ReplicationConfig};
use stemedb::model::{NewAssertion, Retraction};
use stemedb::storage::{Durability, Store, Write};

use crate::world::{Op, Outcome, Phase, Rng, World};

/// Subjects the clients write about: few, so pairs collect conflicting
/// claims and every node owns some.
const SUBJECTS: u64 = 12;
pub const RPC_PORT: u16 = 7001;
pub const SWIM_PORT: u16 = 7002;
/// How often replicas compare Merkle roots in the simulation.
pub const SYNC_INTERVAL: &str = "2s";

/// The host software of node `i`.
pub async fn run(world: Rc<World>, i: usize) -> turmoil::Result {
    let name = world.names[i].clone();
    while !world.powered.borrow()[i] {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dir = world.dir.join(&name);
    let starts = {
        let mut slots = world.slots.borrow_mut();
        slots[i].starts += 1;
        slots[i].starts
    };
    if std::mem::take(&mut world.wipe.borrow_mut()[i]) {
        world.wiped.set(true);
        tracing::info!(node = %name, "wiped its data directory");
        let _ = std::fs::remove_dir_all(&dir);
    }
    let store = Store::open(&dir, Some(&name), Durability::Buffered)?;
    store.clock().skew(world.skew.borrow()[i]);
    let ip = turmoil::lookup(name.as_str());
    // A node that joins later knows the first ones; they learn of it by
    // gossip when it is added.
    let seeds = world.names[..world.initial]
        .iter()
        .filter(|n| **n != name)
        .map(|n| format!("{}:{SWIM_PORT}", turmoil::lookup(n.as_str())))
        .collect();
    let config = ClusterConfig {
        enabled: true,
        node_id: Some(name.clone()),
        rpc_addr: format!("{ip}:{RPC_PORT}"),
        swim_addr: format!("{ip}:{SWIM_PORT}"),
        seeds,
        secret: Some("simulated".into()),
        ..ClusterConfig::default()
    };
    let replication = ReplicationConfig {
        factor: 2,
        sync_interval: SYNC_INTERVAL.into(),
    };
    let cluster =
        Cluster::start(&config, &replication, store.clone(), format!("{ip}:5432")).await?;
    let replicator = cluster.replicator();
    {
        let mut slots = world.slots.borrow_mut();
        slots[i].store = Some(Arc::downgrade(&store));
        slots[i].membership = Some(Arc::downgrade(cluster.membership()));
        slots[i].in_sync = false;
    }
    tracing::info!(node = %name, start = starts, "started");
    let mut rng = Rng::new(world.seed ^ ((i as u64) << 32) ^ u64::from(starts));
    let mut written = 0u64;
    loop {
        tokio::time::sleep(Duration::from_millis(20 + rng.below(180))).await;
        if let Some(change) = world.change_for(i) {
            let result = replicator
                .change_members(change.add.clone(), change.remove.clone())
                .await;
            tracing::info!(node = %name, ?change, ?result, "change of members");
            match result {
                Ok(_) => {
                    world.changes.borrow_mut().remove(0);
                }
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
            continue;
        }
        match world.phase.get() {
            Phase::Faults => {
                if !cluster.membership().knows_all() {
                    continue;
                }
                written += 1;
                write_one(&world, &*replicator, &mut rng, &name, starts, written).await;
                if rng.chance(0.3) {
                    let subject = format!("s{}", rng.below(SUBJECTS));
                    crate::reads::read_one(&world, &*replicator, &name, &subject);
                }
            }
            Phase::Settle => {
                let report = replicator.sync().await;
                let in_sync = report
                    .as_ref()
                    .is_ok_and(|r| r.lines().all(|l| l.contains(": in sync")));
                tracing::debug!(node = %name, ?report, "compared with its peers");
                world.slots.borrow_mut()[i].in_sync = in_sync;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// A client's write through this node: mostly claims, sometimes the
/// retraction of a claim acknowledged earlier (anywhere).
async fn write_one(
    world: &World,
    replicas: &dyn Replicas,
    rng: &mut Rng,
    node: &str,
    start: u32,
    n: u64,
) {
    let op = match world.acked_claim(rng).filter(|_| rng.chance(0.15)) {
        Some(id) => Op::Retract { id },
        None => Op::Claim {
            subject: format!("s{}", rng.below(SUBJECTS)),
            object: format!("{node}.{start}.{n}"),
        },
    };
    let write = match &op {
        Op::Claim { subject, object } => {
            let claim = NewAssertion {
                subject: Some(subject.clone()),
                predicate: Some("p".into()),
                object: Some(object.clone()),
                source: Some(format!("src{}", rng.below(3))),
                tier: Some(rng.below(3) as i64 + 1),
                ..NewAssertion::default()
            }
            .into_claim("sim")
            .expect("a valid claim");
            Write::Claim(claim)
        }
        Op::Retract { id } => Write::Retract(Retraction::new(*id, None, "sim".into())),
    };
    let number = world.begin(op.clone());
    let outcome = match replicas.commit(vec![write]).await {
        Ok(stamped) => Outcome::Acked(stamped.iter().find_map(|w| match w {
            Write::Assertion(a) => Some(a.id),
            _ => None,
        })),
        Err(e) => {
            tracing::info!(node, op = ?op, error = %e.message, "refused");
            Outcome::Refused
        }
    };
    tracing::info!(node, op = ?op, outcome = ?outcome, "client");
    world.end(number, outcome);
}
