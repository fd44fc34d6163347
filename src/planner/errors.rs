//! Maps DataFusion's errors to SQLSTATEs. Errors raised by StemeDB itself
//! travel inside `DataFusionError::External` and come out unchanged. Most
//! variants say what went wrong in their structure; three carry only
//! words (`Plan`, `Execution`, Arrow's `ComputeError`), and
//! [`code_in_words`] is the one place their wording is read — its tests
//! raise each from DataFusion itself, so a change of wording fails them.

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
        DataFusionError::Plan(msg) => Error::new(code_in_words(Worded::Plan, msg), msg.clone()),
        DataFusionError::NotImplemented(msg) => {
            Error::new(sqlstate::FEATURE_NOT_SUPPORTED, msg.clone())
        }
        DataFusionError::Execution(msg) => {
            Error::new(code_in_words(Worded::Execution, msg), msg.clone())
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
        ArrowError::ComputeError(m) => Error::new(code_in_words(Worded::Compute, m), m.clone()),
        other => Error::new(sqlstate::DATA_EXCEPTION, other.to_string()),
    }
}

/// The variants whose SQLSTATE is in their words only.
#[derive(Clone, Copy)]
enum Worded {
    Plan,
    Execution,
    /// Arrow's `ComputeError`.
    Compute,
}

/// The SQLSTATE a worded error's message names.
fn code_in_words(variant: Worded, msg: &str) -> &'static str {
    let m = msg.to_ascii_lowercase();
    let has = |w: &str| m.contains(w);
    match variant {
        Worded::Execution | Worded::Compute if has("divide by zero") || has("division by zero") => {
            sqlstate::DIVISION_BY_ZERO
        }
        Worded::Execution | Worded::Compute if has("overflow") => {
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        }
        Worded::Execution | Worded::Compute => sqlstate::DATA_EXCEPTION,
        Worded::Plan if has("table") && has("not found") => sqlstate::UNDEFINED_TABLE,
        Worded::Plan if has("no field named") || has("column") && has("not found") => {
            sqlstate::UNDEFINED_COLUMN
        }
        Worded::Plan if has("invalid function") || has("function") && has("not found") => {
            sqlstate::UNDEFINED_FUNCTION
        }
        Worded::Plan if has("cannot") && (has("cast") || has("coerce")) || has("type") => {
            sqlstate::DATATYPE_MISMATCH
        }
        Worded::Plan => sqlstate::SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION,
    }
}

/// Wraps a StemeDB error for DataFusion, keeping its SQLSTATE reachable.
pub fn external(e: crate::error::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    /// The SQLSTATE DataFusion's own error for `sql` maps to.
    async fn code(sql: &str) -> &'static str {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (s VARCHAR, n BIGINT)")
            .await
            .unwrap();
        let result = match ctx.sql(sql).await {
            Ok(frame) => frame.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        let error = result.expect_err(sql);
        from_datafusion(&error).code
    }

    #[tokio::test]
    async fn planning_errors_are_read_from_their_words() {
        assert_eq!(code("SELECT * FROM nope").await, "42P01");
        assert_eq!(code("SELECT nope FROM t").await, "42703");
        assert_eq!(code("SELECT no_such_function(1)").await, "42883");
        assert_eq!(code("SELECT 1 FROM t WHERE n = ARRAY[1]").await, "42804");
    }

    #[tokio::test]
    async fn execution_and_compute_errors_are_read_from_their_words() {
        assert_eq!(code("SELECT 1 / 0").await, "22012");
        assert_eq!(
            code("SELECT abs(CAST(-9223372036854775808 AS BIGINT))").await,
            "22003"
        );
    }
}
