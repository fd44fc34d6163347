//! The one map between Arrow and PostgreSQL types. Result columns, bind
//! parameters and COPY (the wire layer's `encode.rs`, `params.rs`,
//! `array_params.rs`) and `information_schema.columns`
//! ([`super::catalog::information_schema`]) all describe a type through
//! it, so a column of a type is the same PostgreSQL type whichever way it
//! travels. A list is the array of its element's type where the wire layer
//! encodes that array in binary (`pgwire/arrays.rs`); any other list
//! travels as `text[]`.

use datafusion::arrow::datatypes::*;
use pgwire::api::Type;

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
        other => array_type(other).unwrap_or(Type::TEXT),
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
        Type::TIMESTAMPTZ => super::timestamptz(),
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::DATE => DataType::Date32,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DataType::Utf8,
        _ => return None,
    })
}

/// The list's element type, if `dt` is a list.
pub fn element(dt: &DataType) -> Option<&DataType> {
    match dt {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

/// The PostgreSQL array type of a list, by its element; `None` if `dt` is
/// not a list. `UInt32` elements are `oid[]`: the catalog's oid arrays,
/// and what drivers send for `= ANY($1::oid[])`.
pub fn array_type(dt: &DataType) -> Option<Type> {
    Some(match element(dt)? {
        DataType::Boolean => Type::BOOL_ARRAY,
        DataType::Int16 => Type::INT2_ARRAY,
        DataType::Int32 => Type::INT4_ARRAY,
        DataType::Int64 => Type::INT8_ARRAY,
        DataType::UInt32 => Type::OID_ARRAY,
        DataType::Float32 => Type::FLOAT4_ARRAY,
        DataType::Float64 => Type::FLOAT8_ARRAY,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ_ARRAY,
        DataType::Timestamp(_, None) => Type::TIMESTAMP_ARRAY,
        // Other elements travel as text (see `pgwire/arrays.rs`).
        _ => Type::TEXT_ARRAY,
    })
}

/// The SQL-standard name of a type, as `information_schema.columns`
/// reports it in `data_type` (`udt_name` is [`Type::name`]).
pub fn sql_name(t: &Type) -> &'static str {
    if matches!(t.kind(), postgres_types::Kind::Array(_)) {
        return "ARRAY";
    }
    match *t {
        Type::BOOL => "boolean",
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::OID => "oid",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::NUMERIC => "numeric",
        Type::DATE => "date",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::BYTEA => "bytea",
        _ => "text",
    }
}

/// The PostgreSQL type of an Arrow type written as DataFusion prints it
/// (`information_schema`'s `data_type` column); text if it does not parse.
pub fn of_display(arrow: &str) -> Type {
    arrow
        .parse::<DataType>()
        .map(|dt| pg_type(&dt))
        .unwrap_or(Type::TEXT)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn list(element: DataType) -> DataType {
        DataType::List(Arc::new(Field::new("item", element, true)))
    }

    /// A list's type is the array of its element's type, and a parameter
    /// of that array type decodes back to the element's Arrow type.
    #[test]
    fn a_list_is_the_array_of_its_elements_type() {
        for (element, scalar, array) in [
            (DataType::Boolean, Type::BOOL, Type::BOOL_ARRAY),
            (DataType::Int16, Type::INT2, Type::INT2_ARRAY),
            (DataType::Int32, Type::INT4, Type::INT4_ARRAY),
            (DataType::Int64, Type::INT8, Type::INT8_ARRAY),
            (DataType::Float32, Type::FLOAT4, Type::FLOAT4_ARRAY),
            (DataType::Float64, Type::FLOAT8, Type::FLOAT8_ARRAY),
            (DataType::Utf8, Type::TEXT, Type::TEXT_ARRAY),
        ] {
            assert_eq!(pg_type(&element), scalar, "{element}");
            assert_eq!(pg_type(&list(element.clone())), array, "{element}");
            assert_eq!(arrow_type(&scalar), Some(element.clone()), "{element}");
        }
        assert_eq!(pg_type(&list(DataType::UInt32)), Type::OID_ARRAY);
        assert_eq!(arrow_type(&Type::OID), Some(DataType::UInt32));
        assert_eq!(pg_type(&DataType::Utf8), Type::TEXT);
    }

    /// `information_schema` reads DataFusion's printed type back and maps
    /// it with the same function as results and parameters.
    #[test]
    fn information_schema_names_the_type_results_and_parameters_use() {
        let types = [
            DataType::Boolean,
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
            DataType::Float32,
            DataType::Float64,
            DataType::Utf8,
            DataType::Date32,
            DataType::Decimal128(10, 2),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Timestamp(TimeUnit::Microsecond, None),
            list(DataType::Utf8),
            list(DataType::Float32),
            list(DataType::UInt32),
            list(DataType::Int64),
        ];
        for dt in types {
            assert_eq!(of_display(&dt.to_string()), pg_type(&dt), "{dt}");
        }
        assert_eq!(sql_name(&pg_type(&list(DataType::Utf8))), "ARRAY");
        assert_eq!(
            sql_name(&pg_type(&DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into())
            ))),
            "timestamp with time zone"
        );
    }
}
