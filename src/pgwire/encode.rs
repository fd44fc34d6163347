//! Arrow → PostgreSQL: column types (OIDs) and row values, in text or
//! binary format. Text output follows PostgreSQL's own formatting (booleans
//! `t`/`f`, shortest round-trip floats, ISO timestamps with `+00`).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::*;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt, stream};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyEncoder, DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use postgres_types::ToSql;
use rust_decimal::Decimal;

use super::errors::to_pg;
use crate::planner::from_datafusion;

/// The PostgreSQL type StemeDB reports for an Arrow type.
pub fn pg_type(dt: &DataType) -> Type {
    match dt {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Type::INT8,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Decimal128(..) | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::BYTEA,
        other => super::arrays::pg_array_type(other).unwrap_or(Type::TEXT),
    }
}

/// The Arrow type a parameter of PostgreSQL type `t` decodes to.
pub fn arrow_type(t: &Type) -> Option<DataType> {
    Some(match *t {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::OID => DataType::UInt32,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 | Type::NUMERIC => DataType::Float64,
        Type::TIMESTAMPTZ => crate::planner::timestamptz(),
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::DATE => DataType::Date32,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DataType::Utf8,
        _ => return None,
    })
}

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

/// Where encoded values go: a DataRow or a COPY line.
pub trait FieldSink {
    fn put<T: ToSql + ToSqlText>(&mut self, value: &T) -> PgWireResult<()>;
}

impl FieldSink for DataRowEncoder {
    fn put<T: ToSql + ToSqlText>(&mut self, value: &T) -> PgWireResult<()> {
        self.encode_field(value)
    }
}

impl FieldSink for CopyEncoder {
    fn put<T: ToSql + ToSqlText>(&mut self, value: &T) -> PgWireResult<()> {
        self.encode_field(value)
    }
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

/// Text forms where PostgreSQL's output differs from pgwire's defaults:
/// floats (shortest round-trip, exponent outside 1e-4..1e15) and
/// timestamps (fractional seconds only when present).
pub(super) fn postgres_text(col: &ArrayRef, row: usize) -> Option<String> {
    if is_null(col, row) {
        return None;
    }
    match col.data_type() {
        DataType::Float64 => Some(format_float(col.as_primitive::<Float64Type>().value(row))),
        DataType::Float32 => Some(format_float(
            col.as_primitive::<Float32Type>().value(row) as f64
        )),
        DataType::Timestamp(unit, tz) => {
            let micros = to_micros(timestamp_value(col, row, unit), unit);
            let text = crate::planner::settings::format_timestamptz(micros);
            Some(if tz.is_some() {
                text
            } else {
                text.trim_end_matches("+00").to_string()
            })
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            super::arrays::text(col, row)
        }
        _ => None,
    }
}

/// PostgreSQL's float8 output with `extra_float_digits = 1` (its default).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{v:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..15).contains(&exponent) {
        format!("{v}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// NULL, including every value of a NullArray (`SELECT NULL`), whose
/// validity buffer is absent.
fn is_null(col: &ArrayRef, row: usize) -> bool {
    col.is_null(row) || col.data_type() == &DataType::Null
}

/// A timestamp column's raw value, in its unit.
fn timestamp_value(col: &ArrayRef, row: usize, unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => col.as_primitive::<TimestampSecondType>().value(row),
        TimeUnit::Millisecond => col.as_primitive::<TimestampMillisecondType>().value(row),
        TimeUnit::Microsecond => col.as_primitive::<TimestampMicrosecondType>().value(row),
        TimeUnit::Nanosecond => col.as_primitive::<TimestampNanosecondType>().value(row),
    }
}

/// The instant of row `row` of a timestamp column, if representable.
pub(super) fn timestamp_at(col: &ArrayRef, row: usize) -> Option<DateTime<Utc>> {
    match col.data_type() {
        DataType::Timestamp(unit, _) => utc(to_micros(timestamp_value(col, row, unit), unit)),
        _ => None,
    }
}

fn utc(micros: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_micros(micros).single()
}

fn to_micros(v: i64, unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v / 1_000,
    }
}

/// A value that has no PostgreSQL wire form (`22003`).
fn unrepresentable(what: String) -> PgWireError {
    super::errors::to_pg(crate::error::Error::new(
        "22003",
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

#[cfg(test)]
mod tests {
    use super::format_float;

    #[test]
    fn floats_print_like_postgres() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(96.7), "96.7");
        assert_eq!(format_float(1e20), "1e+20");
        assert_eq!(format_float(1.5e-5), "1.5e-05");
        assert_eq!(format_float(123456789012345.0), "123456789012345");
        assert_eq!(format_float(1e15), "1e+15");
        assert_eq!(format_float(f64::INFINITY), "Infinity");
        assert_eq!(format_float(-0.0), "-0");
    }
}
