//! `stemedb.cluster_members(id, sql_addr, rpc_addr, swim_addr, status,
//! is_self)` (docs/cluster.md): the member list as this node sees it, read when
//! the statement runs. A node outside a cluster lists itself alone.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::common::Result;
use datafusion::prelude::SessionContext;

use crate::cluster::Membership;
use crate::planner::SessionShared;
use crate::planner::read::live_table::LiveTable;
use crate::planner::read::tables;

/// The schema StemeDB's own views live in.
const SCHEMA_NAME: &str = "stemedb";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("id", false),
        text("sql_addr", true),
        text("rpc_addr", true),
        text("swim_addr", true),
        text("status", false),
        Field::new("is_self", DataType::Boolean, false),
    ]))
});

fn batch(members: &Membership) -> Result<RecordBatch> {
    let rows = members.members();
    let text = |f: &dyn Fn(usize) -> Option<String>| -> ArrayRef {
        Arc::new((0..rows.len()).map(f).collect::<StringArray>())
    };
    let single = members.me().rpc.is_empty();
    let present = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let columns = vec![
        text(&|i| Some(rows[i].identity.id.clone())),
        text(&|i| present(&rows[i].identity.sql)),
        text(&|i| present(&rows[i].identity.rpc)),
        text(&|i| (!single).then(|| rows[i].identity.swim.to_string())),
        text(&|i| Some(rows[i].status.as_str().to_string())),
        Arc::new(
            rows.iter()
                .map(|m| Some(m.is_self))
                .collect::<BooleanArray>(),
        ),
    ];
    Ok(RecordBatch::try_new(SCHEMA.clone(), columns)?)
}

/// Adds the `stemedb` schema and its tables (`cluster_members`,
/// `replication`, `backup_progress`, `source_trust`, `explain`, `changes`) to a
/// session.
pub fn install(ctx: &SessionContext, catalog: &str, session: &Arc<SessionShared>) -> Result<()> {
    let (members, store) = (&session.members, &session.store);
    let Some(catalog) = ctx.catalog(catalog) else {
        return Ok(());
    };
    let schema = MemorySchemaProvider::new();
    let replication = super::replication_view::table(members.clone(), store.clone());
    let members = members.clone();
    let table = LiveTable::new("stemedb.cluster_members", SCHEMA.clone(), move || {
        batch(&members)
    });
    schema.register_table("cluster_members".into(), Arc::new(table))?;
    schema.register_table("replication".into(), Arc::new(replication))?;
    let backups = super::backup_progress_view::table();
    schema.register_table("backup_progress".into(), Arc::new(backups))?;
    let trust = super::source_trust::SourceTrustTable::new(session.clone());
    schema.register_table("source_trust".into(), Arc::new(trust))?;
    let explain = crate::planner::read::tables::EXPLAIN_TABLE;
    schema.register_table("explain".into(), tables::table(explain, session))?;
    schema.register_table("changes".into(), tables::changes(session))?;
    catalog.register_schema(SCHEMA_NAME, Arc::new(schema))?;
    Ok(())
}
