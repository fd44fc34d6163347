//! `stemedb.replication(peer, status, lag_seconds, hints_pending, in_sync,
//! last_sync_at, repaired)` (docs/cluster.md): one row per other member, read
//! when the statement runs ([`crate::cluster::state`]). A single node has
//! no peers: the view is empty. `in_sync` and `last_sync_at` are NULL and
//! `repaired` 0 until the first anti-entropy exchange with a peer.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};

use crate::cluster::Membership;
use crate::cluster::state::peers;
use crate::planner::read::live_table::LiveTable;
use crate::storage::Store;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("peer", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("lag_seconds", DataType::Float64, false),
        Field::new("hints_pending", DataType::Int64, false),
        Field::new("in_sync", DataType::Boolean, true),
        Field::new(
            "last_sync_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        ),
        Field::new("repaired", DataType::Int64, false),
    ]))
});

fn batch(members: &Membership, store: &Store) -> Result<RecordBatch> {
    let rows = peers(members, store).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            rows.iter()
                .map(|r| Some(r.peer.clone()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| Some(r.status.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(rows.iter().map(|r| r.lag_seconds).collect::<Float64Array>()),
        Arc::new(
            rows.iter()
                .map(|r| r.hints_pending as i64)
                .collect::<Int64Array>(),
        ),
        Arc::new(rows.iter().map(|r| r.in_sync).collect::<BooleanArray>()),
        Arc::new(
            rows.iter()
                .map(|r| r.last_sync_at)
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("+00:00"),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.repaired as i64)
                .collect::<Int64Array>(),
        ),
    ];
    Ok(RecordBatch::try_new(SCHEMA.clone(), columns)?)
}

/// The `stemedb.replication` view.
pub fn table(members: Arc<Membership>, store: Arc<Store>) -> LiveTable {
    LiveTable::new("stemedb.replication", SCHEMA.clone(), move || {
        batch(&members, &store)
    })
}
