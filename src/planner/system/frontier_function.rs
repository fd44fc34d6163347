//! `stemedb.resolved_frontier()`: the change feed's resolved frontier as
//! a `timestamptz` — the latest instant every change stamped at or before
//! which is in `stemedb.changes` (docs/changes.md); NULL while this node
//! does not know it yet (a cluster member has not answered since it
//! started).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

use crate::planner::SessionShared;

pub fn udf(session: &Arc<SessionShared>) -> ScalarUDF {
    let session = session.clone();
    create_udf(
        "resolved_frontier",
        vec![],
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Volatility::Volatile,
        Arc::new(move |_| {
            // Changes stamped below (p, l) are resolved; those at p with a
            // counter of l or more are not: every instant up to p - 1 µs is.
            let instant = session
                .cluster
                .frontier()
                .map(|f| f.physical.saturating_sub(1));
            Ok(ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(
                instant,
                Some("UTC".into()),
            )))
        }),
    )
}
