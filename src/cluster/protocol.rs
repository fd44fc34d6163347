//! The version of the node-to-node protocol, carried by every RPC (the
//! `x-stemedb-protocol` header) and every gossip packet (its first four
//! bytes, inside the seal), so a rolling upgrade is safe by rule rather
//! than by luck: a node accepts peers one version older or newer than its
//! own and refuses others, logging why (once per peer every ten seconds).
//! Upgrading one version at a time, one node at a time, always keeps every
//! pair of members within the window; skipping a version is refused.
//!
//! Bump [`PROTOCOL`] when a message changes meaning; a field added in a
//! way old nodes ignore (protobuf's rules) needs no bump. The test switch
//! `STEMEDB_TEST_PROTOCOL` makes this build speak another version, which
//! is how `tests/it/pilot/upgrade.rs` upgrades a running cluster.
//!
//! An RPC's error carries the statement's SQLSTATE (`x-stemedb-sqlstate`,
//! [`status_of`]) so a client whose scan failed on an owner — a bad
//! argument, a memory limit — sees that error, not an internal one.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// The protocol this build speaks.
pub const PROTOCOL: u32 = 1;

/// How many versions apart a peer may be.
const WINDOW: u32 = 1;

/// The RPC metadata header carrying the caller's version.
pub const HEADER: &str = "x-stemedb-protocol";

/// The environment variable that makes this build speak another version
/// (tests only).
pub const TEST_SWITCH: &str = "STEMEDB_TEST_PROTOCOL";

static SPOKEN: LazyLock<u32> = LazyLock::new(|| {
    std::env::var(TEST_SWITCH)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PROTOCOL)
});

/// The version this node speaks.
pub fn spoken() -> u32 {
    *SPOKEN
}

/// Whether a peer speaking `version` is accepted.
pub fn accepts(version: u32) -> bool {
    version.abs_diff(spoken()) <= WINDOW
}

/// Why a peer speaking `version` is refused, for its log line and its
/// caller's error.
pub fn refusal(version: u32) -> String {
    let me = spoken();
    format!(
        "speaks node-to-node protocol {version}; this node speaks {me} and accepts {}–{}: \
         upgrade one version at a time, one node at a time",
        me.saturating_sub(WINDOW),
        me + WINDOW
    )
}

/// A gossip payload with this node's version in front.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(4 + payload.len());
    framed.extend_from_slice(&spoken().to_le_bytes());
    framed.extend_from_slice(payload);
    framed
}

/// The payload of a framed gossip packet, or the version that is refused.
pub fn unframe(packet: &[u8]) -> Result<&[u8], u32> {
    let Some((version, payload)) = packet.split_first_chunk::<4>() else {
        return Err(0);
    };
    let version = u32::from_le_bytes(*version);
    if accepts(version) {
        Ok(payload)
    } else {
        Err(version)
    }
}

/// Logs a refused peer at most once per `who` every ten seconds.
pub fn log_refused(who: &str, version: u32) {
    static LAST: LazyLock<Mutex<HashMap<String, Instant>>> = LazyLock::new(Default::default);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if last
        .get(who)
        .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(10))
    {
        return;
    }
    last.insert(who.to_string(), now);
    tracing::warn!(
        peer = who,
        "cluster: refused a peer that {}",
        refusal(version)
    );
}

/// The metadata key a statement's SQLSTATE travels in, on an RPC's error.
const SQLSTATE: &str = "x-stemedb-sqlstate";

/// `e` as an RPC's error, carrying its SQLSTATE unless it is internal.
pub fn status_of(e: crate::error::Error) -> tonic::Status {
    let mut status = tonic::Status::internal(e.message);
    if e.code != crate::error::sqlstate::INTERNAL
        && let Ok(code) = e.code.parse()
    {
        status.metadata_mut().insert(SQLSTATE, code);
    }
    status
}

/// The SQLSTATE a peer's error carries (one of the codes this build
/// knows: anything else stays an internal error).
pub fn sqlstate_of(status: &tonic::Status) -> Option<&'static str> {
    let code = status.metadata().get(SQLSTATE)?.to_str().ok()?;
    crate::error::sqlstate::known(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_one_version_apart_are_accepted_and_others_refused() {
        assert!(accepts(PROTOCOL) && accepts(PROTOCOL + 1) && accepts(PROTOCOL - 1));
        assert!(!accepts(PROTOCOL + 2));
        let framed = frame(b"gossip");
        assert_eq!(unframe(&framed), Ok(&b"gossip"[..]));
        let mut far = framed.clone();
        far[..4].copy_from_slice(&(PROTOCOL + 2).to_le_bytes());
        assert_eq!(unframe(&far), Err(PROTOCOL + 2));
        assert!(refusal(PROTOCOL + 2).contains("one version at a time"));
    }

    #[test]
    fn a_statement_error_keeps_its_sqlstate_across_a_call() {
        use crate::error::{Error, sqlstate};
        let status = status_of(Error::new(sqlstate::INVALID_PARAMETER_VALUE, "bad lens"));
        assert_eq!(sqlstate_of(&status), Some("22023"));
        assert_eq!(status.message(), "bad lens");
        // An internal error, or a code this build does not know, stays
        // internal.
        assert_eq!(
            sqlstate_of(&status_of(Error::internal("disk on fire"))),
            None
        );
        let mut odd = tonic::Status::internal("?");
        odd.metadata_mut()
            .insert(SQLSTATE, "ZZ999".parse().unwrap());
        assert_eq!(sqlstate_of(&odd), None);
    }
}
