//! The server's connections as a registry the other layers share: who is
//! connected and what each runs ([`registry`]: `pg_stat_activity`,
//! cancel and terminate, the concurrent-statement limit, draining on
//! shutdown) and counts of things in flight that can be waited on
//! ([`inflight`]). The wire layer registers each connection and its
//! statements; the planner reads the registry for the catalog views and
//! the functions that act on other connections; the admin HTTP endpoint
//! reads whether the server is draining; [`listening`] holds what a
//! connection `LISTEN`s to. Below all three, it imports only
//! the model, errors and metrics.

mod inflight;
mod listening;
mod registry;

pub use inflight::InFlight;
pub use listening::{CHANGES_CHANNEL, Listening};
pub use registry::{Accepted, Activity, Backend, Busy, Cancel, Login, Running};
