//! Retractions withdraw an assertion from every lens without deleting it.

use super::Micros;
use super::codec::{Id, Reader, Writer};
use super::hlc::Hlc;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct Retraction {
    pub assertion_id: Id,
    pub reason: Option<String>,
    pub agent: String,
    pub hlc: Hlc,
    pub node: String,
}

impl Retraction {
    /// A retraction of `assertion_id`, to be stamped by the writer.
    pub fn new(assertion_id: Id, reason: Option<String>, agent: String) -> Retraction {
        Retraction {
            assertion_id,
            reason,
            agent,
            hlc: Hlc::default(),
            node: String::new(),
        }
    }

    pub fn retracted_at(&self) -> Micros {
        self.hlc.physical
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_version();
        w.bytes(&self.assertion_id.0);
        w.opt_str(self.reason.as_deref());
        w.str(&self.agent);
        w.i64(self.hlc.physical);
        w.u32(self.hlc.logical);
        w.str(&self.node);
        w.buf
    }

    pub fn decode(bytes: &[u8]) -> Result<Retraction> {
        let mut r = Reader::versioned(bytes)?;
        let assertion_id = Id::from_slice(r.bytes(32)?).unwrap_or(Id([0; 32]));
        let reason = r.opt_str()?;
        let agent = r.str()?;
        let hlc = Hlc::new(r.i64()?, r.u32()?);
        let node = r.str()?;
        r.finish()?;
        Ok(Retraction {
            assertion_id,
            reason,
            agent,
            hlc,
            node,
        })
    }
}
