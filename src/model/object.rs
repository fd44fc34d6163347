//! Typed object values and their canonical form (docs/sql.md). Two claims have
//! the same object exactly when their type and canonical text are equal, so
//! canonicalisation is what makes `96.70` and `96.7` agree.

use crate::error::{Error, Result, sqlstate};

/// The type of an assertion's object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectType {
    Text,
    Number,
    Boolean,
    Ref,
}

impl ObjectType {
    pub fn parse(s: &str) -> Result<ObjectType> {
        match s {
            "text" => Ok(ObjectType::Text),
            "number" => Ok(ObjectType::Number),
            "boolean" => Ok(ObjectType::Boolean),
            "ref" => Ok(ObjectType::Ref),
            other => Err(Error::new(
                sqlstate::CHECK_VIOLATION,
                format!("unknown object_type \"{other}\": expected text, number, boolean or ref"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Text => "text",
            ObjectType::Number => "number",
            ObjectType::Boolean => "boolean",
            ObjectType::Ref => "ref",
        }
    }

    /// Stable one-byte tag used in the canonical encoding.
    pub fn tag(self) -> u8 {
        match self {
            ObjectType::Text => 0,
            ObjectType::Number => 1,
            ObjectType::Boolean => 2,
            ObjectType::Ref => 3,
        }
    }

    pub fn from_tag(tag: u8) -> Option<ObjectType> {
        Some(match tag {
            0 => ObjectType::Text,
            1 => ObjectType::Number,
            2 => ObjectType::Boolean,
            3 => ObjectType::Ref,
            _ => return None,
        })
    }

    /// Returns the canonical form of `raw` for this type, or a `22P02`
    /// error when `raw` is not a valid value of the type.
    pub fn canonicalize(self, raw: &str) -> Result<String> {
        let invalid = |why: &str| {
            Error::new(
                sqlstate::INVALID_TEXT_REPRESENTATION,
                format!(
                    "invalid input for object_type {}: \"{raw}\" ({why})",
                    self.as_str()
                ),
            )
        };
        match self {
            ObjectType::Text => Ok(raw.to_string()),
            ObjectType::Number => {
                let v: f64 = raw.trim().parse().map_err(|_| invalid("not a number"))?;
                if !v.is_finite() {
                    return Err(invalid("NaN and infinity are not allowed"));
                }
                Ok(canonical_number(v))
            }
            ObjectType::Boolean => match raw.trim().to_ascii_lowercase().as_str() {
                "true" => Ok("true".into()),
                "false" => Ok("false".into()),
                _ => Err(invalid("expected true or false")),
            },
            ObjectType::Ref => {
                if raw.trim().is_empty() {
                    Err(invalid("a ref must be a non-empty entity id"))
                } else {
                    Ok(raw.to_string())
                }
            }
        }
    }
}

/// Shortest decimal that round-trips to `v` (`96.70` → `96.7`, `1.0` → `1`).
/// Rust's `Display` for f64 already prints the shortest round-trip digits;
/// `-0` is folded into `0` so both spellings are the same object.
pub fn canonical_number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_shortest_round_trip() {
        let n = ObjectType::Number;
        assert_eq!(n.canonicalize("96.70").unwrap(), "96.7");
        assert_eq!(n.canonicalize("1.0").unwrap(), "1");
        assert_eq!(n.canonicalize("-0.0").unwrap(), "0");
        assert_eq!(n.canonicalize("1e3").unwrap(), "1000");
        assert_eq!(n.canonicalize("0.1").unwrap(), "0.1");
        assert_eq!(n.canonicalize("abc").unwrap_err().code, "22P02");
        assert_eq!(n.canonicalize("NaN").unwrap_err().code, "22P02");
        assert_eq!(n.canonicalize("inf").unwrap_err().code, "22P02");
    }

    #[test]
    fn booleans_are_lowercase() {
        let b = ObjectType::Boolean;
        assert_eq!(b.canonicalize("TRUE").unwrap(), "true");
        assert_eq!(b.canonicalize("False").unwrap(), "false");
        assert_eq!(b.canonicalize("yes").unwrap_err().code, "22P02");
    }

    #[test]
    fn refs_must_not_be_empty() {
        assert_eq!(ObjectType::Ref.canonicalize("").unwrap_err().code, "22P02");
        assert_eq!(ObjectType::parse("date").unwrap_err().code, "23514");
    }
}
