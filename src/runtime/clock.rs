//! The wall clock every timestamp starts from. In the simulation build it
//! is the simulation's clock (turmoil's time since its epoch), so a seed
//! replays the same timestamps; outside a simulation it is the system's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch, now.
pub fn since_epoch() -> Duration {
    #[cfg(feature = "sim")]
    if let Some(simulated) = turmoil::since_epoch() {
        return simulated;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
