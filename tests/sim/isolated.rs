//! Each seed runs in a process of its own — this test binary started
//! again for that one seed — so nothing a run leaves in the process
//! (tokio's and hyper's globals, RocksDB's shared threads) reaches the next,
//! and a seed that fails in a sweep fails the same way when replayed
//! alone. The child writes its result to a file the parent names.

use std::path::Path;
use std::process::Command;

use stemedb::runtime::planted::{Bug, plant};

use crate::trace::Trace;
use crate::{Run, env};

const OUT: &str = "STEMEDB_SIM_OUT";
const PLANT: &str = "STEMEDB_SIM_PLANT";

/// The result a child sends back.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sent {
    run: Option<Run>,
    error: Option<String>,
}

/// Runs `seed` (with `bug` planted) in a new process; its result.
pub fn run(seed: u64, bug: Option<Bug>) -> Result<Run, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = dir.path().join("result.json");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = Command::new(exe)
        .args([
            "--exact",
            "every_seed_keeps_every_acknowledged_write",
            "--test-threads=1",
            "--quiet",
        ])
        .env("STEMEDB_SIM_SEED", seed.to_string())
        .env(OUT, &out)
        .env(PLANT, bug.map_or(0, |b| b as u8).to_string())
        .output()
        .map_err(|e| format!("seed {seed}: cannot start its process: {e}"))?;
    let sent = std::fs::read(&out).map_err(|e| {
        format!(
            "seed {seed}: its process left no result ({e}); it said:\n{}",
            String::from_utf8_lossy(&status.stderr)
        )
    })?;
    let sent: Sent = serde_json::from_slice(&sent).map_err(|e| e.to_string())?;
    match (sent.run, sent.error) {
        (Some(run), _) => Ok(run),
        (None, error) => Err(error.unwrap_or_default()),
    }
}

/// In a child process: runs its seed, writes the result, and says so.
pub fn child() -> bool {
    let Some(out) = std::env::var_os(OUT) else {
        return false;
    };
    let seed = env("STEMEDB_SIM_SEED").unwrap_or(1);
    plant(match env(PLANT) {
        Some(1) => Some(Bug::AckAfterOneCopy),
        Some(2) => Some(Bug::LoseHintsAtRestart),
        Some(3) => Some(Bug::ReadsSwitchEarly),
        _ => None,
    });
    let result = crate::run(seed, &Trace::default());
    let sent = match result {
        Ok(run) => Sent {
            run: Some(run),
            error: None,
        },
        Err(e) => Sent {
            run: None,
            error: Some(e),
        },
    };
    let bytes = serde_json::to_vec(&sent).expect("a result serialises");
    std::fs::write(Path::new(&out), bytes).expect("the result file is writable");
    true
}
