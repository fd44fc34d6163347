//! The faults of one run, chosen by its seed: partitions and their
//! repair, crashes and restarts (keeping the disk, or once wiping it), a
//! frozen node (every message to and from it held, then released at
//! once), slow and lossy links, skewed clocks — and, in about half the
//! runs, an operator adding the fourth node and later removing one of the
//! others while clients write. Each fault ends before the schedule does;
//! at its end everything is healed.

use std::time::Duration;

use turmoil::Sim;

use crate::world::{Change, Rng, World};

/// How long clients write while faults happen.
pub const FAULTS_FOR: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub enum Fault {
    Partition(usize, usize),
    Repair(usize, usize),
    Crash(usize),
    /// Restart a crashed node, wiping its disk first or not.
    Restart {
        node: usize,
        wipe: bool,
    },
    Freeze(usize),
    Thaw(usize),
    /// Messages between the two take up to this long.
    Slow(usize, usize, Duration),
    /// This share of messages between the two is lost.
    Lossy(usize, usize, f64),
    /// The link is back to normal.
    Mend(usize, usize),
    /// The node's wall clock runs this many microseconds off.
    Skew(usize, i64),
    /// An operator changes the members.
    Members(Change),
}

/// Faults in the order they fire, each at a simulated time.
pub struct Schedule {
    events: Vec<(Duration, Fault)>,
    next: usize,
}

impl Schedule {
    /// The faults for `seed`: `initial` nodes form the cluster, the next
    /// one (of `nodes`) may join.
    pub fn new(seed: u64, nodes: usize, initial: usize) -> Schedule {
        let mut rng = Rng::new(seed.rotate_left(17) ^ 0xFA17);
        let mut events = Vec::new();
        let mut wiped = false;
        let mut members: Vec<usize> = (0..initial).collect();
        let (mut add_at, mut remove_at) = (None, None);
        if nodes > initial && rng.chance(0.5) {
            add_at = Some(Duration::from_millis(6_000 + rng.below(6_000)));
            remove_at = Some(Duration::from_millis(15_000 + rng.below(8_000)));
        }
        // Faults start once the cluster has formed, and each one lasts
        // until before the next begins, so at most one is active at once
        // (two nodes down would leave some subjects with no owner).
        let mut at = Duration::from_secs(4);
        let end = FAULTS_FOR - Duration::from_secs(2);
        while at < end {
            if add_at.is_some_and(|t| t <= at) {
                add_at = None;
                let change = Change {
                    by: members[0],
                    add: Some(format!("node{}", initial + 1)),
                    remove: None,
                };
                events.push((at, Fault::Members(change)));
                members.push(initial);
            }
            if remove_at.is_some_and(|t| t <= at) {
                remove_at = None;
                let gone = members.remove(rng.below(members.len() as u64) as usize);
                let change = Change {
                    by: members[0],
                    add: None,
                    remove: Some(format!("node{}", gone + 1)),
                };
                events.push((at, Fault::Members(change)));
            }
            let lasts = Duration::from_millis(500 + rng.below(4_000));
            let until = (at + lasts).min(end);
            let n = members.len();
            let a_at = rng.below(n as u64) as usize;
            let (a, b) = (
                members[a_at],
                members[(a_at + 1 + rng.below(n as u64 - 1) as usize) % n],
            );
            match rng.below(7) {
                0 => {
                    events.push((at, Fault::Partition(a, b)));
                    events.push((until, Fault::Repair(a, b)));
                }
                1 | 2 => {
                    let wipe = !wiped && rng.chance(0.3);
                    wiped |= wipe;
                    events.push((at, Fault::Crash(a)));
                    events.push((until, Fault::Restart { node: a, wipe }));
                    // Sometimes another node restarts while this one is
                    // down: what it holds for the first must survive.
                    if rng.chance(0.4) {
                        let from = at + (until - at) / 3;
                        let back = from + (until - from) / 2;
                        events.push((from, Fault::Crash(b)));
                        events.push((
                            back,
                            Fault::Restart {
                                node: b,
                                wipe: false,
                            },
                        ));
                    }
                }
                3 => {
                    events.push((at, Fault::Freeze(a)));
                    events.push((until, Fault::Thaw(a)));
                }
                4 => {
                    let slow = Duration::from_millis(50 + rng.below(1_500));
                    events.push((at, Fault::Slow(a, b, slow)));
                    events.push((until, Fault::Mend(a, b)));
                }
                5 => {
                    let share = 0.1 + rng.below(60) as f64 / 100.0;
                    events.push((at, Fault::Lossy(a, b, share)));
                    events.push((until, Fault::Mend(a, b)));
                }
                _ => {
                    let off = rng.below(4_000_000) as i64 - 2_000_000;
                    events.push((at, Fault::Skew(a, off)));
                }
            }
            at = until + Duration::from_millis(rng.below(1_500));
        }
        events.sort_by_key(|(at, _)| *at);
        Schedule { events, next: 0 }
    }

    /// Fires every fault due at `now`; fails on a wrong read, and before
    /// each fault checks that every acknowledged write is still held by
    /// two nodes.
    pub fn fire(&mut self, sim: &mut Sim<'_>, world: &World, now: Duration) -> Result<(), String> {
        if let Some(problem) = world.read_problems.borrow().first() {
            return Err(format!("at {now:?}: {problem}"));
        }
        while let Some((at, fault)) = self.events.get(self.next) {
            if *at > now {
                return Ok(());
            }
            if !world.wiped.get() {
                crate::oracle::durable(world).map_err(|e| format!("at {now:?}: {e}"))?;
            }
            tracing::info!(at = ?now, ?fault, "fault");
            apply(sim, world, fault);
            self.next += 1;
        }
        Ok(())
    }
}

fn apply(sim: &mut Sim<'_>, world: &World, fault: &Fault) {
    let name = |i: usize| world.names[i].as_str();
    let others = |i: usize| {
        world
            .names
            .iter()
            .filter(|n| n.as_str() != name(i))
            .map(String::as_str)
            .collect::<Vec<_>>()
    };
    match *fault {
        Fault::Partition(a, b) => sim.partition(name(a), name(b)),
        Fault::Repair(a, b) => sim.repair(name(a), name(b)),
        Fault::Crash(a) => sim.crash(name(a)),
        Fault::Restart { node, wipe } => {
            world.wipe.borrow_mut()[node] = wipe;
            sim.bounce(name(node));
        }
        Fault::Freeze(a) => {
            for other in others(a) {
                sim.hold(name(a), other);
            }
        }
        Fault::Thaw(a) => {
            for other in others(a) {
                sim.release(name(a), other);
            }
        }
        Fault::Slow(a, b, slow) => sim.set_link_max_message_latency(name(a), name(b), slow),
        Fault::Lossy(a, b, share) => sim.set_link_fail_rate(name(a), name(b), share),
        Fault::Mend(a, b) => {
            // A lossy link may have broken off entirely (turmoil partitions
            // it at the first lost message): mending repairs it too.
            sim.repair(name(a), name(b));
            sim.set_link_max_message_latency(name(a), name(b), MAX_LATENCY);
            sim.set_link_fail_rate(name(a), name(b), 0.0);
        }
        Fault::Members(ref change) => {
            // A node to add is started first; the operator's command is
            // retried until it is up.
            if let Some(added) = &change.add
                && let Some(i) = world.names.iter().position(|n| n == added)
            {
                world.powered.borrow_mut()[i] = true;
            }
            world.changes.borrow_mut().push(change.clone());
        }
        Fault::Skew(a, off) => {
            world.skew.borrow_mut()[a] = off;
            if let Some(store) = world.store(a) {
                store.clock().skew(off);
            }
        }
    }
}

/// Messages take up to this long on a healthy link.
pub const MAX_LATENCY: Duration = Duration::from_millis(10);
