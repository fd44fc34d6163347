//! Arrow → PostgreSQL rows: the row description of a result (its types
//! from [`crate::planner::pg_types`]) and each value in text or binary format (text
//! as PostgreSQL prints it, [`super::text`]; arrays in binary,
//! [`super::arrays`]; rows of plain columns, [`super::plain_rows`]).

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::*;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt, stream};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use postgres_types::ToSql;
use rust_decimal::Decimal;

use super::errors::to_pg;
use super::field_sink::FieldSink;
use super::text::{is_null, postgres_text, timestamp_value, to_micros, utc};
use crate::planner::from_datafusion;
use crate::planner::pg_types::pg_type;

/// Row description for a result schema.
pub fn fields(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldInfo::new(
                crate::planner::display_name(f.name()).to_string(),
                None,
                None,
                pg_type(f.data_type()),
                format.format_for(i),
            )
        })
        .collect()
}

/// Encodes a stream of batches into a stream of DataRows.
pub fn rows(
    batches: SendableRecordBatchStream,
    fields: Arc<Vec<FieldInfo>>,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    batches.flat_map(move |batch| {
        let rows = match batch {
            Ok(batch) => encode_batch(&batch, &fields),
            Err(e) => vec![Err(to_pg(from_datafusion(&e)))],
        };
        stream::iter(rows)
    })
}

/// Encodes one row of `columns` into `sink`, as text where `text[i]`.
pub fn encode_row(
    sink: &mut impl FieldSink,
    columns: &[ArrayRef],
    row: usize,
    text: impl Fn(usize) -> bool,
) -> PgWireResult<()> {
    for (i, column) in columns.iter().enumerate() {
        encode_any(sink, column, row, text(i))?;
    }
    Ok(())
}

/// Encodes one value of any column.
fn encode_any(
    sink: &mut impl FieldSink,
    column: &ArrayRef,
    row: usize,
    text: bool,
) -> PgWireResult<()> {
    if text && let Some(s) = postgres_text(column, row) {
        return sink.put(&Raw(s));
    }
    encode_value(sink, column, row)
}

fn encode_batch(batch: &RecordBatch, fields: &Arc<Vec<FieldInfo>>) -> Vec<PgWireResult<DataRow>> {
    if let Some(rows) = super::plain_rows::encode(batch, fields) {
        return rows.into_iter().map(Ok).collect();
    }
    let mut encoder = DataRowEncoder::new(fields.clone());
    let is_text = |i: usize| fields[i].format() == FieldFormat::Text;
    (0..batch.num_rows())
        .map(|row| {
            encode_row(&mut encoder, batch.columns(), row, is_text)?;
            Ok(encoder.take_row())
        })
        .collect()
}

/// A value already in PostgreSQL's text form, sent as is (pgwire would
/// quote a string sent as a whole array).
#[derive(Debug)]
struct Raw(String);

impl ToSqlText for Raw {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
        _options: &pgwire::types::format::FormatOptions,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(postgres_types::IsNull::No)
    }
}

impl ToSql for Raw {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(postgres_types::IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    postgres_types::to_sql_checked!();
}

/// A value that has no PostgreSQL wire form (`22003`).
fn unrepresentable(what: String) -> PgWireError {
    super::errors::to_pg(crate::error::Error::new(
        crate::error::sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!(
            "{what} is out of range for the wire format: cast it to a smaller scale or to text"
        ),
    ))
}

/// Encodes one value, typed as its column's FieldInfo says.
fn encode_value(enc: &mut impl FieldSink, col: &ArrayRef, row: usize) -> PgWireResult<()> {
    if is_null(col, row) {
        return enc.put(&None::<i8>);
    }
    match col.data_type() {
        DataType::Boolean => enc.put(&col.as_boolean().value(row)),
        DataType::Int8 => enc.put(&(col.as_primitive::<Int8Type>().value(row) as i16)),
        DataType::Int16 => enc.put(&col.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => enc.put(&col.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => enc.put(&col.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => enc.put(&(col.as_primitive::<UInt8Type>().value(row) as i16)),
        DataType::UInt16 => enc.put(&(col.as_primitive::<UInt16Type>().value(row) as i32)),
        DataType::UInt32 => enc.put(&(col.as_primitive::<UInt32Type>().value(row) as i64)),
        DataType::UInt64 => enc.put(
            &(col
                .as_primitive::<UInt64Type>()
                .value(row)
                .min(i64::MAX as u64) as i64),
        ),
        DataType::Float32 => enc.put(&col.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => enc.put(&col.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => enc.put(&col.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => enc.put(&col.as_string::<i64>().value(row)),
        DataType::Utf8View => enc.put(&col.as_string_view().value(row)),
        DataType::Decimal128(_, scale) => {
            let v = col.as_primitive::<Decimal128Type>().value(row);
            // rust_decimal holds 96 bits and 28 decimal places; never send
            // a value it cannot hold as NULL.
            let d = u32::try_from(*scale)
                .ok()
                .and_then(|s| Decimal::try_from_i128_with_scale(v, s).ok())
                .ok_or_else(|| unrepresentable(format!("numeric {v}e-{scale}")))?;
            enc.put(&d)
        }
        DataType::Timestamp(unit, tz) => {
            let v = timestamp_value(col, row, unit);
            let t = utc(to_micros(v, unit))
                .ok_or_else(|| unrepresentable(format!("timestamp {v} ({unit:?})")))?;
            if tz.is_some() {
                enc.put(&t)
            } else {
                enc.put(&t.naive_utc())
            }
        }
        DataType::Date32 => {
            let days = col.as_primitive::<Date32Type>().value(row);
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            enc.put(&epoch.checked_add_signed(chrono::Duration::days(days as i64)))
        }
        DataType::Binary => enc.put(&col.as_binary::<i32>().value(row)),
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            super::arrays::put_binary(enc, col, row)
        }
        _ => {
            let options = FormatOptions::default();
            let formatter = ArrayFormatter::try_new(col.as_ref(), &options)
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
            enc.put(&formatter.value(row).to_string())
        }
    }
}
