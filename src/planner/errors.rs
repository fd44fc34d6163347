//! Maps DataFusion's errors to SQLSTATEs. Errors raised by StemeDB itself
//! travel inside `DataFusionError::External` and come out unchanged.

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;

use super::settings::QUERY_MEMORY_LIMIT;
use crate::error::{Error, sqlstate};

/// The SQLSTATE-carrying error for a DataFusion error.
pub fn from_datafusion(e: &DataFusionError) -> Error {
    match e {
        DataFusionError::External(inner) => from_boxed(inner.as_ref()),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            from_datafusion(inner)
        }
        DataFusionError::Shared(inner) => from_datafusion(inner),
        DataFusionError::Collection(all) => match all.first() {
            Some(first) => from_datafusion(first),
            None => Error::internal("unknown error"),
        },
        DataFusionError::ArrowError(a, _) => from_arrow(a),
        DataFusionError::SQL(p, _) => Error::new(sqlstate::SYNTAX_ERROR, p.to_string()),
        DataFusionError::SchemaError(s, _) => {
            let code = match s.as_ref() {
                SchemaError::FieldNotFound { .. } => sqlstate::UNDEFINED_COLUMN,
                SchemaError::AmbiguousReference { .. } => sqlstate::AMBIGUOUS_COLUMN,
                _ => sqlstate::INVALID_TABLE_DEFINITION,
            };
            Error::new(code, s.to_string())
        }
        DataFusionError::Plan(msg) => Error::new(plan_code(msg), msg.clone()),
        DataFusionError::NotImplemented(msg) => {
            Error::new(sqlstate::FEATURE_NOT_SUPPORTED, msg.clone())
        }
        DataFusionError::Execution(msg) => {
            let code = if msg.contains("ivide by zero") || msg.contains("ivision by zero") {
                sqlstate::DIVISION_BY_ZERO
            } else {
                sqlstate::DATA_EXCEPTION
            };
            Error::new(code, msg.clone())
        }
        DataFusionError::ResourcesExhausted(msg) if msg.contains(QUERY_MEMORY_LIMIT) => {
            Error::new(sqlstate::OUT_OF_MEMORY, msg.clone())
        }
        // An operator's own wording ("Memory Exhausted while Sorting"):
        // say which budget it ran out of.
        DataFusionError::ResourcesExhausted(msg) => Error::new(
            sqlstate::OUT_OF_MEMORY,
            format!(
                "out of memory: {msg}; the statement needs more than {QUERY_MEMORY_LIMIT} allows \
                 (SET {QUERY_MEMORY_LIMIT} to raise the budget)"
            ),
        ),
        other => Error::internal(other.to_string()),
    }
}

fn from_boxed(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Error {
    if let Some(ours) = e.downcast_ref::<Error>() {
        return ours.clone();
    }
    if let Some(df) = e.downcast_ref::<DataFusionError>() {
        return from_datafusion(df);
    }
    if let Some(a) = e.downcast_ref::<ArrowError>() {
        return from_arrow(a);
    }
    Error::internal(e.to_string())
}

fn from_arrow(e: &ArrowError) -> Error {
    match e {
        ArrowError::ExternalError(inner) => from_boxed(inner.as_ref()),
        ArrowError::CastError(m) | ArrowError::ParseError(m) => {
            Error::new(sqlstate::INVALID_TEXT_REPRESENTATION, m.clone())
        }
        ArrowError::DivideByZero => Error::new(sqlstate::DIVISION_BY_ZERO, "division by zero"),
        ArrowError::ComputeError(m) if m.contains("Overflow") || m.contains("overflow") => {
            Error::new(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, m.clone())
        }
        other => Error::new(sqlstate::DATA_EXCEPTION, other.to_string()),
    }
}

/// Planning errors carry no structure, only a message.
fn plan_code(msg: &str) -> &'static str {
    let m = msg.to_ascii_lowercase();
    if m.contains("table") && m.contains("not found") {
        sqlstate::UNDEFINED_TABLE
    } else if m.contains("no field named") || m.contains("column") && m.contains("not found") {
        sqlstate::UNDEFINED_COLUMN
    } else if m.contains("invalid function") || m.contains("function") && m.contains("not found") {
        sqlstate::UNDEFINED_FUNCTION
    } else if m.contains("cannot") && (m.contains("cast") || m.contains("coerce"))
        || m.contains("type")
    {
        sqlstate::DATATYPE_MISMATCH
    } else {
        sqlstate::SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION
    }
}
/// Wraps a StemeDB error for DataFusion, keeping its SQLSTATE reachable.
pub fn external(e: crate::error::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
