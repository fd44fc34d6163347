//! `stemedb.backup_progress(id, phase, files_done, files_total,
//! bytes_done, started_at)`: one row per backup running on this node
//! ([`crate::backup::progress`]); empty when none is.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;

use crate::backup::progress;
use crate::planner::read::live_table::LiveTable;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("phase", DataType::Utf8, false),
        Field::new("files_done", DataType::Int64, false),
        Field::new("files_total", DataType::Int64, false),
        Field::new("bytes_done", DataType::Int64, false),
        Field::new(
            "started_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
    ]))
});

fn batch() -> Result<RecordBatch> {
    let rows = progress::all();
    let int = |f: fn(&progress::Progress) -> u64| -> ArrayRef {
        Arc::new(
            rows.iter()
                .map(|(_, p)| f(p) as i64)
                .collect::<Int64Array>(),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            rows.iter()
                .map(|(id, _)| Some(id.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, p)| Some(p.phase))
                .collect::<StringArray>(),
        ),
        int(|p| p.files_done),
        int(|p| p.files_total),
        int(|p| p.bytes_done),
        Arc::new(
            rows.iter()
                .map(|(_, p)| Some(p.started_at))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("+00:00"),
        ),
    ];
    Ok(RecordBatch::try_new(SCHEMA.clone(), columns)?)
}

/// The `stemedb.backup_progress` view.
pub fn table() -> LiveTable {
    LiveTable::new("stemedb.backup_progress", SCHEMA.clone(), batch)
}
