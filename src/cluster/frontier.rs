//! The change feed's resolved frontier (docs/changes.md): an HLC below
//! which no change can still arrive on any node, so a consumer that
//! resumes `stemedb.changes` from its last `change_id` never misses one.
//!
//! Each node closes timestamps on its own ([`Store::closed`]: its clock,
//! held back by its writes in flight and the hints it holds). A task on
//! every node asks all members — the layout's, alive or not — for theirs
//! in rounds, and the frontier is the smallest answer of two rounds in a
//! row. One round is not enough: a write's coordinator may close past it
//! as soon as a hint for its owner is held elsewhere, and the hint's
//! holder may have answered that round before the hint came. A member
//! closed past the write in round *r* had it settled before round *r*'s
//! answers were all in, so by round *r + 1* its hint is counted wherever it
//! is held. A round a member does not answer (down, partitioned) moves
//! nothing: the frontier waits for it, as it must — its writes may be the
//! ones still to come.
//!
//! The same rounds gather the newest change below the frontier from every
//! member, which is what `LISTEN stemedb_changes` is told. On a single
//! node the frontier is the store's own closed timestamp ([`alone`]).
//!
//! `STEMEDB_TEST_NO_FRONTIER=1` (tests only) shows every stored change at
//! once, which is how the consumer test proves it can fail.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::sync::watch;

use super::members::Membership;
use super::peers::Peers;
use crate::error::Result;
use crate::model::{Hlc, wall_clock_micros};
use crate::storage::Store;

/// How often the members are asked. The simulation asks once a second:
/// its runs are about what replication stores, and ten rounds a second
/// would be most of the messages it schedules.
#[cfg(not(feature = "sim"))]
const EVERY: Duration = Duration::from_millis(100);
#[cfg(feature = "sim")]
const EVERY: Duration = Duration::from_secs(1);

/// How long a member has to answer a round.
const ANSWER_WITHIN: Duration = Duration::from_millis(800);

/// The environment variable that turns the frontier off (tests only).
pub const TEST_SWITCH: &str = "STEMEDB_TEST_NO_FRONTIER";

static DISABLED: LazyLock<bool> =
    LazyLock::new(|| std::env::var(TEST_SWITCH).is_ok_and(|v| v == "1"));

/// Whether the test switch shows every stored change at once.
pub fn disabled() -> bool {
    *DISABLED
}

/// Past every stamp: the frontier with the switch on.
const EVERYTHING: Hlc = Hlc {
    physical: i64::MAX,
    logical: u32::MAX,
};

/// What consumers of the feed are told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Nothing stamped below it can still arrive anywhere; `None` until
    /// every member has answered two rounds.
    pub frontier: Option<Hlc>,
    /// The newest `change_id` known to be below the frontier.
    pub newest: Option<String>,
}

/// Follows the cluster's frontier, publishing it on `tx`.
pub async fn run(
    store: Arc<Store>,
    membership: Arc<Membership>,
    peers: Arc<Peers>,
    tx: watch::Sender<Resolved>,
    mut stop: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The smallest answer of the last round every member answered.
    let mut last_round: Option<Hlc> = None;
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            _ = every.tick() => {}
        }
        let published = tx.borrow().frontier;
        let Some((closed, newest)) = round(&store, &membership, &peers, published).await else {
            continue;
        };
        let mut next = tx.borrow().clone();
        if let Some(previous) = last_round {
            let frontier = previous.min(closed);
            if next.frontier.is_none_or(|f| f < frontier) {
                next.frontier = Some(frontier);
            }
        }
        if newest > next.newest {
            next.newest = newest;
        }
        last_round = Some(closed);
        publish(&tx, next);
    }
}

/// Publishes `next` (and the lag metric) if it moved.
fn publish(tx: &watch::Sender<Resolved>, next: Resolved) {
    if let Some(f) = next.frontier {
        let lag = (wall_clock_micros() - f.physical).max(0) as f64 / 1e6;
        crate::monitor::frontier_lag(lag);
    }
    tx.send_if_modified(|held| {
        let moved = *held != next;
        *held = next;
        moved
    });
}

/// One round: every member's closed timestamp (the smallest) and newest
/// change below `bound` (the largest); `None` if one did not answer.
async fn round(
    store: &Arc<Store>,
    membership: &Membership,
    peers: &Peers,
    bound: Option<Hlc>,
) -> Option<(Hlc, Option<String>)> {
    let mut ids = membership.placement_ids();
    ids.extend(membership.writer_ids().into_iter().flatten());
    ids.sort();
    ids.dedup();
    let me = membership.me().id.clone();
    let asks = ids.into_iter().map(|id| {
        let (store, me) = (store.clone(), me.clone());
        async move {
            if id == me {
                return own(store, bound).await;
            }
            let member = membership
                .find(&id)
                .filter(|m| m.status.is_alive())
                .ok_or_else(|| crate::error::Error::internal(format!("{id} is not alive")))?;
            peers
                .closed(&member.identity.rpc, bound, ANSWER_WITHIN)
                .await
        }
    });
    let mut closed: Option<Hlc> = None;
    let mut newest: Option<String> = None;
    for answer in futures::future::join_all(asks).await {
        let (c, n) = answer.ok()?;
        closed = Some(closed.map_or(c, |held| held.min(c)));
        newest = newest.max(n);
    }
    Some((closed?, newest))
}

/// This node's answer to a round.
async fn own(store: Arc<Store>, bound: Option<Hlc>) -> Result<(Hlc, Option<String>)> {
    crate::runtime::blocking::run(move || {
        let newest = match bound {
            Some(bound) => store.read_point().newest_change(bound)?,
            None => None,
        };
        Ok((store.closed(), newest))
    })
    .await
    .map_err(|e| crate::error::Error::internal(format!("closing timestamps: {e}")))?
}

/// The frontier of a node that is the whole database: its own closed
/// timestamp, now.
pub fn alone(store: &Store) -> Hlc {
    if disabled() {
        return EVERYTHING;
    }
    store.closed()
}

/// The frontier a reader of this node uses now.
pub fn of(resolved: &watch::Receiver<Resolved>) -> Option<Hlc> {
    if disabled() {
        return Some(EVERYTHING);
    }
    resolved.borrow().frontier
}

/// Follows a single node's frontier for its listeners,
/// until nobody follows it any more.
pub async fn run_alone(store: Arc<Store>, tx: watch::Sender<Resolved>) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !tx.is_closed() {
        every.tick().await;
        let frontier = alone(&store);
        let Ok((_, newest)) = own(store.clone(), Some(frontier)).await else {
            continue;
        };
        let mut next = tx.borrow().clone();
        next.frontier = Some(frontier);
        if newest > next.newest {
            next.newest = newest;
        }
        publish(&tx, next);
    }
}
