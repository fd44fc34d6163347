//! The shared vocabulary of StemeDB: assertions, retractions, typed object
//! values, the hybrid logical clock, content ids and timestamps as
//! PostgreSQL spells them. Nothing here does I/O;
//! storage, lenses and the planner all speak these types.
//!
//! A client's INSERT becomes a [`NewAssertion`] (what the client may choose),
//! which [`NewAssertion::into_claim`] checks and canonicalises into a
//! [`Claim`]; the group-commit writer then stamps it with an [`Hlc`]
//! timestamp and its node id, producing an [`Assertion`] whose [`Id`] is the
//! BLAKE3 hash of its canonical encoding.

mod assertion;
mod codec;
mod hlc;
mod object;
mod retraction;
mod timestamp;

pub use assertion::{
    Assertion, Claim, MAX_OBJECT_BYTES, MAX_TEXT_BYTES, NewAssertion, Strings, Tier,
};
pub use codec::{ENCODING_VERSION, Id, Reader, Writer};
pub use hlc::{Clock, Hlc, wall_clock_micros};
pub use object::ObjectType;
pub use retraction::Retraction;
pub use timestamp::{format_timestamptz, parse_timestamptz};

/// Microseconds since the Unix epoch, the unit of every stored timestamp.
pub type Micros = i64;
