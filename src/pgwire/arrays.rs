//! Arrow lists as PostgreSQL arrays in binary (`make_array`, `array_agg`,
//! …), through postgres-types' array encoding, of the array type
//! [`crate::planner::pg_types::array_type`] describes; their text form is in
//! [`super::text`].

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::*;
use pgwire::error::PgWireResult;

use super::field_sink::FieldSink;
use super::text::{list_values, timestamp_at};

/// Binary form of a non-null list value, of the type [`crate::planner::pg_types::array_type`]
/// reports (elements without their own array type are sent as text[]).
pub fn put_binary(sink: &mut impl FieldSink, col: &ArrayRef, row: usize) -> PgWireResult<()> {
    let Some(items) = list_values(col, row) else {
        return sink.put(&None::<i8>);
    };
    let n = items.len();
    // The items as `Vec<Option<T>>` (NULL elements as None) for postgres-types.
    macro_rules! elements {
        ($array:expr) => {{
            let a = $array;
            (0..n)
                .map(|i| items.is_valid(i).then(|| a.value(i)))
                .collect::<Vec<_>>()
        }};
    }
    match items.data_type() {
        DataType::Boolean => sink.put(&elements!(items.as_boolean()))?,
        DataType::Int16 => sink.put(&elements!(items.as_primitive::<Int16Type>()))?,
        DataType::Int32 => sink.put(&elements!(items.as_primitive::<Int32Type>()))?,
        DataType::Int64 => sink.put(&elements!(items.as_primitive::<Int64Type>()))?,
        DataType::UInt32 => sink.put(&elements!(items.as_primitive::<UInt32Type>()))?,
        DataType::Float32 => sink.put(&elements!(items.as_primitive::<Float32Type>()))?,
        DataType::Float64 => sink.put(&elements!(items.as_primitive::<Float64Type>()))?,
        DataType::Utf8 => sink.put(&elements!(items.as_string::<i32>()))?,
        DataType::Timestamp(_, tz) => {
            let instants: Vec<_> = (0..n)
                .map(|i| items.is_valid(i).then(|| timestamp_at(&items, i)).flatten())
                .collect();
            if tz.is_some() {
                sink.put(&instants)?
            } else {
                let naive: Vec<_> = instants.iter().map(|t| t.map(|t| t.naive_utc())).collect();
                sink.put(&naive)?
            }
        }
        _ => {
            let options = datafusion::arrow::util::display::FormatOptions::default();
            let formatter =
                datafusion::arrow::util::display::ArrayFormatter::try_new(items.as_ref(), &options)
                    .map_err(|e| pgwire::error::PgWireError::ApiError(Box::new(e)))?;
            let v: Vec<Option<String>> = (0..n)
                .map(|i| items.is_valid(i).then(|| formatter.value(i).to_string()))
                .collect();
            sink.put(&v)?
        }
    }
    Ok(())
}
