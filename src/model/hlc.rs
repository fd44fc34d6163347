//! Hybrid logical clock (docs/architecture.md, "Clock and identity"). Each node stamps every write with an
//! [`Hlc`]: the wall clock in microseconds plus a logical counter that breaks
//! ties when the wall clock stalls or runs backwards. Timestamps from one
//! node are strictly increasing, and `observe` folds in timestamps received
//! from peers (the `max` rule) so causality survives clock skew.
//!
//! The physical part is kept at microsecond precision because it is what
//! `asserted_at` shows, and `asserted_at` is a µs TIMESTAMPTZ.

use std::sync::Mutex;

use super::Micros;

/// One HLC timestamp. Ordered by physical time, then by the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hlc {
    pub physical: Micros,
    pub logical: u32,
}

impl Hlc {
    pub fn new(physical: Micros, logical: u32) -> Hlc {
        Hlc { physical, logical }
    }

    /// Big-endian bytes that sort like the timestamp (physical is never
    /// negative for a real clock, so the sign bit is flipped for safety).
    pub fn to_key(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&((self.physical as u64) ^ (1 << 63)).to_be_bytes());
        out[8..].copy_from_slice(&self.logical.to_be_bytes());
        out
    }

    pub fn from_key(bytes: &[u8]) -> Option<Hlc> {
        if bytes.len() < 12 {
            return None;
        }
        let physical = u64::from_be_bytes(bytes[..8].try_into().ok()?) ^ (1 << 63);
        let logical = u32::from_be_bytes(bytes[8..12].try_into().ok()?);
        Some(Hlc::new(physical as i64, logical))
    }
}

/// The node's clock: hands out strictly increasing [`Hlc`] timestamps.
#[derive(Debug, Default)]
pub struct Clock {
    last: Mutex<Hlc>,
    /// How far this node's wall clock is off (the simulation skews clocks).
    #[cfg(feature = "sim")]
    skew: std::sync::atomic::AtomicI64,
}

/// The wall clock in microseconds since the Unix epoch
/// ([`crate::runtime::clock`]: the simulation's, in a simulation).
pub fn wall_clock_micros() -> Micros {
    crate::runtime::clock::since_epoch().as_micros() as Micros
}

impl Clock {
    /// A clock that never goes below `high_water` (the last timestamp
    /// persisted before a restart).
    // The update fills the simulation's skew (a field only that build has).
    #[allow(clippy::needless_update)]
    pub fn starting_after(high_water: Hlc) -> Clock {
        Clock {
            last: Mutex::new(high_water),
            ..Clock::default()
        }
    }

    /// This node's wall clock.
    fn wall(&self) -> Micros {
        #[cfg(feature = "sim")]
        return wall_clock_micros() + self.skew.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(feature = "sim"))]
        wall_clock_micros()
    }

    /// Sets how far this node's wall clock is off (simulation only).
    #[cfg(feature = "sim")]
    pub fn skew(&self, micros: Micros) {
        self.skew
            .store(micros, std::sync::atomic::Ordering::Relaxed);
    }

    /// The next timestamp for a local write.
    pub fn now(&self) -> Hlc {
        self.tick(self.wall())
    }

    fn tick(&self, wall: Micros) -> Hlc {
        self.tick_n(wall, 1)
    }

    /// Reserves `n` consecutive timestamps (same physical time, counters
    /// `first.logical ..= first.logical + n - 1`) that no other write will
    /// get, and returns the first.
    pub fn reserve(&self, n: u32) -> Hlc {
        self.tick_n(self.wall(), n)
    }

    fn tick_n(&self, wall: Micros, n: u32) -> Hlc {
        let span = n.max(1) - 1;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let fits = |first: Hlc| first.logical.checked_add(span).is_some();
        let first = match last.logical.checked_add(1) {
            _ if wall > last.physical => Hlc::new(wall, 0),
            Some(l) if fits(Hlc::new(last.physical, l)) => Hlc::new(last.physical, l),
            // The counter would overflow: move on to the next microsecond.
            _ => Hlc::new(last.physical + 1, 0),
        };
        *last = Hlc::new(first.physical, first.logical + span);
        first
    }

    /// Folds in a timestamp received from a peer.
    pub fn observe(&self, remote: Hlc) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if remote > *last {
            *last = remote;
        }
    }

    pub fn last(&self) -> Hlc {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_even_when_wall_clock_stalls() {
        let c = Clock::default();
        let a = c.tick(100);
        let b = c.tick(100);
        let d = c.tick(50);
        assert!(a < b && b < d);
        assert_eq!(d, Hlc::new(100, 2));
        assert_eq!(c.tick(200), Hlc::new(200, 0));
    }

    #[test]
    fn reserved_ranges_are_never_handed_out_again() {
        let c = Clock::starting_after(Hlc::new(i64::MAX / 2, 0));
        let first = c.reserve(1000);
        assert_eq!(c.now(), Hlc::new(first.physical, first.logical + 1000));
        let big = c.reserve(u32::MAX);
        assert_eq!(big, Hlc::new(first.physical + 1, 0));
        assert_eq!(c.now(), Hlc::new(first.physical + 1, u32::MAX));
        assert_eq!(c.now(), Hlc::new(first.physical + 2, 0));
    }

    #[test]
    fn observe_takes_the_max() {
        let c = Clock::starting_after(Hlc::new(10, 0));
        c.observe(Hlc::new(500, 3));
        assert_eq!(c.tick(400), Hlc::new(500, 4));
    }

    #[test]
    fn keys_sort_like_timestamps() {
        let a = Hlc::new(5, 9).to_key();
        let b = Hlc::new(6, 0).to_key();
        assert!(a < b);
        assert_eq!(Hlc::from_key(&b), Some(Hlc::new(6, 0)));
    }
}
