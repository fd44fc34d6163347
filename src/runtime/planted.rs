//! Bugs planted on purpose, to prove that the cluster's simulation catches
//! what it is meant to (tests/sim/, `planted_bugs_are_caught`). Only the
//! simulation build can plant one, and only on the thread that runs a
//! simulation; in every other build [`planted`] is `false` and compiles
//! away.

/// A deliberate bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// A write is acknowledged once one owner stores it; the other owner's
    /// copy is dropped, and no hint is held for it.
    AckAfterOneCopy = 1,
    /// A node forgets the hints it holds when it restarts.
    LoseHintsAtRestart = 2,
    /// Reads place subjects over the new members as soon as a change
    /// starts copying, before the new owners have their copies.
    ReadsSwitchEarly = 3,
}

#[cfg(feature = "sim")]
thread_local! {
    static PLANTED: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// Plants `bug` (or none) for the simulations this thread runs next.
#[cfg(feature = "sim")]
pub fn plant(bug: Option<Bug>) {
    PLANTED.with(|p| p.set(bug.map_or(0, |b| b as u8)));
}

/// Whether `bug` is planted here.
#[inline]
pub fn planted(bug: Bug) -> bool {
    #[cfg(feature = "sim")]
    return PLANTED.with(|p| p.get()) == bug as u8;
    #[cfg(not(feature = "sim"))]
    {
        let _ = bug;
        false
    }
}
