//! `pg_stat_activity`: one row per logged-in connection, read from the
//! server's [`Activity`] registry when the statement runs (not when it is
//! planned, so a prepared `SELECT … FROM pg_stat_activity` stays current).
//! It lives in the session's `pg_catalog` ([`super::overlay`]).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;

use crate::connections::Activity;
use crate::planner::read::live_table::LiveTable;
use crate::planner::schema::timestamptz;

/// PostgreSQL's columns (client_addr as text, OIDs as int4).
static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name| Field::new(name, DataType::Utf8, true);
    let int = |name| Field::new(name, DataType::Int32, true);
    let time = |name| Field::new(name, timestamptz(), true);
    Arc::new(Schema::new(vec![
        int("datid"),
        text("datname"),
        int("pid"),
        int("leader_pid"),
        int("usesysid"),
        text("usename"),
        text("application_name"),
        text("client_addr"),
        text("client_hostname"),
        int("client_port"),
        time("backend_start"),
        time("xact_start"),
        time("query_start"),
        time("state_change"),
        text("wait_event_type"),
        text("wait_event"),
        text("state"),
        text("backend_xid"),
        text("backend_xmin"),
        text("query"),
        text("backend_type"),
    ]))
});

/// The current rows.
fn batch(activity: &Activity) -> Result<RecordBatch> {
    let backends = activity.backends();
    let states: Vec<_> = backends.iter().map(|b| b.state()).collect();
    let n = backends.len();
    let text = |f: &dyn Fn(usize) -> Option<String>| -> ArrayRef {
        Arc::new((0..n).map(f).collect::<StringArray>())
    };
    let int = |f: &dyn Fn(usize) -> Option<i32>| -> ArrayRef {
        Arc::new((0..n).map(f).collect::<Int32Array>())
    };
    let time = |f: &dyn Fn(usize) -> Option<i64>| -> ArrayRef {
        Arc::new(
            (0..n)
                .map(f)
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        )
    };
    let columns = vec![
        int(&|_| Some(1)),
        text(&|i| Some(backends[i].database.clone())),
        int(&|i| Some(backends[i].pid)),
        int(&|_| None),
        int(&|_| Some(10)),
        text(&|i| Some(backends[i].user.clone())),
        text(&|i| Some(states[i].application_name.clone())),
        text(&|i| Some(backends[i].client.ip().to_string())),
        text(&|_| None),
        int(&|i| Some(i32::from(backends[i].client.port()))),
        time(&|i| Some(backends[i].started)),
        time(&|i| states[i].xact_start),
        time(&|i| states[i].query_start),
        time(&|i| Some(states[i].state_change)),
        text(&|_| None),
        text(&|_| None),
        text(&|i| Some(states[i].state.to_string())),
        text(&|_| None),
        text(&|_| None),
        text(&|i| Some(states[i].query.clone())),
        text(&|_| Some("client backend".to_string())),
    ];
    Ok(RecordBatch::try_new(SCHEMA.clone(), columns)?)
}

/// The table: a snapshot of the registry taken by each scan.
pub fn table(activity: Arc<Activity>) -> LiveTable {
    LiveTable::new("pg_stat_activity", SCHEMA.clone(), move || batch(&activity))
}
