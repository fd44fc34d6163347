//! PostgreSQL's text forms of values, where they differ from pgwire's
//! defaults: floats (shortest round-trip, exponent outside 1e-4..1e15),
//! timestamps (fractional seconds only when present, `+00`) and arrays
//! (`{a,"b c",NULL}` with array_out's quoting).

use chrono::{DateTime, TimeZone, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::*;

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
            let text = crate::model::format_timestamptz(micros);
            Some(if tz.is_some() {
                text
            } else {
                text.trim_end_matches("+00").to_string()
            })
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            list_text(col, row)
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
pub(super) fn is_null(col: &ArrayRef, row: usize) -> bool {
    col.is_null(row) || col.data_type() == &DataType::Null
}

/// A timestamp column's raw value, in its unit.
pub(super) fn timestamp_value(col: &ArrayRef, row: usize, unit: &TimeUnit) -> i64 {
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

pub(super) fn utc(micros: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_micros(micros).single()
}

pub(super) fn to_micros(v: i64, unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v / 1_000,
    }
}

/// The values of row `row` of a list column.
pub(super) fn list_values(col: &ArrayRef, row: usize) -> Option<ArrayRef> {
    match col.data_type() {
        DataType::List(_) => Some(col.as_list::<i32>().value(row)),
        DataType::LargeList(_) => Some(col.as_list::<i64>().value(row)),
        DataType::FixedSizeList(..) => Some(col.as_fixed_size_list().value(row)),
        _ => None,
    }
}

/// PostgreSQL's text form of a non-null list value: `{a,"b c",NULL}`.
pub(super) fn list_text(col: &ArrayRef, row: usize) -> Option<String> {
    let items = list_values(col, row)?;
    let options = datafusion::arrow::util::display::FormatOptions::default();
    let formatter =
        datafusion::arrow::util::display::ArrayFormatter::try_new(items.as_ref(), &options).ok()?;
    let mut out = String::from("{");
    for i in 0..items.len() {
        if i > 0 {
            out.push(',');
        }
        if items.is_null(i) {
            out.push_str("NULL");
            continue;
        }
        let item = match items.data_type() {
            DataType::Boolean => (if items.as_boolean().value(i) {
                "t"
            } else {
                "f"
            })
            .to_string(),
            DataType::Float64 => format_float(items.as_primitive::<Float64Type>().value(i)),
            DataType::Timestamp(..) => postgres_text(&items, i)?,
            DataType::List(_) | DataType::LargeList(_) => {
                out.push_str(&list_text(&items, i)?); // nested arrays are not quoted
                continue;
            }
            _ => formatter.value(i).to_string(),
        };
        out.push_str(&quote(&item));
    }
    out.push('}');
    Some(out)
}

/// Quotes an array element the way PostgreSQL's array_out does.
fn quote(item: &str) -> String {
    let special = item.is_empty()
        || item.eq_ignore_ascii_case("NULL")
        || item
            .chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
    if !special {
        return item.to_string();
    }
    let mut quoted = String::with_capacity(item.len() + 2);
    quoted.push('"');
    for c in item.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::{format_float, quote};

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

    #[test]
    fn elements_are_quoted_like_postgres() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("null"), "\"null\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
