//! Assertions: immutable claims (docs/sql.md).

use super::Micros;
use super::codec::{Id, Reader, Writer};
use super::hlc::Hlc;
use super::object::ObjectType;
use crate::error::{Error, Result, sqlstate};

pub const MAX_TEXT_BYTES: usize = 1024;
pub const MAX_OBJECT_BYTES: usize = 65536;

/// Authority tier: 0 regulatory … 5 anecdotal. Lower is more authoritative.
pub type Tier = u8;

/// Weight of each tier in the conflict score (docs/sql.md).
pub const TIER_WEIGHTS: [f64; 6] = [1.0, 0.8, 0.6, 0.4, 0.2, 0.1];

/// What a client supplies for one assertion, before validation. `None`
/// means the column was not given (or was NULL).
#[derive(Debug, Clone, Default)]
pub struct NewAssertion {
    pub subject: Option<String>,
    pub predicate: Option<String>,
    pub object: Option<String>,
    pub object_type: Option<String>,
    pub source: Option<String>,
    pub tier: Option<i64>,
    pub confidence: Option<f64>,
    pub agent: Option<String>,
    pub observed_at: Option<Micros>,
    pub supersedes: Option<String>,
}

/// A validated claim that has not been accepted yet: every field is
/// checked and canonical, but its HLC timestamp, node and id are given by
/// the group-commit writer, in commit order ([`Claim::stamp`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    assertion: Assertion,
    /// Whether the client gave `observed_at` (else it is the acceptance time).
    observed_at_given: bool,
}

impl Claim {
    /// The claim accepted at `hlc` on `node`, with its content id.
    pub fn stamp(self, hlc: Hlc, node: &str) -> Assertion {
        let mut a = self.assertion;
        if !self.observed_at_given {
            a.observed_at = hlc.physical;
        }
        a.hlc = hlc;
        a.node = node.to_string();
        Assertion::stamp(a)
    }

    /// The fields a client chose (server-generated ones are placeholders).
    pub fn fields(&self) -> &Assertion {
        &self.assertion
    }

    /// Bytes for a staging area: a flag byte, then the canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.observed_at_given as u8];
        out.extend(self.assertion.encode());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Claim> {
        let (flag, rest) = bytes
            .split_first()
            .ok_or_else(|| Error::corrupted("empty staged claim"))?;
        Ok(Claim {
            assertion: Assertion::decode_keyed(rest, Id([0; 32]))?,
            observed_at_given: *flag != 0,
        })
    }
}

/// Which of a claim's strings a decode fills
/// ([`Assertion::decode_keyed_into`]); the others are left empty, neither
/// checked as UTF-8 nor copied.
#[derive(Debug, Clone, Copy)]
pub struct Strings {
    pub subject: bool,
    pub predicate: bool,
    pub object: bool,
    pub source: bool,
    pub agent: bool,
    pub node: bool,
}

impl Strings {
    pub const ALL: Strings = Strings {
        subject: true,
        predicate: true,
        object: true,
        source: true,
        agent: true,
        node: true,
    };
}

/// One accepted claim. Immutable once stamped.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub id: Id,
    pub subject: String,
    pub predicate: String,
    pub object_type: ObjectType,
    pub object: String,
    pub source: String,
    pub tier: Tier,
    pub confidence: f64,
    pub agent: String,
    pub observed_at: Micros,
    pub hlc: Hlc,
    pub node: String,
    pub supersedes: Option<Id>,
}

fn required(value: Option<String>, column: &'static str) -> Result<String> {
    value.ok_or_else(|| {
        Error::new(
            sqlstate::NOT_NULL_VIOLATION,
            format!("null value in column \"{column}\" of relation \"assertions\" violates not-null constraint"),
        )
        .in_column(column)
    })
}

fn bounded(value: String, column: &'static str, max: usize, non_empty: bool) -> Result<String> {
    if non_empty && value.is_empty() {
        return Err(Error::new(
            sqlstate::CHECK_VIOLATION,
            format!("column \"{column}\" must not be empty"),
        )
        .in_column(column));
    }
    if value.len() > max {
        return Err(Error::new(
            sqlstate::CHECK_VIOLATION,
            format!(
                "column \"{column}\" is {} bytes; the limit is {max}",
                value.len()
            ),
        )
        .in_column(column));
    }
    Ok(value)
}

impl NewAssertion {
    /// Checks every rule of docs/sql.md ("Writing") and stamps the claim with the
    /// server-side fields. `agent` defaults to the session user and
    /// `observed_at` to the acceptance time.
    pub fn into_assertion(self, default_agent: &str, hlc: Hlc, node: &str) -> Result<Assertion> {
        Ok(self.into_claim(default_agent)?.stamp(hlc, node))
    }

    /// Checks every rule of docs/sql.md ("Writing"); the writer stamps the result.
    /// `agent` defaults to the session user.
    pub fn into_claim(self, default_agent: &str) -> Result<Claim> {
        let subject = bounded(
            required(self.subject, "subject")?,
            "subject",
            MAX_TEXT_BYTES,
            true,
        )?;
        let predicate = bounded(
            required(self.predicate, "predicate")?,
            "predicate",
            MAX_TEXT_BYTES,
            true,
        )?;
        let raw_object = required(self.object, "object")?;
        let source = bounded(
            required(self.source, "source")?,
            "source",
            MAX_TEXT_BYTES,
            true,
        )?;
        let object_type = match self.object_type.as_deref() {
            None => ObjectType::Text,
            Some(t) => ObjectType::parse(t).map_err(|e| e.in_column("object_type"))?,
        };
        let object = bounded(
            object_type
                .canonicalize(&raw_object)
                .map_err(|e| e.in_column("object"))?,
            "object",
            MAX_OBJECT_BYTES,
            false,
        )?;
        let tier = match self.tier {
            None => 5,
            Some(t @ 0..=5) => t as Tier,
            Some(t) => {
                return Err(Error::new(
                    sqlstate::CHECK_VIOLATION,
                    format!("tier {t} is out of range: tiers are 0 (regulatory) to 5 (anecdotal)"),
                )
                .in_column("tier"));
            }
        };
        let confidence = match self.confidence {
            None => 1.0,
            Some(c) if (0.0..=1.0).contains(&c) => c,
            Some(c) => {
                return Err(Error::new(
                    sqlstate::CHECK_VIOLATION,
                    format!("confidence {c} is out of range: confidence is between 0 and 1"),
                )
                .in_column("confidence"));
            }
        };
        let agent = bounded(
            self.agent.unwrap_or_else(|| default_agent.to_string()),
            "agent",
            MAX_TEXT_BYTES,
            false,
        )?;
        let supersedes = match self.supersedes {
            None => None,
            Some(s) => Some(Id::parse(&s).ok_or_else(|| {
                Error::new(
                    sqlstate::INVALID_TEXT_REPRESENTATION,
                    format!("supersedes \"{s}\" is not an assertion id (64 hex characters)"),
                )
                .in_column("supersedes")
            })?),
        };
        Ok(Claim {
            assertion: Assertion {
                id: Id([0; 32]),
                subject,
                predicate,
                object_type,
                object,
                source,
                tier,
                confidence,
                agent,
                observed_at: self.observed_at.unwrap_or_default(),
                hlc: Hlc::default(),
                node: String::new(),
                supersedes,
            },
            observed_at_given: self.observed_at.is_some(),
        })
    }
}

impl Assertion {
    /// When the database accepted the claim (the physical part of its HLC).
    pub fn asserted_at(&self) -> Micros {
        self.hlc.physical
    }

    /// Sets `id` from the canonical encoding of every other field.
    fn stamp(mut self) -> Assertion {
        self.id = Id::of(&self.encode());
        self
    }

    /// The canonical, versioned encoding: the bytes stored and hashed.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_version();
        w.str(&self.subject);
        w.str(&self.predicate);
        w.u8(self.object_type.tag());
        w.str(&self.object);
        w.str(&self.source);
        w.u8(self.tier);
        w.f64(self.confidence);
        w.str(&self.agent);
        w.i64(self.observed_at);
        w.i64(self.hlc.physical);
        w.u32(self.hlc.logical);
        w.str(&self.node);
        match self.supersedes {
            None => w.u8(0),
            Some(id) => {
                w.u8(1);
                w.bytes(&id.0);
            }
        }
        w.buf
    }

    /// Decodes stored bytes; the id is recomputed from them, so a record
    /// always carries the id of its own content.
    pub fn decode(bytes: &[u8]) -> Result<Assertion> {
        Assertion::decode_keyed(bytes, Id::of(bytes))
    }

    /// Decodes stored bytes whose id is already known — from the key they
    /// are stored under — without hashing them again (a tenth of a full
    /// scan's CPU). `stemedb verify` checks that keys and contents agree.
    pub fn decode_keyed(bytes: &[u8], id: Id) -> Result<Assertion> {
        let mut a = Assertion::blank();
        a.decode_keyed_into(bytes, id, Strings::ALL)?;
        Ok(a)
    }

    /// An all-empty claim, for [`Assertion::decode_keyed_into`] to fill.
    pub fn blank() -> Assertion {
        Assertion {
            id: Id([0; 32]),
            subject: String::new(),
            predicate: String::new(),
            object_type: ObjectType::Text,
            object: String::new(),
            source: String::new(),
            tier: 0,
            confidence: 0.0,
            agent: String::new(),
            observed_at: 0,
            hlc: Hlc::default(),
            node: String::new(),
            supersedes: None,
        }
    }

    /// Decodes the claim `id` into `self`, reusing its strings' buffers
    /// (a scan decodes many claims through one); of the strings a lens
    /// row seldom shows, only those in `strings` (the others are empty).
    pub fn decode_keyed_into(&mut self, bytes: &[u8], id: Id, strings: Strings) -> Result<()> {
        let mut r = Reader::versioned(bytes)?;
        self.id = id;
        r.str_if(strings.subject, &mut self.subject)?;
        r.str_if(strings.predicate, &mut self.predicate)?;
        let tag = r.u8()?;
        self.object_type = ObjectType::from_tag(tag)
            .ok_or_else(|| Error::corrupted(format!("unknown object type tag {tag}")))?;
        r.str_if(strings.object, &mut self.object)?;
        r.str_if(strings.source, &mut self.source)?;
        self.tier = r.u8()?;
        self.confidence = r.f64()?;
        r.str_if(strings.agent, &mut self.agent)?;
        self.observed_at = r.i64()?;
        self.hlc = Hlc::new(r.i64()?, r.u32()?);
        r.str_if(strings.node, &mut self.node)?;
        self.supersedes = match r.u8()? {
            0 => None,
            _ => Id::from_slice(r.bytes(32)?),
        };
        r.finish()
    }

    /// Weight of this claim in the conflict score: confidence × w[tier].
    pub fn weight(&self) -> f64 {
        self.confidence * TIER_WEIGHTS[self.tier.min(5) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> NewAssertion {
        NewAssertion {
            subject: Some("drug:x".into()),
            predicate: Some("causes".into()),
            object: Some("96.70".into()),
            object_type: Some("number".into()),
            source: Some("doi:1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn stamping_fills_defaults_and_canonicalises() {
        let a = claim()
            .into_assertion("alice", Hlc::new(42, 1), "n1")
            .unwrap();
        assert_eq!(a.object, "96.7");
        assert_eq!(a.tier, 5);
        assert_eq!(a.confidence, 1.0);
        assert_eq!(a.agent, "alice");
        assert_eq!(a.observed_at, 42);
    }

    #[test]
    fn encoding_round_trips_and_id_is_content_hash() {
        let a = claim()
            .into_assertion("alice", Hlc::new(42, 1), "n1")
            .unwrap();
        let bytes = a.encode();
        let b = Assertion::decode(&bytes).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id, Id::of(&bytes));
        let other = claim()
            .into_assertion("bob", Hlc::new(42, 1), "n1")
            .unwrap();
        assert_ne!(a.id, other.id);
    }

    #[test]
    fn rules_carry_their_sqlstate() {
        let mut c = claim();
        c.tier = Some(6);
        assert_eq!(
            c.into_assertion("a", Hlc::default(), "n").unwrap_err().code,
            "23514"
        );
        let mut c = claim();
        c.confidence = Some(1.5);
        assert_eq!(
            c.into_assertion("a", Hlc::default(), "n").unwrap_err().code,
            "23514"
        );
        let mut c = claim();
        c.subject = None;
        assert_eq!(
            c.into_assertion("a", Hlc::default(), "n").unwrap_err().code,
            "23502"
        );
        let mut c = claim();
        c.object = Some("abc".into());
        assert_eq!(
            c.into_assertion("a", Hlc::default(), "n").unwrap_err().code,
            "22P02"
        );
    }
}
