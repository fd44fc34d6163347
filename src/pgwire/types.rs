//! The one map between Arrow and PostgreSQL types. Result columns
//! ([`super::encode`]), parameters ([`super::params`],
//! [`super::array_params`]) and COPY all describe a type through it, so a
//! column of a type is the same PostgreSQL type whichever way it travels.
//! A list is the array of its element's type where this layer encodes
//! that array in binary ([`super::arrays`]); any other list travels as
//! `text[]`.

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
        Type::TIMESTAMPTZ => crate::planner::timestamptz(),
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
        // Other elements travel as text (see `arrays::put_binary`).
        _ => Type::TEXT_ARRAY,
    })
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
}
