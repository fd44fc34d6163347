//! The arguments of a scalar UDF as arrays, one row per input row — what
//! the functions StemeDB defines itself ([`super::pg_functions`],
//! [`super::owners_function`]) read their arguments with.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::ColumnarValue;

/// The arguments as arrays of `types` (one row per input row).
pub(super) fn arrays(args: &[ColumnarValue], types: &[DataType]) -> Result<Vec<ArrayRef>> {
    ColumnarValue::values_to_arrays(args)?
        .iter()
        .zip(types)
        .map(|(a, t)| Ok(cast(a, t)?))
        .collect()
}
