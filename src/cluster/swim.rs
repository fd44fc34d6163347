//! Membership by SWIM (foca) over UDP. One task owns the `Foca` instance:
//! it feeds it packets and due timers — in due order, from one ordered
//! map — and after each call sends what foca queued, schedules its timers
//! and publishes the member list ([`Membership`]). Every packet is sealed
//! with the cluster's keyring ([`Keyring`]: encrypted, authenticated and
//! stamped); one no key opens, or stamped too far from this node's clock,
//! is dropped and logged, so a node with another secret never joins and a
//! recorded packet cannot be replayed.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use foca::{
    AccumulatingRuntime, Foca, Member as FocaMember, OwnedNotification, PostcardCodec, State, Timer,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::watch;
use tokio::time::Instant;

use super::keyring::{Keyring, Nonces, Refused};
use super::members::{Member, Membership, NodeIdentity, Status};
use crate::runtime::net::UdpSocket;

/// Largest packet foca builds (its default), plus the sealing.
const MAX_PACKET: usize = 1400;
const SEALING_BYTES: usize = 12 + 8 + 16;
/// How often a node that hears from no member announces itself again.
const CALL_AGAIN: Duration = Duration::from_secs(3);

fn foca_config(cluster_size: usize) -> foca::Config {
    let size = NonZeroU32::new(cluster_size.max(1) as u32).unwrap_or(NonZeroU32::MIN);
    let mut config = foca::Config::new_lan(size);
    // Never forget a member: DOWN stays listed, and placement counts it.
    config.remove_down_after = None;
    // A node that lost every peer keeps announcing itself to them, often
    // enough to find them again within seconds of their return.
    config.periodic_announce_to_down_members = Some(foca::PeriodicParams {
        frequency: Duration::from_secs(3),
        num_members: NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
    });
    config
}

type Swim = Foca<NodeIdentity, PostcardCodec, StdRng, foca::NoCustomBroadcast>;

/// The gossip task's state.
struct Gossip {
    foca: Swim,
    runtime: AccumulatingRuntime<NodeIdentity>,
    socket: Arc<UdpSocket>,
    keyring: Arc<Keyring>,
    nonces: Nonces,
    /// Due timers, in order (ties in the order foca asked).
    timers: BTreeMap<(Instant, u64), Timer<NodeIdentity>>,
    next_timer: u64,
    membership: Arc<Membership>,
    /// When a refused packet from an address was last logged.
    refused: HashMap<SocketAddr, Instant>,
    /// When to announce this node to every member it knows again: set
    /// while foca is not connected (at start, after a rejoin, when every
    /// peer went away). Foca itself goes quiet then — its timers belong to
    /// the identity it had — so when every node of a cluster was declared
    /// down at once (a frozen node's held messages released together) and
    /// each rejoined under a new generation, nobody would ever speak
    /// first again (simulation seed 102).
    call_again: Option<Instant>,
}

/// Runs membership on `socket` until `stop` turns true, then leaves the
/// cluster (telling the others, so they do not wait to suspect it).
pub async fn run(
    socket: UdpSocket,
    membership: Arc<Membership>,
    seeds: Vec<SocketAddr>,
    keyring: Arc<Keyring>,
    mut stop: watch::Receiver<bool>,
) {
    let me = membership.me().clone();
    let (me_id, me_generation) = (me.id.clone(), me.generation);
    // Seeded by who this node is and when it started: distinct per node
    // and per start, and the same in every replay of a simulation.
    let who = blake3::hash(me.id.as_bytes());
    let who = u64::from_le_bytes(who.as_bytes()[..8].try_into().unwrap_or_default());
    let rng = StdRng::seed_from_u64(me.generation ^ who);
    let foca = Foca::new(me, foca_config(seeds.len() + 1), rng, PostcardCodec);
    let mut gossip = Gossip {
        foca,
        runtime: AccumulatingRuntime::new(),
        socket: Arc::new(socket),
        keyring,
        nonces: Nonces::new(&me_id, me_generation),
        timers: BTreeMap::new(),
        next_timer: 0,
        membership,
        refused: HashMap::new(),
        call_again: None,
    };
    // The seeds, as members known to be down: foca announces itself to
    // them until they answer (and keeps doing so if they go away).
    let seeds = seeds
        .into_iter()
        .map(|s| FocaMember::down(NodeIdentity::seed(s)));
    if let Err(e) = gossip.foca.apply_many(seeds, false, &mut gossip.runtime) {
        tracing::warn!("cluster: cannot add the seeds: {e}");
    }
    gossip.call_everyone();
    gossip.flush().await;
    let mut buf = vec![0u8; MAX_PACKET + SEALING_BYTES + 64];
    loop {
        let due = gossip.timers.keys().next().map(|(at, _)| *at);
        // `biased`: polled in order — stop, then due timers, then packets
        // — not at random, so a seed of the simulation replays the same
        // choices (a timer due is never starved: it fires before the next
        // packet is read).
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            _ = sleep_until(due) => gossip.fire_due(),
            _ = sleep_until(gossip.call_again) => gossip.call_everyone(),
            received = gossip.socket.recv_from(&mut buf) => match received {
                Ok((n, from)) => gossip.receive(&buf[..n], from),
                Err(e) => tracing::debug!("cluster: gossip receive failed: {e}"),
            },
        }
        gossip.flush().await;
    }
    if let Err(e) = gossip.foca.leave_cluster(&mut gossip.runtime) {
        tracing::debug!("cluster: leaving: {e}");
    }
    gossip.flush().await;
    tracing::info!("cluster: left the cluster");
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Gossip {
    /// Announces this node to every member it knows of, up or down, and
    /// to the seeds not yet heard from — once per address — and plans to
    /// do it again unless a member answers first.
    fn call_everyone(&mut self) {
        let mut called = std::collections::HashSet::from([self.foca.identity().swim]);
        let known: Vec<NodeIdentity> = self
            .foca
            .iter_membership_state()
            .map(|m| m.id().clone())
            .collect();
        for id in known {
            if called.insert(id.swim) {
                let _ = self.foca.announce(id, &mut self.runtime);
            }
        }
        self.call_again = Some(Instant::now() + CALL_AGAIN);
    }

    fn receive(&mut self, packet: &[u8], from: SocketAddr) {
        let now = crate::runtime::clock::since_epoch().as_secs();
        let payload = match self.keyring.open(packet, now) {
            Ok(payload) => payload,
            Err(refused) => return self.refused(from, refused),
        };
        let payload = match super::protocol::unframe(&payload) {
            Ok(payload) => payload,
            Err(version) => return super::protocol::log_refused(&from.to_string(), version),
        };
        if let Err(e) = self.foca.handle_data(payload, &mut self.runtime) {
            tracing::debug!(%from, "cluster: gossip packet not understood: {e}");
        }
    }

    /// Logs a dropped packet (once per address every ten seconds).
    fn refused(&mut self, from: SocketAddr, why: Refused) {
        let now = Instant::now();
        let last = self.refused.get(&from).copied();
        if last.is_some_and(|t| now.duration_since(t) <= Duration::from_secs(10)) {
            return;
        }
        self.refused.insert(from, now);
        match why {
            Refused::Unsealed => tracing::warn!(
                %from,
                "cluster: refused a gossip packet that no secret of this node's keyring opens \
                 (a node configured with another [cluster] secret?)"
            ),
            Refused::Stale(apart) => tracing::warn!(
                %from,
                seconds_apart = apart,
                "cluster: dropped a gossip packet stamped too far from this node's clock (a \
                 replay, or clocks apart: keep every node's clock in sync)"
            ),
        }
    }

    /// Hands every due timer to foca, earliest first.
    fn fire_due(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            if let Err(e) = self.foca.handle_timer(timer, &mut self.runtime) {
                tracing::debug!("cluster: gossip timer: {e}");
            }
        }
    }

    /// Sends, schedules and publishes what the last foca call produced.
    async fn flush(&mut self) {
        while let Some((to, data)) = self.runtime.to_send() {
            let now = crate::runtime::clock::since_epoch().as_secs();
            let framed = super::protocol::frame(&data);
            let packet = self.keyring.seal(self.nonces.fresh(), now, &framed);
            if let Err(e) = self.socket.send_to(&packet, to.swim).await {
                tracing::debug!(to = %to.swim, "cluster: gossip send failed: {e}");
            }
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            self.timers
                .insert((Instant::now() + after, self.next_timer), timer);
            self.next_timer += 1;
        }
        while let Some(notification) = self.runtime.to_notify() {
            match notification {
                OwnedNotification::MemberUp(id) => {
                    tracing::info!(node = %id.id, addr = %id.swim, "cluster: member up")
                }
                OwnedNotification::Active => self.call_again = None,
                OwnedNotification::Defunct => {
                    self.call_again.get_or_insert(Instant::now() + CALL_AGAIN);
                }
                OwnedNotification::MemberDown(id) => {
                    tracing::warn!(node = %id.id, addr = %id.swim, "cluster: member down")
                }
                OwnedNotification::Rejoin(id) => {
                    tracing::warn!(
                        generation = id.generation,
                        "cluster: declared down; rejoined"
                    );
                    self.call_again.get_or_insert(Instant::now() + CALL_AGAIN);
                }
                OwnedNotification::Idle => {
                    tracing::warn!("cluster: no other member is reachable");
                    self.call_again.get_or_insert(Instant::now() + CALL_AGAIN);
                }
                _ => {}
            }
        }
        // Suspicion changes no notification: publish after every call.
        self.publish();
    }

    fn publish(&self) {
        let mut members: Vec<Member> = self
            .foca
            .iter_membership_state()
            .filter(|m| !m.id().is_seed_placeholder())
            .map(|m| Member {
                identity: m.id().clone(),
                status: match m.state() {
                    State::Alive => Status::Up,
                    State::Suspect => Status::Suspect,
                    State::Down => Status::Down,
                },
                is_self: false,
            })
            .collect();
        // An id seen under an older generation (a restart) is listed once.
        members.sort_by(|a, b| {
            (&a.identity.id, b.identity.generation).cmp(&(&b.identity.id, a.identity.generation))
        });
        members.dedup_by(|later, first| later.identity.id == first.identity.id);
        let me = &self.membership.me().id;
        members.retain(|m| &m.identity.id != me);
        self.membership.set_others(members);
    }
}
