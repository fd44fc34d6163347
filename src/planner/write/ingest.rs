//! The one way a client's values become a claim. COPY and `stemedb import`
//! hand over text fields, a plain `INSERT … VALUES` hands over literals
//! and parameters, `INSERT … SELECT` hands over typed Arrow columns — all
//! of them set a [`NewAssertion`]'s columns here, one [`Cell`] at a time,
//! and the model's rules ([`NewAssertion::into_claim`]) check the rest. So
//! the same bad value gets the same SQLSTATE whatever path it took, and
//! no value is ever silently changed or dropped:
//!
//! | column | accepts | refuses |
//! |---|---|---|
//! | text columns | text; numbers and booleans as their text | — |
//! | `tier` | integers (any width), integral floats, their text | `3.7`, `abc` → `22P02`; out of 0..5 → `23514` |
//! | `confidence` | numbers, their text | `abc` → `22P02`; out of 0..1 → `23514` |
//! | `observed_at` | timestamps, their text | bad text, a number → `22P02` |
//!
//! Errors name their column as data ([`Error::column`]), so COPY can say
//! where a bad value was without parsing messages.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};

use crate::error::{Error, Result, sqlstate};
use crate::model::parse_timestamptz;
use crate::model::{Micros, NewAssertion};

/// One value for one column, as a client path produced it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// µs since the epoch, UTC.
    Time(Micros),
    /// An exact decimal, as text (`96.70`).
    Numeric(String),
}

/// The columns a client may set, as the ingest table types them: wide
/// enough that DataFusion's casts to them never lose a value (a float
/// `tier` arrives as the float it was, so `3.7` can be refused) and never
/// invent one (`observed_at` is text there, so an integer is not taken
/// for microseconds since 1970: its text fails to parse).
pub const INGEST_COLUMNS: [(&str, ColumnKind); 10] = [
    ("subject", ColumnKind::Text),
    ("predicate", ColumnKind::Text),
    ("object", ColumnKind::Text),
    ("object_type", ColumnKind::Text),
    ("source", ColumnKind::Text),
    ("tier", ColumnKind::Number),
    ("confidence", ColumnKind::Number),
    ("agent", ColumnKind::Text),
    ("observed_at", ColumnKind::Time),
    ("supersedes", ColumnKind::Text),
];

/// The columns an INSERT into `assertions` is planned with (every one
/// nullable: the sink says which are required).
pub static INGEST_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        INGEST_COLUMNS
            .iter()
            .map(|(name, kind)| Field::new(*name, kind.data_type(), true))
            .collect::<Vec<_>>(),
    ))
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Number,
    Time,
}

impl ColumnKind {
    pub fn data_type(self) -> DataType {
        match self {
            ColumnKind::Text => DataType::Utf8,
            ColumnKind::Number => DataType::Float64,
            ColumnKind::Time => DataType::Utf8,
        }
    }
}

fn column_name(column: &str) -> Result<&'static str> {
    INGEST_COLUMNS
        .iter()
        .map(|(name, _)| *name)
        .find(|name| *name == column)
        .ok_or_else(|| {
            Error::new(
                sqlstate::UNDEFINED_COLUMN,
                format!("column \"{column}\" of relation \"assertions\" does not exist"),
            )
        })
}

fn invalid(column: &'static str, ty: &str, value: impl std::fmt::Display) -> Error {
    Error::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {ty}: \"{value}\""),
    )
    .in_column(column)
}

fn as_text(cell: Cell, column: &'static str) -> Result<Option<String>> {
    Ok(match cell {
        Cell::Null => None,
        Cell::Text(s) => Some(s),
        Cell::Int(i) => Some(i.to_string()),
        Cell::Float(f) => Some(f.to_string()),
        Cell::Bool(b) => Some(b.to_string()),
        Cell::Numeric(n) => Some(n),
        Cell::Time(_) => {
            return Err(Error::new(
                sqlstate::DATATYPE_MISMATCH,
                format!("column \"{column}\" is of type text but the value is a timestamp"),
            )
            .in_column(column));
        }
    })
}

/// An authority tier: an integer. Integers outside 0..5 (however large)
/// pass through to the range rule (`23514`); anything else is `22P02`.
fn as_tier(cell: Cell) -> Result<Option<i64>> {
    const COLUMN: &str = "tier";
    let integral = |f: f64| {
        if f.is_finite() && f.fract() == 0.0 {
            Ok(f.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
        } else {
            Err(invalid(COLUMN, "smallint", f))
        }
    };
    Ok(match cell {
        Cell::Null => None,
        Cell::Int(i) => Some(i),
        Cell::Float(f) => Some(integral(f)?),
        Cell::Numeric(n) => Some(integral(
            n.parse().map_err(|_| invalid(COLUMN, "smallint", &n))?,
        )?),
        Cell::Text(s) => {
            let t = s.trim();
            match t.parse::<i64>() {
                Ok(i) => Some(i),
                // All digits but too long for i64: out of range, not malformed.
                Err(_)
                    if !t.is_empty()
                        && t.trim_start_matches(['-', '+'])
                            .bytes()
                            .all(|b| b.is_ascii_digit()) =>
                {
                    Some(if t.starts_with('-') {
                        i64::MIN
                    } else {
                        i64::MAX
                    })
                }
                Err(_) => return Err(invalid(COLUMN, "smallint", &s)),
            }
        }
        other => return Err(mismatch(COLUMN, "smallint", &other)),
    })
}

fn as_confidence(cell: Cell) -> Result<Option<f64>> {
    const COLUMN: &str = "confidence";
    Ok(match cell {
        Cell::Null => None,
        Cell::Int(i) => Some(i as f64),
        Cell::Float(f) => Some(f),
        Cell::Text(s) | Cell::Numeric(s) => Some(
            s.trim()
                .parse::<f64>()
                .map_err(|_| invalid(COLUMN, "double precision", &s))?,
        ),
        other => return Err(mismatch(COLUMN, "double precision", &other)),
    })
}

fn as_time(cell: Cell) -> Result<Option<Micros>> {
    const COLUMN: &str = "observed_at";
    Ok(match cell {
        Cell::Null => None,
        Cell::Time(t) => Some(t),
        Cell::Text(s) => Some(parse_timestamptz(&s).map_err(|e| {
            Error::new(sqlstate::INVALID_TEXT_REPRESENTATION, e.message).in_column(COLUMN)
        })?),
        other => return Err(mismatch(COLUMN, "timestamp with time zone", &other)),
    })
}

fn mismatch(column: &'static str, ty: &str, cell: &Cell) -> Error {
    Error::new(
        sqlstate::DATATYPE_MISMATCH,
        format!("column \"{column}\" is of type {ty} but the value {cell:?} is not"),
    )
    .in_column(column)
}

/// Sets one column of a claim; the only place a client's value becomes a
/// claim's field.
pub fn set(new: &mut NewAssertion, column: &str, cell: Cell) -> Result<()> {
    let column = column_name(column)?;
    match column {
        "subject" => new.subject = as_text(cell, column)?,
        "predicate" => new.predicate = as_text(cell, column)?,
        "object" => new.object = as_text(cell, column)?,
        "object_type" => new.object_type = as_text(cell, column)?,
        "source" => new.source = as_text(cell, column)?,
        "agent" => new.agent = as_text(cell, column)?,
        "supersedes" => new.supersedes = as_text(cell, column)?,
        "tier" => new.tier = as_tier(cell)?,
        "confidence" => new.confidence = as_confidence(cell)?,
        _ => new.observed_at = as_time(cell)?,
    }
    Ok(())
}

/// Sets a column from its text form (COPY, import, literals).
pub fn set_text(new: &mut NewAssertion, column: &str, value: Option<String>) -> Result<()> {
    set(new, column, value.map_or(Cell::Null, Cell::Text))
}

/// An Arrow column in one of the forms [`cell`] reads, converted without
/// loss: integers to Int64, floats to Float64, timestamps to µs UTC,
/// decimals and anything else to their text.
pub fn normalize(array: &ArrayRef) -> Result<ArrayRef> {
    let to = match array.data_type() {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Int64
        | DataType::Float64
        | DataType::Boolean
        | DataType::Null
        | DataType::Timestamp(TimeUnit::Microsecond, _) => return Ok(array.clone()),
        t if t.is_integer() => DataType::Int64,
        t if t.is_floating() => DataType::Float64,
        DataType::Timestamp(..) => crate::planner::schema::timestamptz(),
        _ => DataType::Utf8,
    };
    cast(array, &to).map_err(|e| Error::new(sqlstate::INVALID_TEXT_REPRESENTATION, e.to_string()))
}

/// The value at `row` of a [`normalize`]d column, as a [`Cell`].
pub fn cell(array: &dyn Array, decimal: bool, row: usize) -> Cell {
    if array.is_null(row) {
        return Cell::Null;
    }
    match array.data_type() {
        DataType::Utf8 if decimal => Cell::Numeric(array.as_string::<i32>().value(row).to_string()),
        DataType::Utf8 => Cell::Text(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Cell::Text(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Cell::Text(array.as_string_view().value(row).to_string()),
        DataType::Float64 => Cell::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => Cell::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::Boolean => Cell::Bool(array.as_boolean().value(row)),
        DataType::Timestamp(..) => {
            Cell::Time(array.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        _ => Cell::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(cell: Cell) -> Result<Option<i64>> {
        let mut new = NewAssertion::default();
        set(&mut new, "tier", cell).map(|()| new.tier)
    }

    #[test]
    fn a_tier_is_an_integer_whatever_its_spelling() {
        assert_eq!(tier(Cell::Int(3)), Ok(Some(3)));
        assert_eq!(tier(Cell::Float(3.0)), Ok(Some(3)));
        assert_eq!(tier(Cell::Text(" 3 ".into())), Ok(Some(3)));
        assert_eq!(tier(Cell::Float(3.7)).unwrap_err().code, "22P02");
        assert_eq!(tier(Cell::Text("3.7".into())).unwrap_err().code, "22P02");
        // Large integers reach the range rule (23514), in every spelling.
        assert_eq!(tier(Cell::Int(40_000)), Ok(Some(40_000)));
        assert_eq!(tier(Cell::Text("40000".into())), Ok(Some(40_000)));
        assert_eq!(
            tier(Cell::Text("99999999999999999999".into())),
            Ok(Some(i64::MAX))
        );
        assert_eq!(tier(Cell::Time(0)).unwrap_err().code, "42804");
    }

    #[test]
    fn errors_carry_their_column() {
        let mut new = NewAssertion::default();
        let e = set(&mut new, "confidence", Cell::Text("high".into())).unwrap_err();
        assert_eq!((e.code, e.column), ("22P02", Some("confidence")));
        let e = set(&mut new, "observed_at", Cell::Text("yesterday-ish".into())).unwrap_err();
        assert_eq!((e.code, e.column), ("22P02", Some("observed_at")));
        assert_eq!(set(&mut new, "nope", Cell::Null).unwrap_err().code, "42703");
    }
}
