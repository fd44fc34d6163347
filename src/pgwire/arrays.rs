//! Arrow lists as PostgreSQL arrays (`make_array`, `array_agg`, …): the
//! array type OID of the element type, text as `{1,2,NULL}` with
//! PostgreSQL's quoting, binary through postgres-types' array encoding.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::*;
use pgwire::api::Type;
use pgwire::error::PgWireResult;

use super::encode::{FieldSink, format_float};

/// The list's element type, if `dt` is a list.
fn element(dt: &DataType) -> Option<&DataType> {
    match dt {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

/// The PostgreSQL array type of a list column, or `None` if not a list.
pub fn pg_array_type(dt: &DataType) -> Option<Type> {
    Some(match element(dt)? {
        DataType::Boolean => Type::BOOL_ARRAY,
        DataType::Int16 => Type::INT2_ARRAY,
        DataType::Int32 => Type::INT4_ARRAY,
        DataType::Int64 => Type::INT8_ARRAY,
        DataType::Float64 => Type::FLOAT8_ARRAY,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ_ARRAY,
        DataType::Timestamp(_, None) => Type::TIMESTAMP_ARRAY,
        // Other elements travel as text (see put_binary).
        _ => Type::TEXT_ARRAY,
    })
}

/// The values of row `row` of a list column.
fn values(col: &ArrayRef, row: usize) -> Option<ArrayRef> {
    match col.data_type() {
        DataType::List(_) => Some(col.as_list::<i32>().value(row)),
        DataType::LargeList(_) => Some(col.as_list::<i64>().value(row)),
        DataType::FixedSizeList(..) => Some(col.as_fixed_size_list().value(row)),
        _ => None,
    }
}

/// PostgreSQL's text form of a non-null list value: `{a,"b c",NULL}`.
pub fn text(col: &ArrayRef, row: usize) -> Option<String> {
    let items = values(col, row)?;
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
            DataType::Timestamp(..) => super::encode::postgres_text(&items, i)?,
            DataType::List(_) | DataType::LargeList(_) => {
                out.push_str(&text(&items, i)?); // nested arrays are not quoted
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

/// Binary form of a non-null list value, of the type [`pg_array_type`]
/// reports (elements without their own array type are sent as text[]).
pub fn put_binary(sink: &mut impl FieldSink, col: &ArrayRef, row: usize) -> PgWireResult<()> {
    let Some(items) = values(col, row) else {
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
        DataType::Float64 => sink.put(&elements!(items.as_primitive::<Float64Type>()))?,
        DataType::Utf8 => sink.put(&elements!(items.as_string::<i32>()))?,
        DataType::Timestamp(_, tz) => {
            let instants: Vec<_> = (0..n)
                .map(|i| {
                    items
                        .is_valid(i)
                        .then(|| super::encode::timestamp_at(&items, i))
                        .flatten()
                })
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

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn elements_are_quoted_like_postgres() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("null"), "\"null\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
