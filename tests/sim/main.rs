//! Deterministic simulation of the cluster (docs/cluster.md, "How the
//! cluster is tested"). Each seed runs three real nodes' cluster layers —
//! RocksDB stores, SWIM on simulated UDP, replication, hints and Merkle
//! anti-entropy over tonic on simulated TCP — inside `turmoil`, on one
//! thread, with simulated time: clients write through random nodes while
//! the seed's faults fire ([`schedule`]), then everything heals, the nodes
//! compare, and [`oracle`] checks what was acknowledged against what is
//! stored. Built only with `--features sim` (the seam in src/runtime/).
//!
//! - `STEMEDB_SIM_SEEDS=N` runs N seeds (default 200) from
//!   `STEMEDB_SIM_FIRST` (default 1), printing progress;
//! - `STEMEDB_SIM_SEED=S` replays seed S and prints its event log;
//! - `planted_bugs_are_caught` plants each deliberate bug of
//!   `stemedb::runtime::planted` and runs seeds until the checks fail.

mod isolated;
mod node;
mod oracle;
mod reads;
mod schedule;
mod trace;
mod world;

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use tracing_subscriber::layer::SubscriberExt;

use stemedb::runtime::planted::Bug;

use crate::schedule::{FAULTS_FOR, MAX_LATENCY, Schedule};
use crate::trace::Trace;
use crate::world::{Phase, World};

/// Nodes per run: three form the cluster, the fourth may join.
const NODES: usize = 4;
const INITIAL: usize = 3;
/// How long the healed cluster may take to agree before the run fails.
const SETTLE_WITHIN: Duration = Duration::from_secs(60);

/// What a passing run leaves: its fingerprint and its summary.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Run {
    fingerprint: String,
    summary: String,
}

/// Runs `seed` once, here (a test runs each seed in a process of its own,
/// [`isolated`]).
fn run(seed: u64, trace: &Trace) -> Result<Run, String> {
    let subscriber = tracing_subscriber::registry().with(trace.clone());
    tracing::subscriber::with_default(subscriber, || simulate(seed, trace))
}

fn simulate(seed: u64, trace: &Trace) -> Result<Run, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let world = World::new(seed, dir.path().to_path_buf(), NODES, INITIAL);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .simulation_duration(FAULTS_FOR + SETTLE_WITHIN + Duration::from_secs(60))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(MAX_LATENCY)
        .build();
    for i in 0..NODES {
        let host = world.clone();
        sim.host(world.names[i].as_str(), move || node::run(host.clone(), i));
    }
    let mut schedule = Schedule::new(seed, NODES, INITIAL);
    let fail = |e: Box<dyn std::error::Error>| format!("a node failed: {e}");
    while sim.elapsed() < FAULTS_FOR {
        sim.step().map_err(fail)?;
        let now = sim.elapsed();
        schedule.fire(&mut sim, &world, now)?;
    }
    if !world.wiped.get() {
        oracle::durable(&world).map_err(|e| format!("at the end of the faults: {e}"))?;
    }
    heal(&mut sim, &world);
    let settle_until = sim.elapsed() + SETTLE_WITHIN;
    let mut agreed_since = None;
    loop {
        sim.step().map_err(fail)?;
        let all = world.changes.borrow().is_empty() && oracle::members_in_sync(&world);
        match (all, agreed_since) {
            (true, None) => agreed_since = Some(sim.elapsed()),
            (false, _) => agreed_since = None,
            // Agreed for two seconds: at least two rounds each.
            (true, Some(t)) if sim.elapsed() > t + Duration::from_secs(2) => break,
            _ => {}
        }
        if sim.elapsed() > settle_until {
            return Err(format!(
                "the healed cluster did not agree within {SETTLE_WITHIN:?}: {}",
                oracle::check(&world).err().unwrap_or_default()
            ));
        }
    }
    let summary = oracle::check(&world)?;
    trace.add(&summary);
    let (fingerprint, _) = trace.fingerprint();
    drop(sim);
    Ok(Run {
        fingerprint,
        summary,
    })
}

/// Repairs every link, releases held messages, restarts crashed nodes and
/// stops new writes.
fn heal(sim: &mut turmoil::Sim<'_>, world: &Rc<World>) {
    tracing::info!(at = ?sim.elapsed(), "heal");
    for a in &world.names {
        for b in &world.names {
            if a < b {
                sim.repair(a.as_str(), b.as_str());
                sim.release(a.as_str(), b.as_str());
                sim.set_link_max_message_latency(a.as_str(), b.as_str(), MAX_LATENCY);
                sim.set_link_fail_rate(a.as_str(), b.as_str(), 0.0);
            }
        }
    }
    for (i, name) in world.names.iter().enumerate() {
        if !sim.is_host_running(name.as_str()) {
            world.wipe.borrow_mut()[i] = false;
            sim.bounce(name.as_str());
        }
    }
    world.phase.set(Phase::Settle);
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The seeds to run: `STEMEDB_SIM_SEEDS` from `STEMEDB_SIM_FIRST`.
/// The seeds of this run: a range, plus every regression seed.
fn seeds() -> Vec<u64> {
    let first = env("STEMEDB_SIM_FIRST").unwrap_or(1);
    let mut seeds: Vec<u64> = (first..first + env("STEMEDB_SIM_SEEDS").unwrap_or(200)).collect();
    let extra = REGRESSIONS.iter().map(|(seed, _)| *seed);
    seeds.extend(extra.filter(|s| !seeds.contains(s)).collect::<Vec<_>>());
    seeds
}

#[test]
fn every_seed_keeps_every_acknowledged_write() {
    if isolated::child() {
        return;
    }
    if let Some(seed) = env("STEMEDB_SIM_SEED") {
        let trace = Trace::keeping_lines();
        let result = run(seed, &trace);
        for line in trace.lines() {
            eprintln!("{line}");
        }
        match result {
            Ok(run) => eprintln!("seed {seed}: {} ({})", run.summary, run.fingerprint),
            Err(e) => panic!("seed {seed} failed:\n{e}"),
        }
        return;
    }
    let seeds = seeds();
    let started = Instant::now();
    let done = AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for w in 0..workers {
            let (seeds, done, failures) = (&seeds, &done, &failures);
            scope.spawn(move || {
                for &seed in seeds.iter().skip(w).step_by(workers) {
                    if let Err(e) = isolated::run(seed, None) {
                        failures.lock().unwrap().push((seed, e));
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n % 20 == 0 || n == seeds.len() {
                        eprintln!(
                            "simulation: {n}/{} seeds in {:.0?}, {} failed",
                            seeds.len(),
                            started.elapsed(),
                            failures.lock().unwrap().len()
                        );
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|(seed, _)| *seed);
    for (seed, e) in &failures {
        eprintln!(
            "seed {seed} failed: {}",
            e.lines().next().unwrap_or_default()
        );
    }
    if let Some((seed, e)) = failures.first() {
        let regression = REGRESSIONS.iter().find(|(k, _)| k == seed);
        let was = regression.map_or(String::new(), |(_, bug)| format!(" (a regression: {bug})"));
        panic!(
            "{} of {} seeds failed; the first, seed {seed}{was} (replay: \
             STEMEDB_SIM_SEED={seed} cargo test --features sim --test sim every_seed -- \
             --nocapture):\n{e}",
            failures.len(),
            seeds.len(),
        );
    }
}

/// Seeds that found a bug, with the bug (fixed; docs/cluster.md, "How the
/// cluster is tested"): every run includes them.
const REGRESSIONS: &[(u64, &str)] = &[
    (1, "two nodes retracting one claim at once never converged"),
    (
        2,
        "a node that reached neither owner held both hints and acknowledged",
    ),
    (
        3,
        "a gRPC channel whose packets stopped failed every later call",
    ),
    (
        11,
        "a retraction before its claim in one batch missed the Merkle tree",
    ),
    (
        102,
        "every node declared down at once rejoined and no node spoke first again, so an added \
         node was never seen alive",
    ),
    (
        122,
        "a removal that reached 'stable' before stopping was refused as 'not a member' when run \
         again",
    ),
    (
        179,
        "a coordinator restarted on 'copying' while a member held 'switched' retried the copy \
         forever",
    ),
    (
        191,
        "a member that missed the last phase of a removal refused the move that finishes it",
    ),
];

#[test]
fn a_seed_replays_exactly() {
    if isolated::child() || env("STEMEDB_SIM_SEED").is_some() {
        return;
    }
    for seed in [3, 11, 42] {
        let once = isolated::run(seed, None).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let again = isolated::run(seed, None).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(
            once.fingerprint, again.fingerprint,
            "seed {seed} ran differently twice: the simulation is not deterministic"
        );
    }
}

/// Seeds a planted bug may take to be caught before the test fails (the
/// default seed count).
const CATCH_WITHIN: u64 = 200;

#[test]
fn planted_bugs_are_caught() {
    if isolated::child() || env("STEMEDB_SIM_SEED").is_some() {
        return;
    }
    for bug in [
        Bug::AckAfterOneCopy,
        Bug::LoseHintsAtRestart,
        Bug::ReadsSwitchEarly,
    ] {
        let caught = (1..=CATCH_WITHIN).find_map(|seed| {
            isolated::run(seed, Some(bug))
                .err()
                .map(|e| (seed, e.lines().next().unwrap_or_default().to_string()))
        });
        match caught {
            Some((seed, how)) => eprintln!("planted {bug:?}: caught by seed {seed}: {how}"),
            None => panic!("planted {bug:?} went unnoticed in {CATCH_WITHIN} seeds"),
        }
    }
}
