//! Array parameters (`= ANY($1)`, `$1::text[]`): PostgreSQL's array input
//! in text (`{a,"b c",NULL}`) and binary form, decoded into an Arrow list
//! of the element type. Only one-dimensional arrays; anything malformed is
//! `22P02`, never a string that happens to contain braces.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    StringArray, TimestampMicrosecondArray, UInt32Array,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::utils::SingleRowListArrayBuilder;
use pgwire::api::Type;
use postgres_types::{FromSql, Kind};
use rust_decimal::Decimal;

use crate::error::{Error, Result, sqlstate};
use crate::planner::parse_array;

/// The element type of an array wire type, if `wire` is one.
pub fn element(wire: &Type) -> Option<&Type> {
    match wire.kind() {
        Kind::Array(element) => Some(element),
        _ => None,
    }
}

fn malformed(message: impl std::fmt::Display) -> Error {
    Error::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("malformed array literal: {message}"),
    )
}

/// Decodes one non-null array parameter of wire type `wire` (an array
/// type) into a one-row Arrow list.
pub fn decode(wire: &Type, bytes: &[u8], binary: bool) -> Result<ScalarValue> {
    let element = element(wire).ok_or_else(|| Error::internal("not an array type"))?;
    let values = if binary {
        from_binary(wire, element, bytes)?
    } else {
        let text = std::str::from_utf8(bytes).map_err(malformed)?;
        from_text(element, parse_array(text)?)?
    };
    Ok(ScalarValue::List(Arc::new(
        SingleRowListArrayBuilder::new(values).build_list_array(),
    )))
}

/// Binary array input: postgres-types decodes the array header and each
/// element of the wire type's element type.
fn from_binary(wire: &Type, element: &Type, bytes: &[u8]) -> Result<ArrayRef> {
    fn read<'a, T: FromSql<'a>>(wire: &Type, bytes: &'a [u8]) -> Result<Vec<Option<T>>> {
        Vec::<Option<T>>::from_sql(wire, bytes).map_err(malformed)
    }
    Ok(match *element {
        Type::BOOL => Arc::new(BooleanArray::from(read::<bool>(wire, bytes)?)),
        Type::INT2 => Arc::new(Int16Array::from(read::<i16>(wire, bytes)?)),
        Type::INT4 => Arc::new(Int32Array::from(read::<i32>(wire, bytes)?)),
        Type::INT8 => Arc::new(Int64Array::from(read::<i64>(wire, bytes)?)),
        Type::OID => Arc::new(UInt32Array::from(read::<u32>(wire, bytes)?)),
        Type::FLOAT4 => Arc::new(Float32Array::from(read::<f32>(wire, bytes)?)),
        Type::FLOAT8 => Arc::new(Float64Array::from(read::<f64>(wire, bytes)?)),
        Type::NUMERIC => Arc::new(StringArray::from(
            read::<Decimal>(wire, bytes)?
                .into_iter()
                .map(|d| d.map(|d| d.to_string()))
                .collect::<Vec<_>>(),
        )),
        Type::TIMESTAMPTZ => Arc::new(
            TimestampMicrosecondArray::from(
                read::<DateTime<FixedOffset>>(wire, bytes)?
                    .into_iter()
                    .map(|t| t.map(|t| t.timestamp_micros()))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        Type::TIMESTAMP => Arc::new(TimestampMicrosecondArray::from(
            read::<NaiveDateTime>(wire, bytes)?
                .into_iter()
                .map(|t| t.map(|t| t.and_utc().timestamp_micros()))
                .collect::<Vec<_>>(),
        )),
        _ => Arc::new(StringArray::from(read::<String>(wire, bytes)?)),
    })
}

/// Text array input: the elements' text, cast to the element type.
fn from_text(element: &Type, items: Vec<Option<Cow<str>>>) -> Result<ArrayRef> {
    let timestamp = |tz: Option<&str>| -> Result<ArrayRef> {
        let micros = items
            .iter()
            .map(|item| {
                item.as_deref()
                    .map(crate::model::parse_timestamptz)
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        let array = TimestampMicrosecondArray::from(micros);
        Ok(match tz {
            Some(tz) => Arc::new(array.with_timezone(tz)),
            None => Arc::new(array),
        })
    };
    let target = match *element {
        Type::TIMESTAMPTZ => return timestamp(Some("UTC")),
        Type::TIMESTAMP => return timestamp(None),
        // NUMERIC stays text: the statement's own type decides (see params.rs).
        Type::NUMERIC => DataType::Utf8,
        ref other => crate::planner::pg_types::arrow_type(other).unwrap_or(DataType::Utf8),
    };
    let text: ArrayRef = Arc::new(StringArray::from_iter(items.iter().map(|i| i.as_deref())));
    if target == DataType::Utf8 {
        return Ok(text);
    }
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(&text, &target, &strict).map_err(|e| {
        Error::new(
            sqlstate::INVALID_TEXT_REPRESENTATION,
            format!("invalid input for an array of {}: {e}", element.name()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use postgres_types::ToSql;

    /// `values` sent in binary as `wire`, decoded, printed as Arrow does.
    fn binary<T: ToSql>(wire: Type, values: &[Option<T>]) -> String {
        let mut buf = BytesMut::new();
        values.to_sql(&wire, &mut buf).unwrap();
        let value = decode(&wire, &buf, true).unwrap();
        value.to_string()
    }

    fn text(wire: Type, literal: &str) -> Result<String> {
        decode(&wire, literal.as_bytes(), false).map(|v| v.to_string())
    }

    #[test]
    fn every_element_type_decodes_in_binary_and_text() {
        assert_eq!(binary(Type::INT2_ARRAY, &[Some(1i16), None]), "[1, ]");
        assert_eq!(binary(Type::INT4_ARRAY, &[Some(-4i32)]), "[-4]");
        assert_eq!(
            binary(Type::INT8_ARRAY, &[Some(1i64 << 40)]),
            "[1099511627776]"
        );
        assert_eq!(binary(Type::FLOAT8_ARRAY, &[Some(1.5f64)]), "[1.5]");
        assert_eq!(
            binary(Type::BOOL_ARRAY, &[Some(true), Some(false)]),
            "[true, false]"
        );
        assert_eq!(binary(Type::TEXT_ARRAY, &[Some("a b"), None]), "[a b, ]");
        assert_eq!(
            binary(Type::NUMERIC_ARRAY, &[Some(Decimal::new(125, 2))]),
            "[1.25]"
        );
        let t = DateTime::parse_from_rfc3339("2024-05-01T12:00:00+02:00").unwrap();
        assert_eq!(
            binary(Type::TIMESTAMPTZ_ARRAY, &[Some(t)]),
            "[2024-05-01T10:00:00Z]"
        );
        assert_eq!(text(Type::INT8_ARRAY, "{1,NULL,3}").unwrap(), "[1, , 3]");
        assert_eq!(text(Type::BOOL_ARRAY, "{t,f}").unwrap(), "[true, false]");
        assert_eq!(text(Type::NUMERIC_ARRAY, "{1.25}").unwrap(), "[1.25]");
        assert_eq!(
            text(Type::TIMESTAMPTZ_ARRAY, "{\"2024-05-01 12:00:00+02\"}").unwrap(),
            "[2024-05-01T10:00:00Z]"
        );
        assert_eq!(text(Type::INT8_ARRAY, "{1,x}").unwrap_err().code, "22P02");
        assert_eq!(text(Type::INT4_ARRAY, "{1").unwrap_err().code, "22P02");
    }
}
