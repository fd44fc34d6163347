//! `stemedb_owners(subject)`: the nodes that hold a subject's claims
//! (placement, docs/cluster.md), best first, comma-separated — for an operator
//! asking where a subject lives, and for benchmarks that read through an
//! owner and a non-owner. A single node owns everything.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

use crate::cluster::Readers;
use crate::cluster::placement::owners;
use crate::planner::SessionShared;
use crate::planner::udf_args::arrays;

pub fn udf(session: &Arc<SessionShared>) -> ScalarUDF {
    let session = session.clone();
    create_udf(
        "stemedb_owners",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args, &[DataType::Utf8])?;
            let Readers {
                members, factor, ..
            } = session.cluster.readers();
            let out: StringArray = a[0]
                .as_string::<i32>()
                .iter()
                .map(|s| s.map(|s| owners(s, &members, factor).join(",")))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}
