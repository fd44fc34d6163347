//! Bind parameters → DataFusion scalars. A parameter's type is the one the
//! client declared, else the one DataFusion inferred from the statement
//! (as PostgreSQL infers untyped parameters), else text.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use pgwire::api::Type;
use pgwire::api::portal::Portal;
use pgwire::error::PgWireResult;
use rust_decimal::Decimal;

use super::errors::to_pg;
use crate::error::{Error, sqlstate};
use crate::planner::pg_types::{arrow_type, pg_type};

/// The wire type of parameter `i`.
pub fn wire_type(inferred: &[Option<DataType>], declared: &[Option<Type>], i: usize) -> Type {
    declared
        .get(i)
        .cloned()
        .flatten()
        .filter(|t| *t != Type::UNKNOWN)
        .or_else(|| inferred.get(i).cloned().flatten().map(|dt| pg_type(&dt)))
        .unwrap_or(Type::TEXT)
}

/// Decodes every parameter of the portal.
/// `inferred`: the types DataFusion gave the statement's parameters.
pub fn decode<S: Clone>(
    portal: &Portal<S>,
    inferred: &[Option<DataType>],
) -> PgWireResult<Vec<ScalarValue>> {
    let declared = &portal.statement.parameter_types;
    (0..portal.parameter_len())
        .map(|i| {
            let mut wire = wire_type(inferred, declared, i);
            let target = inferred.get(i).cloned().flatten();
            // Text sent for an array (a driver declaring text or varchar):
            // PostgreSQL's array input, never a one-element array.
            if let Some(array) = target
                .as_ref()
                .and_then(crate::planner::pg_types::array_type)
                && arrow_type(&wire) == Some(DataType::Utf8)
                && !portal.parameter_format.is_binary(i)
            {
                wire = array;
            }
            let value = decode_one(portal, i, &wire)?;
            match target {
                Some(target) if target != value.data_type() => {
                    value.cast_to(&target).map_err(|e| {
                        to_pg(Error::new(
                            sqlstate::INVALID_TEXT_REPRESENTATION,
                            format!("parameter ${}: {e}", i + 1),
                        ))
                    })
                }
                _ => Ok(value),
            }
        })
        .collect()
}

fn decode_one<S: Clone>(portal: &Portal<S>, i: usize, wire: &Type) -> PgWireResult<ScalarValue> {
    if super::array_params::element(wire).is_some() {
        return match portal.parameters.get(i).cloned().flatten() {
            None => Ok(ScalarValue::Null),
            Some(bytes) => {
                let binary = portal.parameter_format.is_binary(i);
                super::array_params::decode(wire, &bytes, binary).map_err(|e| {
                    to_pg(Error::new(
                        e.code,
                        format!("parameter ${}: {}", i + 1, e.message),
                    ))
                })
            }
        };
    }
    Ok(match *wire {
        Type::BOOL => ScalarValue::Boolean(portal.parameter::<bool>(i, wire)?),
        Type::INT2 => ScalarValue::Int16(portal.parameter::<i16>(i, wire)?),
        Type::INT4 => ScalarValue::Int32(portal.parameter::<i32>(i, wire)?),
        Type::INT8 => ScalarValue::Int64(portal.parameter::<i64>(i, wire)?),
        Type::OID => ScalarValue::UInt32(portal.parameter::<u32>(i, wire)?),
        Type::FLOAT4 => ScalarValue::Float32(portal.parameter::<f32>(i, wire)?),
        Type::FLOAT8 => ScalarValue::Float64(portal.parameter::<f64>(i, wire)?),
        Type::NUMERIC => {
            ScalarValue::Utf8(portal.parameter::<Decimal>(i, wire)?.map(|d| d.to_string()))
        }
        Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            portal
                .parameter::<DateTime<FixedOffset>>(i, wire)?
                .map(|t| t.timestamp_micros()),
            Some("UTC".into()),
        ),
        Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
            portal
                .parameter::<NaiveDateTime>(i, wire)?
                .map(|t| t.and_utc().timestamp_micros()),
            None,
        ),
        Type::DATE => ScalarValue::Date32(portal.parameter::<NaiveDate>(i, wire)?.map(|d| {
            (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
        })),
        _ => {
            let text = portal.parameter::<String>(i, &Type::TEXT)?;
            match arrow_type(wire) {
                Some(DataType::Utf8) | None => ScalarValue::Utf8(text),
                // A value that does not cast is an error, never NULL.
                Some(dt) => ScalarValue::Utf8(text).cast_to(&dt).map_err(|e| {
                    to_pg(Error::new(
                        sqlstate::INVALID_TEXT_REPRESENTATION,
                        format!("parameter ${}: {e}", i + 1),
                    ))
                })?,
            }
        }
    })
}
